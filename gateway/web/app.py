"""The public Falcon app: the provisioning route, its middleware and error translation."""

from __future__ import annotations

import falcon

from gateway.provisioning.service import ProvisioningService
from gateway.settings import Settings
from gateway.web.errors import ErrorHandlers
from gateway.web.middleware import NoStore, RequestLog, SourceAllowList
from gateway.web.resources import ProvisioningResource

WsgiApp = falcon.App[falcon.Request, falcon.Response]


def create_public_app(settings: Settings, service: ProvisioningService) -> WsgiApp:
    """``GET /provisioning`` (or ``/provisioning/<token>``) answered by ``service``."""
    middleware: list[object] = [RequestLog(), NoStore()]
    if settings.security.allowed_networks:
        middleware.append(SourceAllowList(settings.security.allowed_networks))
    app: WsgiApp = falcon.App(middleware=middleware)  # type: ignore[arg-type]
    app.req_options.keep_blank_qs_values = True
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.secure_cookies_by_default = True
    ErrorHandlers(settings.messages.bad_request, settings.messages.unavailable).install(app)
    token = settings.security.path_token.get_secret_value()
    resource = ProvisioningResource(service, path_token=token)
    app.add_route("/provisioning/{token}" if token else "/provisioning", resource)
    return app
