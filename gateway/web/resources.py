"""Falcon resources: parse, ask the service, render. Nothing else."""

from __future__ import annotations

import falcon

from gateway.service import ProvisioningService
from gateway.web.params import parse_provisioning_request


class ProvisioningResource:
    """``GET /provisioning`` (and ``/provisioning/``): the SessionTalk external-provisioning call."""

    def __init__(self, service: ProvisioningService) -> None:
        self._service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = parse_provisioning_request(req.params, req.remote_addr or "")
        req.context.username = request.username
        req.context.device_id = request.device_id
        result = self._service.provision(request)
        req.context.outcome = result.outcome.value
        resp.media = result.to_json()
