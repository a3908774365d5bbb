"""Domain errors. They know nothing of HTTP: ``gateway.provisioning.service`` turns them into answers."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class DirectoryUnavailable(GatewayError):
    """No directory server answered definitively: outage, timeout, TLS failure, busy."""


class LoginRejected(GatewayError):
    """The directory refused the login. Subclasses say why; the phone only learns what §3 allows."""


class InvalidCredentials(LoginRejected):
    """Wrong password or no such user (AD 52e, OpenLDAP bare 49)."""


class AccountDisabled(LoginRejected):
    """AD 533, or userAccountControl bit 2."""


class AccountLocked(LoginRejected):
    """AD 775, OpenLDAP ppolicy accountLocked, or lockout seen by the search."""


class LogonRestricted(AccountLocked):
    """AD 530 / 531: the password was right but not at this time (logon hours) or from this
    workstation. A restriction that lifts by itself, not a leaver: handled like a lockout."""


class AccountExpired(LoginRejected):
    """AD 701: the account (not the password) has expired."""


class PasswordMustChange(LoginRejected):
    """The password was right but must be changed first (AD 773, ppolicy changeAfterReset)."""


class PasswordExpired(LoginRejected):
    """The password was right but has expired (AD 532, ppolicy passwordExpired)."""


class NotEntitled(LoginRejected):
    """Not in a required group, or in a denied one."""


class StoreUnavailable(GatewayError):
    """The device store did not answer (down, timeout, locked): treated like a directory outage."""


class StoreRejected(GatewayError):
    """The store refused a statement (a value too long for its column, a constraint, bad SQL): a bug,
    never an outage. Its text names only the database error's type, never the values."""


class StoreOutOfDate(GatewayError):
    """The store's schema is not the one this gateway was built for: run ``migrate``."""
