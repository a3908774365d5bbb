"""The safety valve (DESIGN §3): when directory-driven sign-outs pile up, stop signing out.

A wrong base DN, a renamed group or a lost ACL can make a whole company look deleted or not
entitled at once. More than ``max_sign_outs`` such sign-outs within ``window_seconds`` trip the
valve: the state is kept in the store (shared by every instance), those calls are answered as an
outage, and it stays shut until ``devices release-sign-outs``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from gateway.models import Outcome
from gateway.provisioning.decision import Message, Verdict
from gateway.provisioning.ports import StoreTransaction
from gateway.provisioning.telemetry import Telemetry
from gateway.settings import SafetyValveSettings

valve_log = logging.getLogger("gateway.provisioning.safety_valve")


class SafetyValve:
    def __init__(self, settings: SafetyValveSettings, telemetry: Telemetry) -> None:
        self.settings = settings
        self.telemetry = telemetry

    def hold_if_tripped(self, tx: StoreTransaction, verdict: Verdict) -> Verdict:
        """Hold directory-driven sign-outs when too many happen at once (a wrong base DN, a lost ACL)."""
        if verdict.outcome is not Outcome.SIGNED_OUT:
            return verdict
        reason = tx.valve_tripped()
        if reason is None:
            window = tx.now - timedelta(seconds=self.settings.window_seconds)
            recent = tx.count_events(Outcome.SIGNED_OUT.value, window)
            if recent + 1 <= self.settings.max_sign_outs:
                return verdict
            reason = (
                f"{recent + 1} sign-outs within {self.settings.window_seconds} s (limit {self.settings.max_sign_outs})"
            )
            tx.trip_valve(reason)
            self.telemetry.valve_tripped()
        valve_log.error(
            "SAFETY VALVE: sign-outs are held (%s); check the directory settings, then run "
            "`python -m gateway devices release-sign-outs`",
            reason,
        )
        return Verdict(False, Outcome.SIGN_OUT_HELD, Message.UNAVAILABLE)
