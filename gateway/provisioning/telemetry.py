"""What the service reports as it works, for metrics (DESIGN §8). No user data ever passes here:
only outcomes, reasons and durations, so nothing personal can become a metric label."""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def request_finished(self, outcome: str, seconds: float) -> None: ...

    def directory_call(self, operation: str, seconds: float) -> None: ...

    def store_call(self, operation: str, seconds: float) -> None: ...

    def bind(self, result: str) -> None: ...

    def bind_avoided(self, reason: str) -> None: ...

    def signed_out(self, reason: str) -> None: ...

    def valve_tripped(self) -> None: ...


class NullTelemetry:
    """Reports nowhere (tests and tools that need no metrics)."""

    def request_finished(self, outcome: str, seconds: float) -> None:
        pass

    def directory_call(self, operation: str, seconds: float) -> None:
        pass

    def store_call(self, operation: str, seconds: float) -> None:
        pass

    def bind(self, result: str) -> None:
        pass

    def bind_avoided(self, reason: str) -> None:
        pass

    def signed_out(self, reason: str) -> None:
        pass

    def valve_tripped(self) -> None:
        pass
