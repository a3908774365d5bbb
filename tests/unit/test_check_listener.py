"""``check`` warns when the gateway would listen beyond loopback with no proxy in front
(issue 14, finding 8): waitress would then face the internet itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.demo.settings import demo_factory, demo_settings
from gateway.ops.preflight import run_checks
from gateway.settings import ServerSettings, StoreSettings

ALL_ADDRESSES = "0.0.0.0"  # noqa: S104 - the setting under test, nothing binds here


def _listener_line(demo_ldif: Path, store_settings: StoreSettings, **server: str) -> tuple[bool, str]:
    factory = demo_factory(demo_ldif)
    report = run_checks(demo_settings(factory, store=store_settings, server=ServerSettings(**server)), factory)  # type: ignore[arg-type]
    line = next(line for line in report.lines if line.name == "listener")
    assert line.ok, "a warning, not a failure: listening directly is allowed"
    return line.warning, report.render()


def test_check_warns_when_listening_on_all_addresses_without_a_trusted_proxy(
    demo_ldif: Path, store_settings: StoreSettings
) -> None:
    warning, text = _listener_line(demo_ldif, store_settings, host=ALL_ADDRESSES)
    assert warning
    assert (
        "[WARN] listener" in text
        and "listening on 0.0.0.0 without a trusted proxy: put nginx/IIS in front, see docs/security.md" in text
    )
    assert text.endswith("all checks passed")


@pytest.mark.parametrize(
    "server",
    [{}, {"host": "localhost"}, {"host": "::1"}, {"host": ALL_ADDRESSES, "trusted_proxy": "10.0.0.5"}],
    ids=["default", "localhost", "ipv6-loopback", "behind-a-proxy"],
)
def test_check_does_not_warn_on_loopback_or_behind_a_trusted_proxy(
    demo_ldif: Path, store_settings: StoreSettings, server: dict[str, str]
) -> None:
    warning, text = _listener_line(demo_ldif, store_settings, **server)
    assert not warning and "[  ok] listener" in text
