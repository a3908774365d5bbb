"""Response headers every answer carries, and one log line per request."""

from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from typing import Any

import falcon

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
    """One line per request: id, outcome, user, deviceId, duration, source. Never the password."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = uuid.uuid4().hex[:16]
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool) -> None:
        ctx = req.context
        started: float = ctx.get("started") or time.perf_counter()
        duration_ms = (time.perf_counter() - started) * 1000
        log.info(
            "request %s %s outcome=%s user=%r device=%r status=%s duration_ms=%.1f source=%s",
            ctx.get("request_id", "-"),
            loggable_path(req.path),
            ctx.get("outcome", "-"),
            ctx.get("username", ""),
            ctx.get("device_id", ""),
            resp.status_code if hasattr(resp, "status_code") else resp.status,
            duration_ms,
            req.remote_addr,
            extra={
                "request_id": ctx.get("request_id"),
                "outcome": ctx.get("outcome"),
                "user": ctx.get("username"),
                "device_id": ctx.get("device_id"),
                "duration_ms": round(duration_ms, 1),
                "source": req.remote_addr,
            },
        )


def loggable_path(path: str) -> str:
    """The path without a secret token: ``/provisioning/<token>`` is logged as ``/provisioning/***``."""
    head, _, rest = path.lstrip("/").partition("/")
    return f"/{head}/***" if rest else f"/{head}"
