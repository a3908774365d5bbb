"""``python -m gateway try USER``: what a user would get, SIP secrets masked (gateway/provisioning/preview.py)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from gateway.app import build_directory
from gateway.directory.connection import ConnectionFactory
from gateway.settings import Settings


def add_command(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    try_ = commands.add_parser("try", help="preview what a user would get (SIP secrets masked)")
    common(try_)
    try_.add_argument("username")
    try_.add_argument("--password-stdin", action="store_true", help="read the password from stdin and test the bind")
    try_.add_argument("--json", action="store_true", help="print JSON instead of text")
    try_.set_defaults(run=run)


def run(
    args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None, stdin: TextIO | None = None
) -> int:
    from gateway.provisioning.preview import preview

    password = None
    if args.password_stdin:
        stream = stdin or sys.stdin
        password = (stream.readline() if not stream.isatty() else getpass.getpass("password: ")).rstrip("\r\n")
    directory = build_directory(settings, connections)
    try:
        result = preview(settings, directory, args.username, password)
    finally:
        if connections is None:  # ours: close its connections (the demo's factory is the caller's)
            directory.connections.close()  # type: ignore[attr-defined]
    print(json.dumps(result.to_json(), indent=2) if args.json else result.render())
    return 0 if result.ok else 1
