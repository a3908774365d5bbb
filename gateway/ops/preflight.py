"""``check``: the pre-flight report — configuration, schema, each directory server, the base DN."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.directory.connection import ConnectionFactory, LdapConnectionFactory, describe_error
from gateway.directory.demo import DemoConnectionFactory
from gateway.directory.ldap import DirectoryConfig
from gateway.directory.probes import base_problem
from gateway.directory.subschema import missing_attributes
from gateway.errors import DirectoryUnavailable, StoreUnavailable
from gateway.settings import Settings

_WRONG_NAME = "the server's certificate does not name this host: use the name it was issued to"
# First match wins: a host-name mismatch is also a CERTIFICATE_VERIFY_FAILED.
_HINTS = (
    ("Hostname mismatch", _WRONG_NAME),
    ("IP address mismatch", _WRONG_NAME),
    ("CERTIFICATE_VERIFY_FAILED", "the server's certificate is not trusted: set directory.ca_file to its CA"),
    ("Connection refused", "nothing listens there: check the host and port"),
    ("timed out", "no answer in time: check firewalls and directory.connect_timeout"),
    ("invalidCredentials", "the service account's DN or password is wrong"),
    ("strongerAuthRequired", "the server refuses simple binds without TLS: use ldaps:// or start_tls"),
)


@dataclass(frozen=True)
class CheckLine:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # passes, but an admin should read it

    @property
    def status(self) -> str:
        return "FAIL" if not self.ok else "WARN" if self.warning else "ok"


@dataclass
class Report:
    lines: list[CheckLine] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(line.ok for line in self.lines)

    def add(self, name: str, ok: bool, detail: str, warning: bool = False) -> None:
        self.lines.append(CheckLine(name, ok, detail, warning))

    def render(self) -> str:
        width = max((len(line.name) for line in self.lines), default=0)
        rows = [f"[{line.status:>4}] {line.name:<{width}}  {line.detail}" for line in self.lines]
        rows.append("all checks passed" if self.ok else "some checks FAILED")
        return "\n".join(rows)


def run_checks(settings: Settings, connections: ConnectionFactory) -> Report:
    report = Report()
    report.add("configuration", True, "valid")
    schema = settings.mapping.attribute_schema
    source = settings.mapping.file or f"preset {settings.mapping.preset}"
    report.add(
        "attribute schema",
        True,
        f"{source}: {len(schema.accounts)} account rule(s), reads {', '.join(sorted(schema.attributes()))}",
    )
    if isinstance(connections, LdapConnectionFactory):
        _check_servers(report, connections, settings)
    elif isinstance(connections, DemoConnectionFactory):
        _check_demo(report, connections)
    _check_listener(report, settings)
    _check_store(report, settings)
    if settings.attempts.storage_url.get_secret_value():
        _check_shared_redis(report, settings)
    return report


def _check_listener(report: Report, settings: Settings) -> None:
    """Beyond loopback with no trusted proxy, waitress faces the internet itself (docs/security.md)."""
    host, proxy = settings.server.host, settings.server.trusted_proxy
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback or proxy:
        where = "loopback only" if loopback else f"behind the trusted proxy {proxy}"
        report.add("listener", True, f"{host}:{settings.server.port}, {where}")
    else:
        report.add(
            "listener",
            True,
            f"listening on {host} without a trusted proxy: put nginx/IIS in front, see docs/security.md",
            warning=True,
        )


def _check_shared_redis(report: Report, settings: Settings) -> None:
    """The Redis shared by the instances answers, and keeps nothing on disk (it holds the
    known-phone memory: keyed hashes derived from passwords)."""
    from redis.exceptions import RedisError

    from gateway.provisioning.attempts import AttemptLimiter
    from gateway.provisioning.known_phones import redis_persistence_problem

    client = AttemptLimiter("", storage_url=settings.attempts.storage_url.get_secret_value()).redis_client
    if client is None:
        report.add("attempt-limit store", False, "attempts.storage_url names no Redis -> use redis://HOST:PORT/DB")
        return
    try:
        client.ping()
    except RedisError as exc:
        report.add(
            "attempt-limit store", False, f"Redis does not answer ({type(exc).__name__}) -> check attempts.storage_url"
        )
        return
    problem = redis_persistence_problem(client)
    if problem:
        report.add("attempt-limit store", False, f"Redis writes to disk: {problem}")
    else:
        report.add("attempt-limit store", True, "Redis answers and keeps nothing on disk")


def _check_store(report: Report, settings: Settings) -> None:
    """The store answers, its schema is this gateway's, and sign-outs are not held."""
    from gateway.store.engine import create_store_engine
    from gateway.store.revisions import current_revision, head_revision
    from gateway.store.sql import SqlDeviceStore

    url = settings.store.effective_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        report.add(
            "device store",
            False,
            f"{url.removeprefix('sqlite:///')} does not exist -> run `python -m gateway migrate` to create it",
        )
        return
    engine = create_store_engine(url, timeout=settings.store.timeout)
    try:
        current, head = current_revision(engine), head_revision()
    except StoreUnavailable as exc:
        report.add("device store", False, f"{exc} -> check store.url / store.sqlite_path")
        return
    finally:
        engine.dispose()
    if current != head:
        report.add(
            "device store",
            False,
            f"schema {current or 'empty'}, this gateway needs {head} -> run `python -m gateway migrate`",
        )
        return
    report.add("device store", True, f"{engine.dialect.name}, schema {current}")
    held = SqlDeviceStore(engine).valve_state()
    engine.dispose()
    if held:
        report.add(
            "safety valve",
            False,
            f"SIGN-OUTS HELD: {held} -> find the cause (base DN, filter, ACLs), "
            "then run `python -m gateway devices release-sign-outs`",
        )
    else:
        report.add("safety valve", True, "open: directory-driven sign-outs are allowed")


def _check_servers(report: Report, factory: LdapConnectionFactory, settings: Settings) -> None:
    base_dn = settings.directory.base_dn
    schema_checked = False
    for endpoint in factory.settings.endpoints:
        started = time.perf_counter()
        try:
            with factory.probe(endpoint) as conn:
                secured = endpoint.use_ssl or factory.settings.start_tls
                steps = ["reachable", "TLS verified" if secured else "plain LDAP"]
                if factory.settings.service_dn:
                    steps.append("service account bind ok")
                    problem = base_problem(conn, base_dn)
                    if problem:
                        report.add(endpoint.url, False, problem)
                        continue
                    steps.append("search base found")
                    if not schema_checked:
                        schema_checked = _check_directory_schema(report, conn, settings, endpoint.url)
        except (DirectoryUnavailable, Exception) as exc:
            detail = describe_error(exc)
            hint = next((h for needle, h in _HINTS if needle in detail), "")
            report.add(endpoint.url, False, detail + (f" -> {hint}" if hint else ""))
            continue
        elapsed = (time.perf_counter() - started) * 1000
        report.add(endpoint.url, True, ", ".join(steps) + f" ({elapsed:.0f} ms)")


def _check_directory_schema(report: Report, conn: Any, settings: Settings, url: str) -> bool:
    """Every attribute the gateway asks for is defined by the server's schema (checked once)."""
    config = DirectoryConfig.from_settings(settings.directory, settings.mapping.attribute_schema)
    missing = missing_attributes(conn, config)
    if missing is None:
        report.add("directory schema", False, f"{url}: the subschema is not readable by the service account")
    elif missing:
        report.add(
            "directory schema",
            False,
            f"{url} does not define {', '.join(missing)} -> load the schema "
            "extension (schema/ldap/) or change the attribute schema / directory settings",
        )
    else:
        count = len({*config.requested_attributes(), *config.search.login_attributes})
        report.add("directory schema", True, f"all {count} attributes the gateway reads are defined")
    return True


def _check_demo(report: Report, factory: DemoConnectionFactory) -> None:
    report.add("demo directory", True, f"{factory.path}: {len(factory.entry_dns())} entries, base {factory.base_dn}")
