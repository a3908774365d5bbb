"""The gateway as a Windows service (pywin32), Windows only:

    python -m gateway.windows_service --startup delayed install     (elevated prompt)
    python -m gateway.windows_service start | stop | restart | debug | remove

The service runs ``serve --config %ProgramData%\\SessionTalkGateway\\gateway.toml`` (or the file
named by a system-wide ``GATEWAY_CONFIG``) in its own process, with that folder as working
directory and its log in ``logs\\gateway.log`` there (rotated). A stop request closes both
listeners at once and lets the calls in progress finish, for at most ``server.shutdown_timeout``
seconds (gateway/web/serving.py, as ``serve`` does on SIGTERM or Ctrl+C).

Import-safe everywhere: pywin32 is imported only when the service class is first asked for, so
this module loads (and ``GatewayRunner``, which does the work, is tested) on Linux. See
docs/deployment-windows.md.
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from gateway.ops.logs import event_log_handler

if TYPE_CHECKING:
    from gateway.web.serving import Listeners

SERVICE_NAME = "SessionTalkGateway"
DISPLAY_NAME = "SessionTalk provisioning gateway"
DESCRIPTION = "Answers SessionTalk provisioning calls with SIP accounts built from the corporate directory."
#: The Event Log source of the gateway's own log lines (``logging.windows_event_log``); the
#: service's start/stop messages use the service name, which pywin32 registers for itself.
#: Where pythonservice.exe finds the class (the registry's PythonClass value), also when this
#: module runs as ``__main__``.
CLASS_STRING = "gateway.windows_service.GatewayService"

log = logging.getLogger(__name__)


def data_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """``%ProgramData%\\SessionTalkGateway``: configuration, device store and logs."""
    return Path(environ.get("ProgramData") or environ.get("PROGRAMDATA") or r"C:\ProgramData") / SERVICE_NAME


def service_serve_args(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The ``serve`` arguments the service runs with: the configuration file, nothing else."""
    config = environ.get("GATEWAY_CONFIG") or str(data_folder(environ) / "gateway.toml")
    return ["--config", config]


class GatewayRunner:
    """``serve`` inside a process that is not a console: start, run until ``stop()``, close.

    Plain Python (no pywin32): what the service does between the SCM's start and stop requests.
    """

    def __init__(self, serve_args: list[str], log_file: Path | None = None) -> None:
        from gateway.cli import parser
        from gateway.settings import ServerSettings

        self._args = parser().parse_args(["serve", *serve_args])
        self._log_file = log_file
        self._listeners: Listeners | None = None
        self._lock = threading.Lock()
        self._stop_requested = False
        self._stopped = threading.Event()
        #: ``server.shutdown_timeout`` once ``start`` has read the configuration.
        self.shutdown_timeout: float = ServerSettings().shutdown_timeout

    @property
    def addresses(self) -> list[str]:
        """``http://HOST:PORT`` of the public listener, then of the admin listener (if any)."""
        listeners = self._listeners
        if listeners is None:
            return []
        servers = [listeners.named("public"), listeners.named("admin")]
        return [f"http://{s.effective_host}:{s.effective_port}" for s in servers if s is not None]

    def start(self) -> None:
        """Read the configuration and open the listeners; raises ``ConfigError``, ``StoreOutOfDate``
        or ``OSError`` (the port is taken) with a message fit for the Event Log."""
        from gateway.app import build_gateway
        from gateway.cli import load
        from gateway.cli.serve import listeners_for
        from gateway.ops.logs import configure_logging

        settings, connections = load(self._args)
        configure_logging(settings.logging, file=self._log_file)
        gateway = build_gateway(settings, connections=connections)
        listeners = listeners_for(self._args, settings, gateway)
        with self._lock:
            self._listeners = listeners
            self.shutdown_timeout = settings.server.shutdown_timeout
            stop_requested = self._stop_requested  # a stop request that came while starting
        if stop_requested:
            listeners.stop()
        log.info("gateway listening on %s/provisioning (service %s)", self.addresses[0], SERVICE_NAME)

    def run(self) -> None:
        """Serve until ``stop()``, then let calls in progress finish; every listener is closed when
        this returns."""
        try:
            if self._listeners is not None:
                self._listeners.serve()
        finally:
            self._stopped.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Close the listeners and let calls in progress finish (safe from any thread, also before
        ``start``); True once ``run`` returned, waiting up to ``timeout`` seconds for it (default:
        ``server.shutdown_timeout`` and 5 s more)."""
        with self._lock:
            self._stop_requested = True
            listeners = self._listeners
        if listeners is not None:
            listeners.stop()
        return self._stopped.wait(self.shutdown_timeout + 5 if timeout is None else timeout)


def _pywin32() -> SimpleNamespace:
    """pywin32's service modules (Windows only; a plain namespace so tests can stand in for them)."""
    return SimpleNamespace(
        **{n: importlib.import_module(n) for n in ("win32serviceutil", "win32service", "servicemanager")}
    )


def service_class(win: Any) -> type:
    """The ``ServiceFramework`` subclass pythonservice.exe hosts, over pywin32's modules ``win``."""
    framework: Any = win.win32serviceutil.ServiceFramework

    class GatewayService(framework):  # type: ignore[misc]
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            self.folder = data_folder()
            self.runner = GatewayRunner(service_serve_args(), log_file=self.folder / "logs" / "gateway.log")

        def SvcDoRun(self) -> None:
            (self.folder / "logs").mkdir(parents=True, exist_ok=True)
            os.chdir(self.folder)  # a relative store.sqlite_path lives here, not in System32
            try:
                self.runner.start()
            except Exception as exc:
                win.servicemanager.LogErrorMsg(f"{SERVICE_NAME} did not start: {exc}")
                raise
            win.servicemanager.LogInfoMsg(f"{SERVICE_NAME} listening on {', '.join(self.runner.addresses)}")
            self.runner.run()

        def SvcStop(self) -> None:
            # The service manager waits this long (ms) before it considers the stop hung.
            wait_hint = int((self.runner.shutdown_timeout + 5) * 1000)
            self.ReportServiceStatus(win.win32service.SERVICE_STOP_PENDING, waitHint=wait_hint)
            self.runner.stop()

    GatewayService.__module__ = "gateway.windows_service"
    return GatewayService


_built: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    # pythonservice.exe looks the class up by name (CLASS_STRING): built then, not at import,
    # because pywin32 exists only on Windows.
    if name == "GatewayService":
        if name not in _built:
            _built[name] = service_class(_pywin32())
        return _built[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None, pywin32: Any = None) -> int:
    """``install | update | remove | start | stop | restart | debug``: pywin32's own command line."""
    if pywin32 is None and sys.platform != "win32":
        print("gateway.windows_service: Windows only; on Linux use systemd (docs/deployment-linux.md)")
        return 2
    win = pywin32 or _pywin32()
    win.win32serviceutil.HandleCommandLine(
        service_class(win),
        serviceClassString=CLASS_STRING,
        argv=sys.argv if argv is None else argv,
        customOptionHandler=lambda *_: event_log_handler().close(),  # after install / update
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
