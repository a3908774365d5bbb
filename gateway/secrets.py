"""Secrets from the operating system's credential store, through ``keyring`` (DESIGN §6).

On Windows that is the Credential Manager (of the account the service runs as); on a Linux
desktop the Secret Service; elsewhere whatever keyring backend is configured. A secret set in the
environment or the TOML file wins; the credential store is asked only for what neither sets.

    python -m gateway secrets set directory.bind_password      (prompts; or --stdin)
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable
from typing import Any

import keyring
from keyring.errors import KeyringError, NoKeyringError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

log = logging.getLogger(__name__)

SERVICE = "sessiontalk-gateway"
#: The settings that may come from the credential store, by their dotted names.
SECRET_SETTINGS = ("directory.bind_password", "store.fingerprint_key", "store.url", "attempts.storage_url")


def lookup(name: str) -> str | None:
    """A secret from the credential store, or None (not there, or no usable store)."""
    try:
        return keyring.get_password(SERVICE, name)
    except NoKeyringError:
        return None
    except KeyringError as exc:
        log.warning("credential store unavailable for %s: %s", name, type(exc).__name__)
        return None


class KeyringSource(PydanticBaseSettingsSource):
    """Lowest-priority settings source: the secrets the credential store holds."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in SECRET_SETTINGS:
            value = lookup(name)
            if value is not None:
                section, _, key = name.partition(".")
                found.setdefault(section, {})[key] = value
        return found


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
