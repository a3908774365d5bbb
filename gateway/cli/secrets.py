"""``python -m gateway secrets set|delete``: secrets in the OS credential store (Windows
Credential Manager, the Secret Service on Linux) through ``keyring``."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

import keyring
from keyring.errors import KeyringError

from gateway.credential_store import SECRET_SETTINGS, SERVICE


def add_secret_commands(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    secrets = commands.add_parser("secrets", help="store secrets in the OS credential store (keyring)")
    actions = secrets.add_subparsers(required=True, metavar="ACTION")
    for action, run in (("set", _set), ("delete", _delete)):
        parser = actions.add_parser(action, help=f"{action} one secret setting")
        parser.add_argument("name", choices=SECRET_SETTINGS)
        if action == "set":
            parser.add_argument("--stdin", action="store_true", help="read the value from standard input")
        parser.set_defaults(run=run, standalone=True)


def _set(args: argparse.Namespace) -> int:
    value = sys.stdin.readline().rstrip("\r\n") if args.stdin else getpass.getpass(f"{args.name}: ")
    if not value:
        print("secrets: empty value, nothing stored")
        return 2
    try:
        keyring.set_password(SERVICE, args.name, value)
    except KeyringError as exc:
        print(f"secrets: the credential store refused: {type(exc).__name__}")
        return 1
    print(f"stored {args.name} in {type(keyring.get_keyring()).__name__} (service {SERVICE!r})")
    return 0


def _delete(args: argparse.Namespace) -> int:
    try:
        keyring.delete_password(SERVICE, args.name)
    except KeyringError as exc:
        print(f"secrets: {type(exc).__name__}: {args.name} was not deleted")
        return 1
    print(f"deleted {args.name}")
    return 0
