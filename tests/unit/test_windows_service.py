"""The Windows service entry point (gateway/windows_service.py), on Linux: the module imports
without pywin32, its command line hands pywin32 the class pythonservice.exe will find, and the
service serves the gateway until the service manager stops it. pywin32's three modules are
stood in for by small fakes that record what the service asks of them; everything else is real
(the configuration, waitress, the demo directory)."""

from __future__ import annotations

import importlib
import json
import logging
import logging.handlers
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from gateway import windows_service
from gateway.ops import logs
from gateway.ops.logs import configure_logging
from gateway.settings import LoggingSettings

SEED = "/provisioning?username=jbloggs&password=7578743843&reprovision=false&deviceId=3kQs875391li29"


class FakeServiceFramework:
    """The part of ``win32serviceutil.ServiceFramework`` the service uses."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.reported: list[tuple[int, int]] = []

    def ReportServiceStatus(self, status: int, waitHint: int = 5000) -> None:
        self.reported.append((status, waitHint))


def fake_pywin32() -> SimpleNamespace:
    calls: list[tuple[str, Any]] = []
    return SimpleNamespace(
        calls=calls,
        win32serviceutil=SimpleNamespace(
            ServiceFramework=FakeServiceFramework,
            HandleCommandLine=lambda cls, **kw: calls.append(("HandleCommandLine", (cls, kw))),
        ),
        win32service=SimpleNamespace(SERVICE_STOP_PENDING=3),
        servicemanager=SimpleNamespace(
            LogInfoMsg=lambda text: calls.append(("LogInfoMsg", text)),
            LogErrorMsg=lambda text: calls.append(("LogErrorMsg", text)),
        ),
    )


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The service points the root logger at its log file; put back what the test run had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def program_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``%ProgramData%`` in a temporary folder; the test's working directory is restored after."""
    monkeypatch.setenv("ProgramData", str(tmp_path / "ProgramData"))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "ProgramData" / "SessionTalkGateway"


def test_module_imports_on_linux_without_pywin32(capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.reload(windows_service)
    assert "win32serviceutil" not in sys.modules and "servicemanager" not in sys.modules
    assert module.main(["windows_service.py", "install"]) == 2
    assert "Windows only" in capsys.readouterr().out
    with pytest.raises(ImportError):
        module.GatewayService  # noqa: B018 - the lazy class needs pywin32


@pytest.fixture
def event_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """pywin32's Event Log modules, as the stdlib's NTEventLogHandler uses them: sources registered."""
    registered: list[tuple[str, str, str]] = []
    util = SimpleNamespace(
        __file__=r"C:\Python\Lib\site-packages\win32\lib\win32evtlogutil.py",
        AddSourceToRegistry=lambda *args: registered.append(args),
    )
    types = SimpleNamespace(EVENTLOG_ERROR_TYPE=1, EVENTLOG_WARNING_TYPE=2, EVENTLOG_INFORMATION_TYPE=4)
    monkeypatch.setitem(sys.modules, "win32evtlogutil", util)
    monkeypatch.setitem(sys.modules, "win32evtlog", types)
    return registered


def test_install_hands_pywin32_the_class_pythonservice_will_load(
    monkeypatch: pytest.MonkeyPatch, event_log: list[tuple[str, str, str]]
) -> None:
    win = fake_pywin32()
    argv = ["windows_service.py", "--startup", "delayed", "install"]
    assert windows_service.main(argv, pywin32=win) == 0
    [(name, (cls, options))] = win.calls
    assert name == "HandleCommandLine"
    after_install = options.pop("customOptionHandler")
    assert options == {"serviceClassString": "gateway.windows_service.GatewayService", "argv": argv}
    assert (cls._svc_name_, cls._svc_display_name_) == ("SessionTalkGateway", "SessionTalk provisioning gateway")
    # pythonservice.exe imports the module part of the class string and takes the attribute.
    monkeypatch.setattr(windows_service, "_pywin32", lambda: win)
    monkeypatch.setattr(windows_service, "_built", {})
    module_name, _, class_name = options["serviceClassString"].rpartition(".")
    hosted = getattr(importlib.import_module(module_name), class_name)
    assert issubclass(hosted, FakeServiceFramework) and hosted._svc_name_ == "SessionTalkGateway"
    # After installing (as an administrator), the log's Event Log source is registered.
    after_install([])
    assert [source for source, _, log in event_log if log == "Application"] == ["SessionTalk Gateway"]


def test_the_service_reads_its_configuration_from_program_data(
    program_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert windows_service.service_serve_args() == ["--config", str(program_data / "gateway.toml")]
    monkeypatch.setenv("GATEWAY_CONFIG", r"D:\gateway\site.toml")
    assert windows_service.service_serve_args() == ["--config", r"D:\gateway\site.toml"]


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_the_service_serves_until_the_service_manager_stops_it(
    program_data: Path, demo_ldif: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_STORE__URL", f"sqlite:///{tmp_path / 'devices.sqlite3'}")
    demo = ["--demo-directory", str(demo_ldif), "--port", "0", "--admin-port", "0"]
    monkeypatch.setattr(windows_service, "service_serve_args", lambda: demo)
    win = fake_pywin32()
    service = windows_service.service_class(win)(["SessionTalkGateway"])
    running = threading.Thread(target=service.SvcDoRun)
    running.start()
    deadline = time.monotonic() + 20
    while len(service.runner.addresses) < 2 and running.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        public, admin = service.runner.addresses
        status, answer = get_json(public + SEED)
        assert (status, answer["update"], answer["sipaccounts"][0]["sipusername"]) == (200, True, "1001")
        assert get_json(admin + "/healthz") == (200, {"status": "alive"})
    finally:
        service.SvcStop()
        running.join(timeout=10)
    assert not running.is_alive(), "SvcDoRun did not return after SvcStop"
    assert service.reported == [(3, 15_000)]  # SERVICE_STOP_PENDING, for server.shutdown_timeout and 5 s
    assert ("LogInfoMsg", f"SessionTalkGateway listening on {public}, {admin}") in win.calls
    assert Path.cwd() == program_data  # a relative store.sqlite_path lands in ProgramData
    log = (program_data / "logs" / "gateway.log").read_text()
    assert "outcome=enrolled" in log and "7578743843" not in log


def test_a_bad_configuration_is_reported_to_the_event_log(program_data: Path) -> None:
    win = fake_pywin32()
    service = windows_service.service_class(win)(["SessionTalkGateway"])
    with pytest.raises(Exception, match="cannot read configuration file"):
        service.SvcDoRun()
    [(name, text)] = win.calls
    assert name == "LogErrorMsg"
    assert text.startswith("SessionTalkGateway did not start: invalid configuration:")
    assert str(program_data / "gateway.toml") in text


def test_a_stop_request_while_starting_ends_the_run(demo_ldif: Path, tmp_path: Path) -> None:
    runner = windows_service.GatewayRunner(["--demo-directory", str(demo_ldif), "--port", "0", "--no-admin"])
    stopped = runner.stop(timeout=0)
    assert not stopped
    runner.start()
    finished = threading.Thread(target=runner.run)
    finished.start()
    finished.join(timeout=5)
    assert not finished.is_alive()


def test_event_log_output_is_a_windows_only_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="the Windows Event Log exists only on Windows"):
        LoggingSettings(windows_event_log=True)
    monkeypatch.setattr(sys, "platform", "win32")
    assert LoggingSettings(windows_event_log=True).windows_event_log is True


def test_event_log_receives_warnings_and_errors_only(
    monkeypatch: pytest.MonkeyPatch, event_log: list[tuple[str, str, str]]
) -> None:
    handler = windows_service.event_log_handler()
    assert isinstance(handler, logging.handlers.NTEventLogHandler)
    assert (handler.appname, handler.level) == ("SessionTalk Gateway", logging.WARNING)
    captured = logging.handlers.BufferingHandler(100)
    captured.setLevel(logging.WARNING)
    monkeypatch.setattr(logs, "event_log_handler", lambda: captured)
    monkeypatch.setattr(sys, "platform", "win32")
    configure_logging(LoggingSettings(windows_event_log=True))
    logging.getLogger("gateway.test").info("a request line")
    logging.getLogger("gateway.test").warning("directory unavailable")
    assert [record.getMessage() for record in captured.buffer] == ["directory unavailable"]
    configure_logging(LoggingSettings())
    assert captured not in logging.getLogger().handlers


def test_a_service_stop_lets_the_call_in_progress_finish(
    program_data: Path, demo_ldif: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_STORE__URL", f"sqlite:///{tmp_path / 'devices.sqlite3'}")
    monkeypatch.setenv("GATEWAY_SECURITY__FAILURE_FLOOR_MS", "1500")  # a wrong password takes 1.5 s
    demo = ["--demo-directory", str(demo_ldif), "--port", "0", "--no-admin"]
    monkeypatch.setattr(windows_service, "service_serve_args", lambda: demo)
    service = windows_service.service_class(fake_pywin32())(["SessionTalkGateway"])
    running = threading.Thread(target=service.SvcDoRun)
    running.start()
    deadline = time.monotonic() + 20
    while not service.runner.addresses and running.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    [public] = service.runner.addresses
    answers: list[tuple[int, dict[str, Any]]] = []
    call = threading.Thread(target=lambda: answers.append(get_json(public + SEED.replace("7578743843", "wrong"))))
    call.start()
    time.sleep(0.5)  # the call is being answered (the failure floor holds it)
    service.SvcStop()
    running.join(timeout=10)
    call.join(timeout=10)
    assert not running.is_alive(), "SvcDoRun did not return after SvcStop"
    assert [(status, answer["update"]) for status, answer in answers] == [(200, False)]
    with pytest.raises(OSError):  # the listener is closed
        urllib.request.urlopen(public + SEED, timeout=5)
