"""Connections are reused before, and right after, an outage of the only server (docs/openldap.md §8).

Each gateway thread keeps one service-account connection and one user-bind connection. A server
that failed is marked down; before, the mark held for ``server_retry_after`` (30 s) even when the
only server was answering again, and every call dropped both connections and opened two new
LDAPS connections exactly while the directory was recovering. A server that answers is up again.

Counted on slapd itself: a private slapd of this module logs every accepted connection
(``SLAPD_DEBUG=stats``: "conn=N fd=M ACCEPT from IP=... (IP=127.0.0.1:<port>)"); the tests count
the ACCEPT lines on its LDAPS port while one app calls a gateway in a loop (one worker thread).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .conftest import OpenLdapServer
from .counted_slapd import CountedSlapd, counted_slapd
from .gateway_under_test import UNAVAILABLE, UNCHANGED, Phone, PhoneFor, openldap_settings

if TYPE_CHECKING:
    from gateway.settings import StoreSettings

INSTANCE = "openldap-conns"
pytestmark = pytest.mark.slapd  # a slapd of its own (the marker conftest gives fixture users)

CALLS = 100  # per phase
USER, EXTENSION = "alice", "1001"  # in the script's data; password "alicepw"


@pytest.fixture(scope="module")
def counted() -> Iterator[CountedSlapd]:
    with counted_slapd(INSTANCE) as slapd:
        yield slapd


def calls(phone: Phone, count: int) -> tuple[list[dict[str, object]], float]:
    """``count`` foreground calls of the enrolled phone; the answers and the median time (ms)."""
    answers, seconds = [], []
    for _ in range(count):
        started = time.perf_counter()
        answers.append(phone.foreground(USER, OpenLdapServer.password(USER)))
        seconds.append(time.perf_counter() - started)
    return answers, round(statistics.median(seconds) * 1000, 1)


def test_connections_are_reused_right_after_an_outage_of_the_only_server(
    counted: CountedSlapd, store_settings: StoreSettings, phone_for: PhoneFor, caplog: pytest.LogCaptureFixture
) -> None:
    server = counted.server
    phone = phone_for(openldap_settings([server], store_settings, server_retry_after=30))
    start = counted.accepted()
    phone.enrol(USER, OpenLdapServer.password(USER))
    before, before_ms = calls(phone, CALLS)
    opened_before = counted.accepted() - start

    counted.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.directory.connection"):
            during = [phone.foreground(USER, OpenLdapServer.password(USER)) for _ in range(5)]
    finally:
        counted.start()
    start = counted.accepted()
    after, after_ms = calls(phone, CALLS)  # well within server_retry_after (30 s) of the outage
    opened_after = counted.accepted() - start

    print(
        f"\nnew LDAPS connections on slapd: {opened_before} for enrolment + {CALLS} calls before the outage "
        f"(median {before_ms} ms), {opened_after} for {CALLS} calls after it (median {after_ms} ms)"
    )
    assert [body for body in before if body != UNCHANGED] == []
    assert during == [UNAVAILABLE] * 5  # never a sign-out
    # The log says what is true: there is no other server to try.
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.directory.connection"]
    assert warnings and all("the only server" in w and "others" not in w for w in warnings), warnings
    assert [body for body in after if body != UNCHANGED] == []  # still enrolled, nothing re-created
    # One service-account and one user-bind connection, each opened once and then reused.
    assert opened_before == 2
    assert opened_after == 2
