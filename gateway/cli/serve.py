"""``python -m gateway serve``: both listeners on one waitress loop until SIGINT/SIGTERM, then a graceful stop."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.app import Gateway, build_gateway
from gateway.directory.connection import ConnectionFactory
from gateway.errors import StoreOutOfDate
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.web.serving import Listeners


def add_command(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    serve = commands.add_parser("serve", help="answer SessionTalk provisioning calls (waitress)")
    common(serve)
    serve.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 8080; 0 picks a free one)")
    serve.add_argument("--threads", type=int, help="worker threads (default: server.threads)")
    serve.add_argument("--admin-host", help="operations listener address (default: admin.host, 127.0.0.1)")
    serve.add_argument("--admin-port", type=int, help="operations listener port (default: admin.port, 9180)")
    serve.add_argument("--no-admin", action="store_true", help="do not start the operations listener")
    serve.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> int:
    """Serve until SIGINT/SIGTERM, then stop gracefully (gateway/web/serving.py); 0 unless a second
    signal cut calls short."""
    from gateway.web.serving import stop_on_signals

    try:
        gateway = build_gateway(settings, connections=connections)
    except StoreOutOfDate as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    try:
        listeners = listeners_for(args, settings, gateway)
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


def listeners_for(args: argparse.Namespace, settings: Settings, gateway: Gateway) -> Listeners:
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
            **proxy_options(settings),
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


def proxy_options(settings: Settings) -> dict[str, object]:
    """waitress's trusted-proxy handling: REMOTE_ADDR becomes the client's, from a trusted proxy only."""
    server = settings.server
    if not server.trusted_proxy:
        return {}
    return {
        "trusted_proxy": server.trusted_proxy,
        "trusted_proxy_count": server.trusted_proxy_count,
        "trusted_proxy_headers": " ".join(server.trusted_proxy_headers),
    }
