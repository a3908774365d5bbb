"""Falcon resources: parse, ask the service, render. Nothing else."""

from __future__ import annotations

import hmac

import falcon

from gateway.provisioning.service import ProvisioningService
from gateway.web.params import parse_provisioning_request, parse_query


class ProvisioningResource:
    """``GET /provisioning`` (and ``/provisioning/``): the SessionTalk external-provisioning call.

    With a secret path token configured, the route is ``/provisioning/{token}`` and any other
    token is answered 404, exactly like a path that does not exist.
    """

    def __init__(self, service: ProvisioningService, path_token: str = "") -> None:
        self._service = service
        self._token = path_token.encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str = "") -> None:
        if self._token and not hmac.compare_digest(token.encode(), self._token):
            raise falcon.HTTPNotFound()
        # The raw query string, decoded here (not by Falcon) so UTF-8 errors are refused.
        request = parse_provisioning_request(parse_query(req.query_string), req.remote_addr or "")
        req.context.username = request.username
        req.context.device_id = request.device_id
        result = self._service.provision(request)
        req.context.outcome = result.outcome.value
        resp.media = result.to_json()
