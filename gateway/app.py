"""``create_app``: the only place where the gateway's parts are wired together."""

from __future__ import annotations

from pathlib import Path

import falcon

from gateway.directory import Directory
from gateway.directory.connection import ConnectionFactory, ConnectionSettings, Endpoint, LdapConnectionFactory
from gateway.directory.ldap import DirectoryConfig, LdapDirectory
from gateway.entitlement import Entitlement
from gateway.service import ProvisioningService
from gateway.settings import Settings
from gateway.web.errors import ErrorHandlers
from gateway.web.middleware import NoStore, RequestLog
from gateway.web.resources import ProvisioningResource


def create_app(
    settings: Settings, *, directory: Directory | None = None
) -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI app for ``settings``; tests pass their own ``directory``."""
    schema = settings.mapping.attribute_schema
    service = ProvisioningService(
        directory=directory or build_directory(settings),
        schema=schema,
        entitlement=Entitlement(settings.directory.required_groups, settings.directory.denied_groups),
        messages=settings.messages,
    )
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(middleware=[RequestLog(), NoStore()])
    app.req_options.keep_blank_qs_values = True
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.secure_cookies_by_default = True
    ErrorHandlers(settings.messages.bad_request, settings.messages.unavailable).install(app)
    app.add_route("/provisioning", ProvisioningResource(service))
    return app


def build_directory(settings: Settings, connections: ConnectionFactory | None = None) -> LdapDirectory:
    """An ``LdapDirectory`` for the configured servers (or over the given connection factory)."""
    config = DirectoryConfig.from_settings(settings.directory, settings.mapping.attribute_schema)
    return LdapDirectory(config, connections or connection_factory(settings))


def connection_factory(settings: Settings) -> LdapConnectionFactory:
    d = settings.directory
    return LdapConnectionFactory(
        ConnectionSettings(
            endpoints=tuple(Endpoint.parse(url) for url in d.servers),
            start_tls=d.start_tls,
            ca_file=Path(d.ca_file) if d.ca_file else None,
            connect_timeout=d.connect_timeout,
            receive_timeout=d.receive_timeout,
            retry_after=d.server_retry_after,
            service_dn=d.bind_dn if d.mode == "search" else "",
            service_password=d.bind_password.get_secret_value() if d.mode == "search" else "",
        )
    )
