"""Secrets from the operating system's credential store, through ``keyring`` (DESIGN §6).

On Windows that is the Credential Manager (of the account the service runs as); on a Linux
desktop the Secret Service; elsewhere whatever keyring backend is configured. A secret set in the
environment or the TOML file wins; the credential store is asked only for what neither sets.

    python -m gateway secrets set directory.bind_password      (prompts; or --stdin)
"""

from __future__ import annotations

import logging
from typing import Any

import keyring
from keyring.errors import KeyringError, NoKeyringError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

log = logging.getLogger(__name__)

SERVICE = "sessiontalk-gateway"
#: The settings that may come from the credential store, by their dotted names.
SECRET_SETTINGS = ("directory.bind_password", "store.fingerprint_key", "store.url", "attempts.storage_url")


def lookup(name: str) -> str | None:
    """A secret from the credential store, or None (not there, or no usable store)."""
    try:
        return keyring.get_password(SERVICE, name)
    except NoKeyringError:
        return None
    except KeyringError as exc:
        log.warning("credential store unavailable for %s: %s", name, type(exc).__name__)
        return None


class KeyringSource(PydanticBaseSettingsSource):
    """Lowest-priority settings source: the secrets the credential store holds."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in SECRET_SETTINGS:
            value = lookup(name)
            if value is not None:
                section, _, key = name.partition(".")
                found.setdefault(section, {})[key] = value
        return found
