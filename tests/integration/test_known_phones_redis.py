"""The known-phone memory in the machine's Redis (DESIGN §6): shared by instances, keyed by the
store's fingerprint key, and only in a Redis that keeps nothing on disk."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.app import build_directory, build_gateway
from gateway.demo.settings import demo_factory, demo_settings
from gateway.ops.preflight import run_checks
from gateway.provisioning.known_phones import KnownPhones, RedisDigests, redis_persistence_problem
from gateway.settings import AttemptsSettings, StoreSettings

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.redis


@pytest.fixture
def client() -> redis.Redis:
    try:
        found = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        found.ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return found


class PersistingRedis:
    """A Redis that answers CONFIG GET as one with RDB snapshots and an append-only file."""

    settings = {"save": "3600 1 300 100", "appendonly": "yes"}

    def config_get(self, name: str) -> dict[str, str]:
        return {name: self.settings[name]}


def test_a_redis_that_writes_to_disk_is_named() -> None:
    problem = redis_persistence_problem(PersistingRedis())
    assert problem is not None
    assert "save" in problem and "appendonly" in problem


def test_the_machines_redis_is_judged_by_its_own_settings(client: redis.Redis) -> None:
    save = client.config_get("save")["save"]
    appendonly = client.config_get("appendonly")["appendonly"]
    expected_clean = not save.strip() and appendonly == "no"
    assert (redis_persistence_problem(client) is None) is expected_clean


def test_two_instances_share_what_they_know(client: redis.Redis) -> None:
    prefix = f"gateway-test-{uuid.uuid4().hex[:10]}"
    key = uuid.uuid4().bytes
    first = KnownPhones(RedisDigests(client, prefix), key=lambda: key)
    second = KnownPhones(RedisDigests(client, prefix), key=lambda: key)
    first.remember("guid-1", "phone-1", "20260101000000Z", "Good-Pass-1")
    assert second.phone_knows("guid-1", "phone-1", "20260101000000Z", "Good-Pass-1")
    assert second.user_knows("guid-1", "20260101000000Z", "Good-Pass-1")
    assert not second.phone_knows("guid-1", "phone-2", "20260101000000Z", "Good-Pass-1")
    assert not second.user_knows("guid-1", "20260202000000Z", "Good-Pass-1")  # the password changed since
    stored = [k for k in client.scan_iter(f"{prefix}:*")]
    assert len(stored) == 2
    assert all(b"Good-Pass-1" not in k and b"guid-1" not in k for k in stored)  # keyed hashes only
    ttl = client.pttl(stored[0])
    assert 0 < ttl <= 14 * 24 * 3600 * 1000
    client.delete(*stored)


def test_a_gateway_on_redis_remembers_phones_there_and_warns_about_persistence(
    client: redis.Redis, demo_ldif: Path, store_settings: StoreSettings, caplog: pytest.LogCaptureFixture
) -> None:
    factory = demo_factory(demo_ldif)
    attempts = AttemptsSettings(storage_url=REDIS_URL)  # type: ignore[arg-type]
    settings = demo_settings(factory, store=store_settings, attempts=attempts)
    with caplog.at_level(logging.WARNING):
        gateway = build_gateway(settings, connections=factory, directory=build_directory(settings, factory))
    known: Any = gateway.service.known_phones
    assert isinstance(known._digests, RedisDigests)
    clean = redis_persistence_problem(client) is None
    assert ("may write it to disk" in caplog.text) is not clean


def test_check_reports_the_shared_redis(client: redis.Redis, demo_ldif: Path, store_settings: StoreSettings) -> None:
    factory = demo_factory(demo_ldif)
    attempts = AttemptsSettings(storage_url=REDIS_URL)  # type: ignore[arg-type]
    report = run_checks(demo_settings(factory, store=store_settings, attempts=attempts), factory)
    line = next(line for line in report.lines if line.name == "attempt-limit store")
    assert line.ok is (redis_persistence_problem(client) is None)
    unreachable = AttemptsSettings(storage_url="redis://127.0.0.1:1/0")  # type: ignore[arg-type]
    report = run_checks(demo_settings(factory, store=store_settings, attempts=unreachable), factory)
    line = next(line for line in report.lines if line.name == "attempt-limit store")
    assert not line.ok and "does not answer" in line.detail
