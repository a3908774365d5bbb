"""One typed ``Settings``: a TOML file plus ``GATEWAY_``-prefixed environment variables.

Environment variables win over the file and nest with ``__``
(``GATEWAY_DIRECTORY__BIND_PASSWORD``). Unknown keys are errors, in every table. A bad
configuration raises ``ConfigError`` listing every problem, never a secret's value.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.errors import ConfigError
from gateway.mapping.presets import describe_errors, load_schema
from gateway.mapping.spec import AttributeSchema, Flavour, GroupMembership

ENV_PREFIX = "GATEWAY_"
CONFIG_ENV = "GATEWAY_CONFIG"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "forwarded")


class ServerSettings(Section):
    """The internet-facing listener (waitress), and the reverse proxy in front of it."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    threads: int = Field(default=8, ge=1, le=256)
    shutdown_timeout: float = Field(default=10, ge=0, le=300)  # seconds calls in progress get on a stop
    # waitress's limits when clients may reach it directly (docs/security.md, "Exposed without a proxy")
    connection_limit: int = Field(default=1000, ge=10, le=100000)  # open connections, both listeners
    channel_timeout: int = Field(default=30, ge=1, le=3600)  # seconds idle, or to send one call in full
    trusted_proxy: str = ""
    trusted_proxy_count: int = Field(default=1, ge=1, le=10)
    trusted_proxy_headers: tuple[str, ...] = ("x-forwarded-for", "x-forwarded-proto")

    @model_validator(mode="after")
    def _proxy(self) -> ServerSettings:
        problems = []
        if self.trusted_proxy and self.trusted_proxy != "*":
            try:
                ipaddress.ip_address(self.trusted_proxy)
            except ValueError:
                problems.append(f"trusted_proxy: {self.trusted_proxy!r} is not an IP address (the proxy's own)")
        unknown = sorted(set(h.lower() for h in self.trusted_proxy_headers) - set(PROXY_HEADERS))
        if unknown:
            problems.append(f"trusted_proxy_headers: unknown {', '.join(unknown)} (known: {', '.join(PROXY_HEADERS)})")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class DirectorySettings(Section):
    """Where the users are and how to check their password (DESIGN §4)."""

    servers: tuple[str, ...] = ()
    mode: Literal["search", "direct"] = "search"
    base_dn: str = ""
    bind_dn: str = ""
    bind_password: SecretStr = SecretStr("")
    direct_bind_template: str = ""
    netbios_domain: str = ""
    start_tls: bool = False
    ca_file: Path | None = None
    allow_plain_ldap: bool = False
    connect_timeout: int = Field(default=5, ge=1, le=120)
    receive_timeout: int = Field(default=10, ge=1, le=300)
    server_retry_after: int = Field(default=30, ge=0, le=3600)
    required_groups: tuple[str, ...] = ()
    denied_groups: tuple[str, ...] = ()
    # Overrides of the preset's [directory] profile (None: keep the preset's value).
    flavour: Flavour | None = None
    user_filter: str | None = None
    login_attributes: tuple[str, ...] | None = None
    user_key: str | None = None
    group_membership: GroupMembership | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DirectorySettings:
        problems = list(self._server_problems())
        if self.mode == "search":
            if not self.bind_dn.strip():
                problems.append("bind_dn: required in search mode (the service account)")
            if not self.bind_password.get_secret_value():
                problems.append("bind_password: required in search mode")
            if not self.base_dn.strip():
                problems.append("base_dn: required in search mode")
        elif "{username}" not in self.direct_bind_template:
            problems.append("direct_bind_template: required in direct mode and must contain {username}")
        if self.ca_file is not None and not self.ca_file.is_file():
            problems.append(f"ca_file: {self.ca_file} is not a readable file")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _server_problems(self) -> list[str]:
        if not self.servers:
            return ["servers: list at least one server, e.g. ldaps://dc1.example.com"]
        problems = []
        for url in self.servers:
            parts = urlsplit(url)
            if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
                problems.append(f"servers: {url!r} is not an ldap:// or ldaps:// URL with a host")
            elif parts.scheme == "ldap" and not (self.start_tls or self.allow_plain_ldap):
                problems.append(
                    f"servers: {url!r} sends passwords in clear; use ldaps://, set start_tls = true, "
                    "or set allow_plain_ldap = true if you accept that"
                )
        return problems


class MappingSettings(Section):
    """Which attribute schema builds the accounts (DESIGN §5): a preset, or a file of your own."""

    preset: str | None = "active-directory"
    file: Path | None = None
    _schema: AttributeSchema = PrivateAttr()

    @model_validator(mode="after")
    def _load(self) -> MappingSettings:
        preset = None if self.file is not None else self.preset
        try:
            self._schema = load_schema(preset=preset, file=self.file)
        except ConfigError as exc:
            raise ValueError("\n".join(exc.problems)) from None
        return self

    @property
    def attribute_schema(self) -> AttributeSchema:
        """The validated attribute schema (loaded once, when the settings were read)."""
        return self._schema


class MessagesSettings(Section):
    """The ``errmsg`` texts the app shows its user. Change them to name your helpdesk."""

    login_failed: str = "Sign-in failed. Check your username and password."
    unavailable: str = "The phone service is temporarily unavailable. Please try again later."
    password_must_change: str = (
        "Your password must be changed before you can sign in. Change it on your computer, then sign in again."
    )
    password_expired: str = "Your password has expired. Change it on your computer, then sign in again."
    no_accounts: str = "No phone line is set up for your account. Please contact your IT helpdesk."
    signed_out: str = "This phone has been signed out: your account no longer has phone service."
    revoked: str = "This phone has been removed by your administrator."
    sign_in_again: str = "Your password has changed. Please sign in again with your new password."
    device_limit: str = (
        "You have reached the maximum number of phones. Ask your IT helpdesk to remove one you no longer use."
    )
    bad_request: str = "The request was not understood."


class StoreSettings(Section):
    """Where device state and the audit trail are kept (DESIGN §7)."""

    url: SecretStr = SecretStr("")
    sqlite_path: Path = Path("gateway-devices.sqlite3")
    timeout: int = Field(default=5, ge=1, le=120)
    event_retention_days: int = Field(default=90, ge=1, le=3650)
    fingerprint_key: SecretStr = SecretStr("")

    def effective_url(self) -> str:
        """The SQLAlchemy URL: ``url`` when set (it may hold a password), else the SQLite file."""
        return self.url.get_secret_value() or f"sqlite:///{self.sqlite_path}"


class DevicesSettings(Section):
    max_per_user: int = Field(default=5, ge=1, le=100000)


class SafetyValveSettings(Section):
    """Stop signing phones out when more than ``max_sign_outs`` happen within ``window_seconds``."""

    window_seconds: int = Field(default=600, ge=1)
    max_sign_outs: int = Field(default=20, ge=1)


class AttemptsSettings(Section):
    """Attempt limits (DESIGN §6): failed logins allowed per account and per source address.

    Rates use the ``limits`` notation: ``"3/15 minutes"``, ``"30/minute"``; empty disables one.
    """

    per_account: str = "3/15 minutes"
    per_source: str = "30/minute"
    storage_url: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _rates_parse(self) -> AttemptsSettings:
        from limits import parse

        problems = []
        for name in ("per_account", "per_source"):
            value = getattr(self, name)
            try:
                if value:
                    parse(value)
            except ValueError:
                problems.append(f"{name}: {value!r} is not a rate like '3/15 minutes' or '30/minute'")
        url = self.storage_url.get_secret_value()
        if url and not url.startswith(("redis://", "rediss://", "redis+sentinel://", "memory://")):
            problems.append("storage_url: use redis://HOST:PORT/DB (or leave empty for this instance's memory)")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class SecuritySettings(Section):
    """The internet-facing endpoint's defences (DESIGN §6)."""

    stale_password_shield: bool = True
    failure_floor_ms: int = Field(default=150, ge=0, le=5000)
    path_token: SecretStr = SecretStr("")
    allowed_networks: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _checked(self) -> SecuritySettings:
        problems = []
        token = self.path_token.get_secret_value()
        if token and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", token):
            problems.append("path_token: use 16 to 128 letters, digits, '-' or '_' (e.g. from `openssl rand -hex 16`)")
        for network in self.allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                problems.append(f"allowed_networks: {network!r} is not an address or CIDR network")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class AdminSettings(Section):
    """The operations listener: /healthz, /readyz, /metrics. Loopback by default, never public."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9180, ge=0, le=65535)
    readiness_timeout: int = Field(default=3, ge=1, le=60)
    readiness_names_servers: bool = False


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
    windows_event_log: bool = False  # warnings and errors also to the Windows Event Log

    @model_validator(mode="after")
    def _platform(self) -> LoggingSettings:
        if self.windows_event_log and sys.platform != "win32":
            raise ValueError("windows_event_log: the Windows Event Log exists only on Windows; set it to false here")
        return self


_file_data: ContextVar[dict[str, Any]] = ContextVar("gateway_config_file_data", default={})  # noqa: B039


class _FileSource(PydanticBaseSettingsSource):
    """The already-parsed TOML file, below environment variables in priority."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_data.get())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True)

    server: ServerSettings = ServerSettings()
    directory: DirectorySettings
    mapping: MappingSettings = MappingSettings()
    messages: MessagesSettings = MessagesSettings()
    store: StoreSettings = StoreSettings()
    devices: DevicesSettings = DevicesSettings()
    safety_valve: SafetyValveSettings = SafetyValveSettings()
    attempts: AttemptsSettings = AttemptsSettings()
    security: SecuritySettings = SecuritySettings()
    admin: AdminSettings = AdminSettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        from gateway.credential_store import KeyringSource

        return init_settings, env_settings, _FileSource(settings_cls), file_secret_settings, KeyringSource(settings_cls)


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (``--config`` or ``GATEWAY_CONFIG``) and the environment.

    Raises ``ConfigError`` with every problem found, each naming its key and where it came from.
    """
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(CONFIG_ENV):
        config_file = Path(environ[CONFIG_ENV])
    data = read_config_file(config_file) if config_file else {}
    origin = str(config_file) if config_file else "settings"
    problems: list[str] = []
    reported: set[str] = set()
    # Pydantic stops validating a table at its first bad key, so the cross-field checks of that
    # table never run. Drop the keys already reported and validate again to find the rest; a key
    # reported in an earlier pass is not reported again.
    for _ in range(_MAX_PASSES):
        try:
            settings = _build(data)
        except ValidationError as exc:
            found = [(loc, line) for p in describe_errors(exc) for loc, line in _with_origin(p, origin, environ)]
            new = [(loc, line) for loc, line in found if loc not in reported and line not in problems]
            if not new:
                break
            problems.extend(line for _, line in new)
            reported.update(loc for loc, _ in new)
            data = _without(data, [error["loc"] for error in exc.errors()])
        else:
            if not problems:
                return settings
            break
    raise ConfigError(problems)


_MAX_PASSES = 4


def _build(data: dict[str, Any]) -> Settings:
    token = _file_data.set(data)
    try:
        return Settings()  # type: ignore[call-arg]
    finally:
        _file_data.reset(token)


def _without(data: dict[str, Any], locations: list[tuple[int | str, ...]]) -> dict[str, Any]:
    """A copy of ``data`` without the keys at ``locations`` (whole tables are kept)."""
    pruned: dict[str, Any] = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    for loc in locations:
        if len(loc) >= 2 and isinstance(pruned.get(str(loc[0])), dict):
            pruned[str(loc[0])].pop(str(loc[1]), None)
        elif len(loc) == 1 and not isinstance(pruned.get(str(loc[0])), dict):
            pruned.pop(str(loc[0]), None)
    return pruned


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read configuration file ({exc.strerror})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None


def _with_origin(problem: str, origin: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """Split a table's problems into ``(key, line)``, each line naming the file or variable."""
    location, _, message = problem.partition(": ")
    lines = []
    for line in message.removeprefix("Value error, ").split("\n"):
        key, sep, text = line.partition(": ")
        if sep and _KEY.fullmatch(key):
            full = f"{location}.{key}"
        else:
            full, text = location, line
        env_name = ENV_PREFIX + full.replace(".", "__").upper()
        where = f"environment variable {env_name}" if env_name in environ else origin
        lines.append((full, f"{where}: {full}: {text}"))
    return lines


_KEY = re.compile(r"[a-z_][a-z0-9_]*")
