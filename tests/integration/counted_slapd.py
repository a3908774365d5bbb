"""A private slapd that logs every accepted connection, so tests can count the connections the
gateway opens (``SLAPD_DEBUG=stats``: "conn=N fd=M ACCEPT from IP=... (IP=127.0.0.1:<port>)")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .conftest import OPENLDAP_COMMANDS, OpenLdapServer, _dirlab, _missing_commands, _run_script


class CountedSlapd:
    """A private slapd instance whose accepted LDAPS connections can be counted from its log."""

    def __init__(self, instance: str) -> None:
        self._env = {"INSTANCE": instance, "SLAPD_DEBUG": "stats"}
        _run_script("openldap.sh", "start", env=self._env)
        self.server = OpenLdapServer.from_env_file(_dirlab() / instance / "openldap.env")
        self.log = self.server.dir / "slapd.log"
        self._accept = re.compile(rf"ACCEPT from IP=\S+ \(IP=\S+:{self.server.ldaps_port}\)")

    def accepted(self) -> int:
        """LDAPS connections accepted so far (the log survives restarts: slapd appends to it)."""
        with self.log.open(errors="replace") as lines:
            return sum(1 for line in lines if self._accept.search(line))

    def stop(self) -> None:
        _run_script("openldap.sh", "stop", env=self._env)

    def start(self) -> None:
        _run_script("openldap.sh", "restart", env=self._env)


@contextmanager
def counted_slapd(instance: str) -> Iterator[CountedSlapd]:
    """Start the instance (skip the test where slapd is not installed); stop it afterwards."""
    if _missing_commands(OPENLDAP_COMMANDS):
        pytest.skip("real-slapd tests need slapd and ldap-utils")
    slapd = CountedSlapd(instance)
    try:
        yield slapd
    finally:
        slapd.stop()
