"""A ``Directory`` that reports the time and result of every call to an ``Telemetry``."""

from __future__ import annotations

import time

from gateway.errors import DirectoryUnavailable, LoginRejected
from gateway.models import DirectoryUser
from gateway.provisioning.ports import Directory
from gateway.provisioning.telemetry import Telemetry


class InstrumentedDirectory:
    def __init__(self, directory: Directory, telemetry: Telemetry) -> None:
        self._directory = directory
        self._telemetry = telemetry

    @property
    def searches_before_bind(self) -> bool:
        return self._directory.searches_before_bind

    def find_user(self, login: str) -> DirectoryUser | None:
        started = time.perf_counter()
        try:
            return self._directory.find_user(login)
        finally:
            self._telemetry.directory_call("search", time.perf_counter() - started)

    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        started = time.perf_counter()
        result = "error"
        try:
            found = self._directory.verify_password(login, password, user)
            result = "ok"
            return found
        except LoginRejected:
            result = "refused"
            raise
        except DirectoryUnavailable:
            result = "error"
            raise
        finally:
            self._telemetry.directory_call("bind", time.perf_counter() - started)
            self._telemetry.bind(result)

    def canary(self) -> bool:
        started = time.perf_counter()
        try:
            return self._directory.canary()
        finally:
            self._telemetry.directory_call("canary", time.perf_counter() - started)
