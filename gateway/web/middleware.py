"""Response headers every answer carries, and one log line per request."""

from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from typing import Any
from urllib.parse import quote

import falcon

from gateway.ops.logs import MAX_FIELD, RefusedLineBudget

log = logging.getLogger("gateway.requests")


class NoStore:
    """Answers carry SIP secrets: no cache anywhere may keep them."""

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool) -> None:
        resp.set_header("Cache-Control", "no-store")
        resp.set_header("Pragma", "no-cache")


class SourceAllowList:
    """Only callers from these networks reach the gateway; others get 403 (DESIGN §6).

    The address is waitress's ``REMOTE_ADDR``, which already is the client's when the request
    came through a trusted proxy (``server.trusted_proxy``); forwarded headers are never read here.
    """

    def __init__(self, networks: tuple[str, ...]) -> None:
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            address = ipaddress.ip_address(req.remote_addr or "")
        except ValueError:
            raise falcon.HTTPForbidden() from None
        if not any(address in network for network in self._networks):
            raise falcon.HTTPForbidden()


class RequestLog:
    """One line per request: id, outcome, user, deviceId, duration, source. Never the password.

    Every value the caller chose is quoted or percent-encoded and cut to ``MAX_FIELD`` characters
    (the log formatter escapes whatever is left). Calls that prove no password (404, 400, 403, 405,
    a failed sign-in, a rate-limited one) write at most ``REFUSED_LINES_PER_MINUTE`` lines of each
    kind a minute, then a count.
    """

    def __init__(self, budget: RefusedLineBudget | None = None) -> None:
        self._budget = budget or RefusedLineBudget(log)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = uuid.uuid4().hex[:16]
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool) -> None:
        ctx = req.context
        started: float = ctx.get("started") or time.perf_counter()
        duration_ms = (time.perf_counter() - started) * 1000
        outcome = str(ctx.get("outcome") or "-")
        if _refused(outcome) and not self._budget.admit(outcome):
            return
        user, device = _cut(ctx.get("username")), _cut(ctx.get("device_id"))
        log.info(
            "request %s %s outcome=%s user=%r device=%r status=%s duration_ms=%.1f source=%s",
            ctx.get("request_id", "-"),
            loggable_path(req.path),
            outcome,
            user or "",
            device or "",
            resp.status_code if hasattr(resp, "status_code") else resp.status,
            duration_ms,
            req.remote_addr,
            extra={
                "request_id": ctx.get("request_id"),
                "outcome": ctx.get("outcome"),
                "user": user,
                "device_id": device,
                "duration_ms": round(duration_ms, 1),
                "source": req.remote_addr,
            },
        )


#: Outcomes of calls that proved no password, which anyone can send at will: their lines are capped.
#: (The audit trail in the store and ``gateway_requests_total`` count every one of them.)
_UNPROVEN = frozenset({"bad_request", "login_failed", "rate_limited"})


def _refused(outcome: str) -> bool:
    """A call that proved no password: malformed, refused by HTTP (404, 403, 405 …), a failed sign-in
    or one the attempt limit refused."""
    return outcome in _UNPROVEN or outcome.startswith("http_4")


def _cut(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD] + "…"


#: Characters a logged path shows as they are: RFC 3986's unreserved characters and the
#: sub-delimiters a path segment may hold. Anything else (spaces, quotes, controls, non-ASCII) is
#: percent-encoded, so a path is one token of the request line and cannot fake its other fields.
_PATH_SAFE = "/-._~!$&'()*+,;=:@"


def loggable_path(path: str) -> str:
    """The path without a secret token (``/provisioning/<token>`` is logged as ``/provisioning/***``),
    percent-encoded as above and cut to ``MAX_FIELD`` characters."""
    head, _, rest = path.lstrip("/").partition("/")
    shown = "/" + quote(head[: MAX_FIELD + 1], safe=_PATH_SAFE, errors="backslashreplace")
    if len(shown) > MAX_FIELD:
        shown = shown[:MAX_FIELD]
        shown = shown[: shown.rfind("%")] if "%" in shown[-2:] else shown
        shown += "…"
    return f"{shown}/***" if rest else shown
