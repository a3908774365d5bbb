"""Calls waiting for a worker are taken round-robin by client, so a flood from one address waits
behind itself (gateway/web/fair_queue.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gateway.web.fair_queue import FairQueue, fair_dispatcher


@dataclass
class Request:
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Channel:
    """What waitress queues: the channel itself, with its peer and its parsed requests."""

    name: str
    addr: tuple[str, int]
    requests: list[Request] = field(default_factory=list)


def test_a_flood_from_one_address_does_not_delay_another_address() -> None:
    queue = FairQueue()
    for n in range(64):
        queue.append(Channel(f"attacker-{n}", ("127.0.0.1", 40000 + n)))
    queue.append(Channel("phone", ("127.0.0.2", 50000)))
    taken = [queue.popleft().name for _ in range(3)]
    assert taken == ["attacker-0", "phone", "attacker-1"]
    assert len(queue) == 62


def test_behind_the_trusted_proxy_the_forwarded_client_is_the_client() -> None:
    queue = FairQueue(trusted_proxy="127.0.0.1")
    for n in range(3):
        forwarded = Request({"X_FORWARDED_FOR": "198.51.100.9"})
        queue.append(Channel(f"attacker-{n}", ("127.0.0.1", 40000 + n), [forwarded]))
    queue.append(Channel("phone", ("127.0.0.1", 50000), [Request({"X_FORWARDED_FOR": "203.0.113.5, 192.0.2.7"})]))
    assert [queue.popleft().name for _ in range(2)] == ["attacker-0", "phone"]


def test_a_forwarded_header_from_anyone_else_is_ignored() -> None:
    queue = FairQueue(trusted_proxy="127.0.0.1")
    queue.append(Channel("a", ("192.0.2.1", 1), [Request({"X_FORWARDED_FOR": "203.0.113.5"})]))
    queue.append(Channel("b", ("192.0.2.1", 2), [Request({"X_FORWARDED_FOR": "198.51.100.9"})]))
    queue.append(Channel("c", ("192.0.2.2", 3)))
    assert [queue.popleft().name for _ in range(3)] == ["a", "c", "b"]


def test_an_empty_queue_behaves_like_an_empty_deque() -> None:
    queue = FairQueue()
    assert not queue and len(queue) == 0
    with pytest.raises(IndexError):
        queue.popleft()


def test_the_dispatcher_starts_its_workers() -> None:
    dispatcher = fair_dispatcher(3)
    try:
        assert len(dispatcher.threads) == 3 and isinstance(dispatcher.queue, FairQueue)
    finally:
        dispatcher.shutdown(timeout=2)
