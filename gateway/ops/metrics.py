"""Prometheus metrics (``prometheus-client``), one registry per gateway app.

Labels are closed sets (outcomes, operations, reasons): never a user name, a password or a
deviceId, so a scrape cannot leak who called.

Nor why a call without a proven password was refused: a caller who can also read ``/metrics``
would learn from a ``disabled`` or ``not_entitled`` label that the name he tried exists, and in
which state. Such refusals, and unknown names, share one reason, ``refused_before_bind``; the
state of each account stays in the audit trail. What the counters still reveal to someone who can
both call and scrape is listed in docs/security.md ("The operations listener").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Reasons the service gives for a bind not made that are answered from the search alone, before
#: any password is proven: counted under one label, so the counter cannot tell them apart.
REFUSED_BEFORE_BIND = frozenset({"unknown_user", "disabled", "account_expired", "not_entitled", "locked"})


class Metrics:
    """The gateway's counters and histograms; implements ``gateway.provisioning.telemetry.Telemetry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("gateway_requests", "Provisioning calls answered, by outcome.", ["outcome"], registry=r)
        self.request_seconds = Histogram(
            "gateway_request_seconds", "Time to answer a provisioning call.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.directory_seconds = Histogram(
            "gateway_directory_seconds",
            "Directory operations (search, bind).",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store_seconds = Histogram(
            "gateway_store_seconds", "Device-store operations.", ["operation"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.binds = Counter("gateway_binds", "User binds made, by result.", ["result"], registry=r)
        self.binds_avoided = Counter("gateway_binds_avoided", "User binds not made, by reason.", ["reason"], registry=r)
        self.sign_outs = Counter("gateway_sign_outs", "Phones signed out, by reason.", ["reason"], registry=r)
        self.valve_trips = Counter("gateway_safety_valve_trips", "Times the safety valve held sign-outs.", registry=r)
        self.rate_limited = Counter("gateway_rate_limited", "Calls refused by an attempt limit.", registry=r)

    def request_finished(self, outcome: str, seconds: float) -> None:
        self.requests.labels(outcome).inc()
        self.request_seconds.observe(seconds)
        if outcome == "rate_limited":
            self.rate_limited.inc()

    def directory_call(self, operation: str, seconds: float) -> None:
        self.directory_seconds.labels(operation).observe(seconds)

    def store_call(self, operation: str, seconds: float) -> None:
        self.store_seconds.labels(operation).observe(seconds)

    def bind(self, result: str) -> None:
        self.binds.labels(result).inc()

    def bind_avoided(self, reason: str) -> None:
        self.binds_avoided.labels("refused_before_bind" if reason in REFUSED_BEFORE_BIND else reason).inc()

    def signed_out(self, reason: str) -> None:
        self.sign_outs.labels(reason).inc()

    def valve_tripped(self) -> None:
        self.valve_trips.inc()

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return bytes(generate_latest(self.registry))
