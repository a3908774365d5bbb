"""Logging set-up: plain text or one JSON object per line, for the gateway, waitress and ldap3."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

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


def configure_logging(settings: LoggingSettings, stream: object = None) -> None:
    """Route every logger (ours, waitress's, ldap3's) through one handler on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "gateway_handler", False):
            root.removeHandler(existing)
    handler.gateway_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.level)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
