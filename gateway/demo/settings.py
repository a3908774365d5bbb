"""Settings for ``serve --demo``: the mock directory and its schema, everything else default."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from gateway.demo import DEMO_DIRECTORY, DEMO_SCHEMA, PHONE_USERS_GROUP
from gateway.directory.demo import DemoConnectionFactory
from gateway.models import normalize_dn
from gateway.settings import DirectorySettings, MappingSettings, Settings


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
    return Settings(directory=directory, mapping=mapping, **overrides)  # type: ignore[arg-type]


def demo_factory(path: Path | None = None) -> DemoConnectionFactory:
    return DemoConnectionFactory(path or DEMO_DIRECTORY)
