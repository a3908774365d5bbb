"""Logging set-up: plain text or one JSON object per line, for the gateway, waitress and ldap3."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from gateway.settings import LoggingSettings

#: ``extra=`` fields the request log line carries, copied into JSON output.
EXTRA_FIELDS = ("request_id", "outcome", "user", "device_id", "duration_ms", "source")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None:
            data["error"] = record.exc_info[0].__name__
        return json.dumps(data, ensure_ascii=False)


#: A log file (the Windows service's) rotates at this size, keeping this many old files.
LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 10


def configure_logging(settings: LoggingSettings, stream: object = None, *, file: Path | None = None) -> None:
    """Route every logger (ours, waitress's, ldap3's) through one handler: stderr, or a rotating
    ``file``; with ``windows_event_log``, warnings and errors also go to the Windows Event Log."""
    handler: logging.Handler
    if file is not None:
        handler = RotatingFileHandler(file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()  # type: ignore[call-overload]
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [handler]
    if settings.windows_event_log:
        from gateway.windows_service import event_log_handler

        handlers.append(event_log_handler())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "gateway_handler", False):
            root.removeHandler(existing)
            existing.close()
    for new in handlers:
        new.gateway_handler = True  # type: ignore[attr-defined]
        root.addHandler(new)
    root.setLevel(settings.level)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # waitress warns "Task queue depth is N" for every request while clients outnumber threads:
    # under load that is the normal state, and /metrics shows the latency it costs.
    logging.getLogger("waitress.queue").setLevel(max(logging.ERROR, root.level))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not when configured), so a
    replaced stderr (a test's capture, a service wrapper) never leaves the handler writing to a
    closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass
