"""Logging set-up: plain text or one JSON object per line, for the gateway, waitress and ldap3.

Every record is one line. Callers choose paths, usernames and deviceIds, and libraries quote them
(waitress logs the path it failed on), so both formats escape, in the message and in every field,
each character that could start a line in some viewer, rewrite a terminal or hide text: C0 and C1
controls (LF, CR, NUL, ESC, NEL U+0085 …), DEL, the line and paragraph separators U+2028/U+2029,
bidirectional overrides and zero-width characters. ``\n`` becomes the four characters ``\x0a``.
Messages are cut at ``MAX_MESSAGE`` characters and fields at ``MAX_FIELD``. A stack trace is the
only text on further lines, and each of those lines is indented, so a line that starts at column 0
is always the start of a record.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from gateway.settings import LoggingSettings

#: ``extra=`` fields the request log line carries, copied into JSON output.
EXTRA_FIELDS = ("request_id", "outcome", "user", "device_id", "duration_ms", "source")

#: A message longer than this many characters is cut (before escaping) and says so.
MAX_MESSAGE = 2000
#: A field (JSON) or a value the request line quotes is cut at this many characters.
MAX_FIELD = 200

_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    r"\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]"
)
_ESCAPE = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(value: str, limit: int = MAX_MESSAGE) -> str:
    """``value`` safe for a log line: unsafe characters as ``\\xNN`` / ``\\uNNNN``, and at most
    ``limit`` characters of it (escapes included, never cut in half), then ``…[cut: N chars]``."""
    escaped = _UNSAFE.sub(_escape_char, value[: limit + 1])
    if len(escaped) <= limit and len(value) <= limit:
        return escaped
    cut = limit
    for found in _ESCAPE.finditer(escaped, max(0, limit - 10), limit + 10):
        if found.start() < limit < found.end():
            cut = found.start()
    return f"{escaped[:cut]}…[cut: {len(value)} chars]"


def _field(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    return escape(value if isinstance(value, str) else str(value), MAX_FIELD)


def _continuation(record: logging.LogRecord, formatter: logging.Formatter) -> list[str]:
    """The record's stack traces (an exception's, ``stack_info``, or an ``extra={"stack": …}``),
    as lines to indent under the record's own."""
    parts = []
    stack = getattr(record, "stack", None)
    if isinstance(stack, str) and stack:
        parts.append(stack)
    if record.exc_info and record.exc_info[0] is not None:
        parts.append(formatter.formatException(record.exc_info))
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return [line for part in parts for line in part.split("\n") if line.strip()]


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``, escaped; stack traces on the following lines, indented."""

    def __init__(self, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        head = escape(self.formatMessage(record), 3 * MAX_MESSAGE)
        return "".join([head, *("\n    " + escape(line) for line in _continuation(record, self))])


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the message and every field escaped like the text format's."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": _field(record.name),
            "message": escape(record.getMessage()),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                data[name] = _field(getattr(record, name))
        if record.exc_info and record.exc_info[0] is not None:
            data["error"] = _field(record.exc_info[0].__name__)
        stack = _continuation(record, self)
        if stack:
            data["stack"] = [escape(line) for line in stack]
        # Everything is escaped already; this only guarantees it for a field added later without.
        return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(data, ensure_ascii=False))


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
        handler.setFormatter(TextFormatter())
    handlers: list[logging.Handler] = [handler]
    if settings.windows_event_log:
        event_log = event_log_handler()
        event_log.setFormatter(TextFormatter("%(levelname)s %(name)s: %(message)s"))
        handlers.append(event_log)
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


#: Request lines of each kind of refused call (404, 400, login_failed …) written per minute; the rest are counted.
REFUSED_LINES_PER_MINUTE = 60


class RefusedLineBudget:
    """Caps the request lines that refused calls (a 404, a 400, a failed or rate-limited sign-in …)
    make the gateway write: the first ``per_minute`` of each kind in a minute are written; after that
    one line says the rest of the minute's are counted, not logged, and at the minute's end one
    line gives the count. A flood of long 404 paths therefore writes about 60 short lines a minute
    instead of a line per call. ``gateway_requests_total`` still counts every call."""

    def __init__(
        self,
        log: logging.Logger,
        per_minute: int = REFUSED_LINES_PER_MINUTE,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        timers: bool = True,
    ) -> None:
        self._log = log
        self._per_minute = per_minute
        self._window = window
        self._clock = clock
        self._timers = timers
        self._lock = threading.Lock()
        self._started = clock()
        self._written: dict[str, int] = {}
        self._held: dict[str, int] = {}

    def admit(self, kind: str) -> bool:
        """Whether this call's request line is written; counts it if not."""
        first_held = False
        with self._lock:
            ended = self._roll()
            written = self._written.get(kind, 0)
            admitted = written < self._per_minute
            if admitted:
                self._written[kind] = written + 1
            else:
                first_held = kind not in self._held
                if not self._held and self._timers:  # the minute's first held line: report it when it ends
                    timer = threading.Timer(self._started + self._window - self._clock() + 0.05, self.flush)
                    timer.daemon = True
                    timer.start()
                self._held[kind] = self._held.get(kind, 0) + 1
        self._report(ended)
        if first_held:
            self._log.info(
                "more than %d %s request lines this minute: the rest are counted, not logged", self._per_minute, kind
            )
        return admitted

    def flush(self) -> None:
        """Write the count of the lines not logged, if the minute they belong to has ended."""
        with self._lock:
            ended = self._roll()
        self._report(ended)

    def _roll(self) -> dict[str, int]:
        """Start a new minute if the current one has ended; the ended minute's held counts."""
        now = self._clock()
        if now - self._started < self._window:
            return {}
        ended, self._held, self._written = self._held, {}, {}
        self._started = now
        return ended

    def _report(self, ended: dict[str, int]) -> None:
        for kind, count in sorted(ended.items()):
            self._log.info(
                "%d %s request lines not logged in the last minute (the first %d were)", count, kind, self._per_minute
            )


#: The Windows Application log's source the service writes as (registered by its ``install``).
EVENT_SOURCE = "SessionTalk Gateway"


def event_log_handler() -> logging.Handler:
    """Warnings and errors to the Application log, source ``SessionTalk Gateway``.

    Registering the source needs an administrator: ``install`` does it (the service account
    then only writes, which needs no right)."""
    handler = logging.handlers.NTEventLogHandler(EVENT_SOURCE)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    return handler
