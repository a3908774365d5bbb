"""Settings for ``serve --demo``: the mock directory and its schema, everything else default."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from gateway.demo import DEMO_DIRECTORY, DEMO_SCHEMA, PHONE_USERS_GROUP
from gateway.directory.demo import DemoConnectionFactory
from gateway.models import normalize_dn
from gateway.settings import DirectorySettings, MappingSettings, Settings, StoreSettings


def demo_store_url() -> str:
    """``GATEWAY_STORE__URL``, else a SQLite file in the user's state folder (kept across runs, so
    ``devices ...`` commands see what ``serve --demo`` recorded)."""
    if os.environ.get("GATEWAY_STORE__URL"):
        return os.environ["GATEWAY_STORE__URL"]
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "sessiontalk-gateway"
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state / 'demo-devices.sqlite3'}"


def demo_settings(factory: DemoConnectionFactory, **overrides: object) -> Settings:
    """Settings that point at the demo directory; ``phone-users`` is required when the file has it."""
    has_phone_group = any(normalize_dn(dn) == PHONE_USERS_GROUP for dn in factory.entry_dns())
    directory = DirectorySettings(
        servers=("ldap://demo.invalid",),
        allow_plain_ldap=True,
        base_dn=factory.base_dn,
        bind_dn="cn=demo",
        bind_password=SecretStr("demo"),
        required_groups=(PHONE_USERS_GROUP,) if has_phone_group else (),
    )
    mapping = MappingSettings(preset=None, file=DEMO_SCHEMA)
    overrides.setdefault("store", StoreSettings(url=SecretStr(demo_store_url())))
    return Settings(directory=directory, mapping=mapping, **overrides)  # type: ignore[arg-type]


def demo_factory(path: Path | None = None) -> DemoConnectionFactory:
    return DemoConnectionFactory(path or DEMO_DIRECTORY)
