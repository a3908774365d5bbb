"""``create_app``: the only place where the gateway's parts are wired together."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from gateway.directory.connection import ConnectionFactory, ConnectionSettings, Endpoint, LdapConnectionFactory
from gateway.directory.ldap import DirectoryConfig, LdapDirectory
from gateway.directory.probes import readiness_checks
from gateway.ops.instrumented import InstrumentedDirectory
from gateway.ops.metrics import Metrics
from gateway.ops.readiness import Probe, Readiness
from gateway.provisioning.attempts import AttemptLimiter
from gateway.provisioning.entitlement import Entitlement
from gateway.provisioning.known_phones import KnownPhones, RedisDigests, redis_persistence_problem, shared_key
from gateway.provisioning.ports import Directory
from gateway.provisioning.safety_valve import SafetyValve
from gateway.provisioning.service import ProvisioningService
from gateway.provisioning.telemetry import Telemetry
from gateway.settings import Settings
from gateway.store.engine import create_store_engine
from gateway.store.revisions import ensure_current
from gateway.store.sql import SqlDeviceStore
from gateway.web.admin import create_admin_app
from gateway.web.app import WsgiApp, create_public_app

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gateway:
    """A wired gateway: the public app, the admin app, and what they share."""

    app: WsgiApp
    admin: WsgiApp
    service: ProvisioningService
    metrics: Metrics


def build_gateway(
    settings: Settings,
    *,
    connections: ConnectionFactory | None = None,
    directory: Directory | None = None,
    store: SqlDeviceStore | None = None,
    now: Callable[[], datetime] | None = None,
) -> Gateway:
    """Wire everything for ``settings``; tests pass their own directory, store or clock."""
    clock = now or (lambda: datetime.now(UTC))
    metrics = Metrics()
    if directory is None:
        connections = connections or connection_factory(settings)
        directory = build_directory(settings, connections)
    store = store or build_store(settings, now=clock, telemetry=metrics)
    service = _service(settings, InstrumentedDirectory(directory, metrics), store, clock, metrics)
    readiness = Readiness(
        _probes(connections, store, name_servers=settings.admin.readiness_names_servers),
        timeout=settings.admin.readiness_timeout,
    )
    return Gateway(create_public_app(settings, service), create_admin_app(metrics, readiness), service, metrics)


def _probes(connections: ConnectionFactory | None, store: SqlDeviceStore, *, name_servers: bool) -> list[Probe]:
    """``/readyz``'s probes: the directory's own checks, then the store's."""
    checks = readiness_checks(connections, name_servers=name_servers)
    return [*(Probe(name, check) for name, check in checks), Probe("device store", store.ping)]


def create_app(
    settings: Settings,
    *,
    directory: Directory | None = None,
    store: SqlDeviceStore | None = None,
    now: Callable[[], datetime] | None = None,
) -> WsgiApp:
    """The public WSGI app for ``settings`` (the provisioning route only)."""
    return build_gateway(settings, directory=directory, store=store, now=now).app


def _service(
    settings: Settings, directory: Directory, store: SqlDeviceStore, clock: Callable[[], datetime], metrics: Metrics
) -> ProvisioningService:
    limiter = attempt_limiter(settings)
    return ProvisioningService(
        directory=directory,
        store=store,
        schema=settings.mapping.attribute_schema,
        entitlement=Entitlement(settings.directory.required_groups, settings.directory.denied_groups),
        messages=settings.messages,
        valve=SafetyValve(settings.safety_valve, metrics),
        max_devices=settings.devices.max_per_user,
        limiter=limiter,
        shield=settings.security.stale_password_shield,
        failure_floor=settings.security.failure_floor_ms / 1000,
        known_phones=known_phones(limiter, store),
        # Half the worker threads at most wait out the failure floor; the others stay free.
        max_delayed_answers=max(1, settings.server.threads // 2),
        now=clock,
        telemetry=metrics,
    )


def known_phones(limiter: AttemptLimiter, store: SqlDeviceStore) -> KnownPhones:
    """The known-phone memory: in the Redis the attempt limits share, else in this process."""
    client = limiter.redis_client
    if client is None:
        return KnownPhones()
    problem = redis_persistence_problem(client)
    if problem:
        log.warning("the Redis holding the known-phone memory may write it to disk: %s", problem)
    return KnownPhones(
        RedisDigests(client, "sessiontalk-gateway:known"),
        key=lambda: _current_key(store),
    )


def _current_key(store: SqlDeviceStore) -> bytes:
    """The known-phone memory's key follows the store's current fingerprint key (a rotation
    empties the memory: phones then simply bind again)."""
    keys = store.fingerprint_keys()
    return shared_key(keys.keys[keys.current_id])


def build_directory(settings: Settings, connections: ConnectionFactory | None = None) -> LdapDirectory:
    """An ``LdapDirectory`` for the configured servers (or over the given connection factory)."""
    config = DirectoryConfig.from_settings(settings.directory, settings.mapping.attribute_schema)
    return LdapDirectory(config, connections or connection_factory(settings))


def build_store(
    settings: Settings,
    *,
    now: Callable[[], datetime] | None = None,
    check_schema: bool = True,
    telemetry: Telemetry | None = None,
) -> SqlDeviceStore:
    """The device store; refuses (``StoreOutOfDate``) a schema that is not this gateway's."""
    engine = store_engine(settings)
    if check_schema:
        ensure_current(engine)
    override = settings.store.fingerprint_key.get_secret_value()
    return SqlDeviceStore(
        engine,
        now=now or (lambda: datetime.now(UTC)),
        fingerprint_key_override=hashlib.sha256(override.encode()).digest() if override else None,
        event_retention_days=settings.store.event_retention_days,
        telemetry=telemetry,
    )


def store_engine(settings: Settings) -> Engine:
    """The store's database engine (``store.url`` or ``store.sqlite_path``), for the store and
    for ``migrate``."""
    return create_store_engine(settings.store.effective_url(), timeout=settings.store.timeout)


def attempt_limiter(settings: Settings) -> AttemptLimiter:
    """The attempt limits: in this process, or shared through ``attempts.storage_url``."""
    return AttemptLimiter(
        per_account=settings.attempts.per_account,
        per_source=settings.attempts.per_source,
        storage_url=settings.attempts.storage_url.get_secret_value(),
    )


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
