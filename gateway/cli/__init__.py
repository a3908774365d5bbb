"""The admin's entry points: ``python -m gateway serve | check | try``."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gateway import __version__
from gateway.app import Gateway, build_directory, build_gateway, connection_factory
from gateway.directory.connection import ConnectionFactory
from gateway.errors import ConfigError, StoreOutOfDate
from gateway.ops.logs import configure_logging
from gateway.settings import Settings, load_settings

if TYPE_CHECKING:
    from gateway.web.serving import Listeners


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
    args = _parser().parse_args(argv)
    if getattr(args, "standalone", False):  # commands that need no full configuration
        standalone: int = args.run(args)
        return standalone
    try:
        settings, connections = _load(args)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.logging)
    command: int = args.run(args, settings, connections)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="answer SessionTalk provisioning calls (waitress)")
    _common(serve)
    serve.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 8080; 0 picks a free one)")
    serve.add_argument("--threads", type=int, help="worker threads (default: server.threads)")
    serve.add_argument("--admin-host", help="operations listener address (default: admin.host, 127.0.0.1)")
    serve.add_argument("--admin-port", type=int, help="operations listener port (default: admin.port, 9180)")
    serve.add_argument("--no-admin", action="store_true", help="do not start the operations listener")
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check", help="validate the configuration and reach the directory")
    _common(check)
    check.set_defaults(run=_check)

    try_ = commands.add_parser("try", help="preview what a user would get (SIP secrets masked)")
    _common(try_)
    try_.add_argument("username")
    try_.add_argument("--password-stdin", action="store_true", help="read the password from stdin and test the bind")
    try_.add_argument("--json", action="store_true", help="print JSON instead of text")
    try_.set_defaults(run=_try)

    from gateway.cli.attribute_schema import add_schema_commands
    from gateway.cli.devices import add_store_commands
    from gateway.cli.secrets import add_secret_commands

    add_schema_commands(commands, _common)
    add_store_commands(commands, _common)
    add_secret_commands(commands, _common)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: $GATEWAY_CONFIG)")
    parser.add_argument("--demo", action="store_true", help="use the built-in demo directory")
    parser.add_argument("--demo-directory", type=Path, metavar="FILE", help="demo mode with your own LDIF file")


def _load(args: argparse.Namespace) -> tuple[Settings, ConnectionFactory | None]:
    if args.demo or args.demo_directory:
        from gateway.demo.settings import demo_factory, demo_settings
        from gateway.store.engine import create_store_engine
        from gateway.store.revisions import upgrade

        factory = demo_factory(args.demo_directory)
        settings = demo_settings(factory)
        upgrade(create_store_engine(settings.store.effective_url()))  # the demo needs no set-up
        return settings, factory
    return load_settings(args.config), None


def _serve(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> int:
    """Serve until SIGINT/SIGTERM, then stop gracefully (gateway/web/serving.py); 0 unless a second
    signal cut calls short."""
    from gateway.web.serving import stop_on_signals

    try:
        gateway = build_gateway(settings, connections=connections)
    except StoreOutOfDate as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    try:
        listeners = _listeners(args, settings, gateway)
    except OSError as exc:
        print(f"gateway: cannot listen: {exc.strerror} ({exc.errno})", file=sys.stderr)
        return 2
    with stop_on_signals(listeners):  # before the listening lines: Ctrl+C from then on drains
        admin, server = listeners.named("admin"), listeners.named("public")
        assert server is not None
        if admin is not None:
            print(
                f"admin listening on http://{admin.effective_host}:{admin.effective_port}/ (healthz, readyz, metrics)",
                flush=True,
            )
        where = "demo directory " + str(args.demo_directory or "(built in)") if connections else "directory"
        print(
            f"gateway listening on http://{server.effective_host}:{server.effective_port}/provisioning ({where})",
            flush=True,
        )
        listeners.serve()
    gateway.service.store.close()  # write the failure counts still pending
    return 1 if listeners.forced else 0


def _listeners(args: argparse.Namespace, settings: Settings, gateway: Gateway) -> Listeners:
    """The public listener, and the operations listener unless disabled, on one loop."""
    from gateway.web.serving import Listeners

    server = settings.server
    listeners = Listeners(server.shutdown_timeout, server.connection_limit, server.channel_timeout)
    try:
        listeners.add(
            "public",
            gateway.app,
            host=args.host or settings.server.host,
            port=settings.server.port if args.port is None else args.port,
            threads=args.threads or settings.server.threads,
            ident="",
            clear_untrusted_proxy_headers=True,
            **_proxy_options(settings),
        )
        if settings.admin.enabled and not args.no_admin:
            listeners.add(
                "admin",
                gateway.admin,
                host=args.admin_host or settings.admin.host,
                port=settings.admin.port if args.admin_port is None else args.admin_port,
                threads=2,
                ident="",
            )
    except OSError:
        listeners.close()
        raise
    return listeners


def _proxy_options(settings: Settings) -> dict[str, object]:
    """waitress's trusted-proxy handling: REMOTE_ADDR becomes the client's, from a trusted proxy only."""
    server = settings.server
    if not server.trusted_proxy:
        return {}
    return {
        "trusted_proxy": server.trusted_proxy,
        "trusted_proxy_count": server.trusted_proxy_count,
        "trusted_proxy_headers": " ".join(server.trusted_proxy_headers),
    }


def _check(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> int:
    from gateway.ops.preflight import run_checks

    report = run_checks(settings, connections or connection_factory(settings))
    print(report.render())
    return 0 if report.ok else 1


def _try(
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
