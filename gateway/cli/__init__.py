"""The admin's entry points: ``python -m gateway serve | check | try``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gateway import __version__
from gateway.directory.connection import ConnectionFactory
from gateway.errors import ConfigError
from gateway.ops.logs import configure_logging
from gateway.settings import Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    """Run one command; exits quietly (status 1) when the reader of its output goes away (``| head``)."""
    try:
        try:
            return _main(argv)
        finally:
            if sys.stdout is not None:  # None when started with stdout closed (`>&-`)
                sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe prints a traceback
    except BrokenPipeError:
        # The Python docs' recipe (signal module, "Note on SIGPIPE"): nothing more goes to the closed
        # pipe, also not the interpreter's own flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "standalone", False):  # commands that need no full configuration
        standalone: int = args.run(args)
        return standalone
    try:
        settings, connections = load(args)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.logging)
    command: int = args.run(args, settings, connections)
    return command


def parser() -> argparse.ArgumentParser:
    """Every command and its options (one module per command group in this package)."""
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    from gateway.cli import check, serve, try_user
    from gateway.cli.attribute_schema import add_schema_commands
    from gateway.cli.devices import add_store_commands
    from gateway.cli.secrets import add_secret_commands

    serve.add_command(commands, _common)
    check.add_command(commands, _common)
    try_user.add_command(commands, _common)
    add_schema_commands(commands, _common)
    add_store_commands(commands, _common)
    add_secret_commands(commands, _common)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: $GATEWAY_CONFIG)")
    parser.add_argument("--demo", action="store_true", help="use the built-in demo directory")
    parser.add_argument("--demo-directory", type=Path, metavar="FILE", help="demo mode with your own LDIF file")


def load(args: argparse.Namespace) -> tuple[Settings, ConnectionFactory | None]:
    """The settings (and, in demo mode, the demo directory's connections) the options name."""
    if args.demo or args.demo_directory:
        from gateway.app import store_engine
        from gateway.demo.settings import demo_factory, demo_settings
        from gateway.store.revisions import upgrade

        factory = demo_factory(args.demo_directory)
        settings = demo_settings(factory)
        upgrade(store_engine(settings))  # the demo needs no set-up
        return settings, factory
    return load_settings(args.config), None
