"""Domain and HTTP errors as responses. Nothing here ever echoes the query string."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import falcon

from gateway.errors import StoreRejected
from gateway.web.middleware import loggable_path
from gateway.web.params import BadRequest

log = logging.getLogger(__name__)


def _body(errmsg: str) -> dict[str, object]:
    return {"update": False, "sipaccounts": [], "errmsg": errmsg}


class ErrorHandlers:
    """400 for malformed requests; a generic 500 that logs the stack but no request data."""

    def __init__(self, bad_request_message: str, unavailable_message: str) -> None:
        self._bad_request = bad_request_message
        self._unavailable = unavailable_message

    def install(self, app: falcon.App[falcon.Request, falcon.Response]) -> None:
        app.add_error_handler(BadRequest, self.bad_request)
        app.add_error_handler(Exception, self.unexpected)
        app.add_error_handler(falcon.HTTPError, self.http_error)

    def bad_request(self, req: falcon.Request, resp: falcon.Response, ex: BadRequest, params: Any) -> None:
        req.context.outcome = "bad_request"
        resp.status = falcon.HTTP_400
        resp.media = _body(f"{self._bad_request} ({ex})")

    def http_error(self, req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: Any) -> None:
        req.context.outcome = f"http_{ex.status_code}"
        resp.status = ex.status
        resp.media = _body(ex.title or "")

    def unexpected(self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
        # Falcon's default handler logs the query string, which holds the password. Log the
        # stack without the exception's text (which could quote request data) instead; a
        # StoreRejected's text names only the database error's type.
        stack = "".join(traceback.format_tb(ex.__traceback__))
        what = f"{type(ex).__name__} ({ex})" if isinstance(ex, StoreRejected) else type(ex).__name__
        request_id = req.context.get("request_id", "-")
        # The stack goes in ``extra``: the formatter writes it on indented lines under this one
        # (text) or as a "stack" list (JSON), and escapes the message, which holds the method and path.
        log.error(
            "internal error %s in request %s while answering %s %s",
            what,
            request_id,
            req.method,
            loggable_path(req.path),
            extra={"request_id": request_id, "stack": stack},
        )
        req.context.outcome = "internal_error"
        resp.status = falcon.HTTP_500
        resp.media = _body(self._unavailable)
