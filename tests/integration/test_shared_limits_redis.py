"""Attempt limits shared by two gateway instances through the machine's Redis, and what happens
when Redis stops answering (DESIGN §6)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
from falcon.testing import TestClient

from gateway.app import build_directory, build_gateway
from gateway.demo.settings import demo_factory, demo_settings
from gateway.provisioning.attempts import Attempt, AttemptLimiter
from gateway.settings import AttemptsSettings, MessagesSettings, SecuritySettings, StoreSettings

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> str:
    """A key namespace of this test's own: the machine's Redis is shared and never flushed."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return f"gateway-test-{uuid.uuid4().hex[:10]}"


def test_two_limiters_on_one_redis_share_the_counts(prefix: str) -> None:
    first = AttemptLimiter("3/15 minutes", "", REDIS_URL, key_prefix=prefix)
    second = AttemptLimiter("3/15 minutes", "", REDIS_URL, key_prefix=prefix)
    attempt = Attempt("user:guid-1", "198.51.100.1")
    first.failed(attempt)
    second.failed(attempt)
    assert first.allowed(attempt) and second.allowed(attempt)
    first.failed(attempt)
    assert not second.allowed(attempt)
    assert not first.allowed(attempt)


def test_redis_down_falls_back_to_this_instances_memory_and_keeps_limiting(caplog: pytest.LogCaptureFixture) -> None:
    limiter = AttemptLimiter("2/15 minutes", "", "redis://127.0.0.1:1/0")
    attempt = Attempt("user:guid-2", "")
    limiter.failed(attempt)
    limiter.failed(attempt)
    assert limiter.allowed(attempt) is False
    assert "attempt-limit storage unreachable" in caplog.text


def test_two_gateway_instances_share_limits_through_redis(
    demo_ldif: Path, store_settings: StoreSettings, prefix: str
) -> None:
    attempts = AttemptsSettings(per_account="2/15 minutes", per_source="", storage_url=REDIS_URL)  # type: ignore[arg-type]
    clients = []
    for _ in range(2):
        factory = demo_factory(demo_ldif)
        settings = demo_settings(
            factory, store=store_settings, attempts=attempts, security=SecuritySettings(failure_floor_ms=0)
        )
        gateway = build_gateway(settings, connections=factory, directory=build_directory(settings, factory))
        gateway.service.limiter = AttemptLimiter("2/15 minutes", "", REDIS_URL, key_prefix=prefix)
        clients.append(TestClient(gateway.app))
    first, second = clients

    def call(client: TestClient, password: str, device: str) -> dict[str, object]:
        body: dict[str, object] = client.simulate_get(
            "/provisioning",
            params={"username": "jbloggs", "password": password, "reprovision": "false", "deviceId": device},
        ).json
        return body

    call(first, "Wrong-1", "a")
    call(first, "Wrong-2", "b")
    assert call(second, "7578743843", "c") == {
        "update": False,
        "sipaccounts": [],
        "errmsg": MessagesSettings().login_failed,
    }
