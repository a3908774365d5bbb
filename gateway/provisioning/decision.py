"""The ``update`` decision table of DESIGN §3, as one pure function over the facts of a call.

The service gathers the facts (directory search, bind, device record, fingerprint) and applies
the verdict (store writes, audit event); this module only decides. Each branch is one row of
the table; the order of the checks is the order of precedence.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.models import Device, DeviceStatus, Outcome, SipAccount


class Login(enum.Enum):
    """What the bind said (or that none was made)."""

    NOT_ATTEMPTED = "not_attempted"
    OK = "ok"
    WRONG_PASSWORD = "wrong_password"
    MUST_CHANGE = "must_change"
    EXPIRED = "expired"


class Message(enum.Enum):
    """The ``errmsg`` a verdict shows the user: each names a ``[messages]`` setting."""

    LOGIN_FAILED = "login_failed"
    SIGNED_OUT = "signed_out"
    REVOKED = "revoked"
    SIGN_IN_AGAIN = "sign_in_again"
    PASSWORD_MUST_CHANGE = "password_must_change"
    PASSWORD_EXPIRED = "password_expired"
    NO_ACCOUNTS = "no_accounts"
    DEVICE_LIMIT = "device_limit"
    UNAVAILABLE = "unavailable"


class Gone(enum.Enum):
    """Why the directory says this user should have no phone (definitive answers only)."""

    DELETED = "deleted"
    DISABLED = "disabled"
    ACCOUNT_EXPIRED = "account_expired"
    NOT_ENTITLED = "not_entitled"
    NO_ACCOUNTS = "no_accounts"


@dataclass(frozen=True)
class Facts:
    reprovision: bool
    device: Device | None = None
    gone: Gone | None = None
    locked: bool = False
    rate_limited: bool = False
    known_phone: bool = False  # rate limited, but this enrolled phone presented its last good password
    password_changed: bool = False
    login: Login = Login.NOT_ATTEMPTED
    accounts: tuple[SipAccount, ...] = ()
    accounts_changed: bool = True
    other_enrolled_devices: int = 0
    max_devices: int = 5
    sign_out_on_wrong_password: bool = True  # the stale-password shield; off: a naive gateway

    @property
    def enrolled(self) -> bool:
        return self.device is not None and self.device.status is DeviceStatus.ENROLLED


@dataclass(frozen=True)
class Verdict:
    update: bool
    outcome: Outcome
    message: Message | None = None  # the errmsg shown; None: no message
    accounts: tuple[SipAccount, ...] = ()
    status: DeviceStatus | None = None  # the device's new status; None: no device record
    remember_accounts: bool = False  # store the fingerprint of ``accounts``
    remember_password: bool = False  # store the password-change marker of this good bind


def _failed() -> Verdict:
    return Verdict(False, Outcome.LOGIN_FAILED, Message.LOGIN_FAILED)


def decide(f: Facts) -> Verdict:  # noqa: PLR0911 - one return per row of the table
    """One row of the table for these facts."""
    if f.device is not None and f.device.status is DeviceStatus.REVOKED:
        return Verdict(True, Outcome.REVOKED, Message.REVOKED, status=DeviceStatus.REVOKED)
    if f.gone is not None:
        if f.enrolled:
            return Verdict(True, Outcome.SIGNED_OUT, Message.SIGNED_OUT, status=DeviceStatus.SIGNED_OUT)
        if f.gone is Gone.NO_ACCOUNTS:  # only known after the password was proven
            return Verdict(False, Outcome.NO_ACCOUNTS, Message.NO_ACCOUNTS)
        return _failed()
    if f.locked:
        # Temporary: an enrolled phone keeps its accounts; nobody learns the state before a password.
        return Verdict(False, Outcome.LOCKED, status=DeviceStatus.ENROLLED) if f.enrolled else _failed()
    if f.rate_limited:
        # A stranger's failures never show on a working phone: the phone that presents the
        # password it last signed in with keeps its accounts, with no message.
        if f.known_phone and f.enrolled:
            return Verdict(False, Outcome.RATE_LIMITED)
        return Verdict(False, Outcome.RATE_LIMITED, Message.LOGIN_FAILED)
    if f.enrolled and f.password_changed:
        return Verdict(True, Outcome.SIGN_IN_AGAIN, Message.SIGN_IN_AGAIN, status=DeviceStatus.SIGNED_OUT)
    if f.login is not Login.OK:
        return _not_ok(f)
    return _logged_in(f)


def _not_ok(f: Facts) -> Verdict:
    if f.login is Login.WRONG_PASSWORD:
        if f.enrolled and f.sign_out_on_wrong_password:
            return Verdict(True, Outcome.SIGN_IN_AGAIN, Message.SIGN_IN_AGAIN, status=DeviceStatus.SIGNED_OUT)
        return _failed()
    if f.login is Login.MUST_CHANGE:
        return Verdict(False, Outcome.PASSWORD_MUST_CHANGE, Message.PASSWORD_MUST_CHANGE)
    if f.login is Login.EXPIRED:
        return Verdict(False, Outcome.PASSWORD_EXPIRED, Message.PASSWORD_EXPIRED)
    # No bind was made because an earlier look at the device said none was needed, and the
    # device changed meanwhile (a concurrent call): keep what the phone has.
    return Verdict(False, Outcome.UNCHANGED)


def _logged_in(f: Facts) -> Verdict:
    if not f.enrolled or not f.reprovision:
        if not f.enrolled and f.other_enrolled_devices >= f.max_devices:
            return Verdict(False, Outcome.DEVICE_LIMIT, Message.DEVICE_LIMIT)
        return Verdict(
            True,
            Outcome.ENROLLED,
            accounts=f.accounts,
            status=DeviceStatus.ENROLLED,
            remember_accounts=True,
            remember_password=True,
        )
    assert f.device is not None
    if f.device.force_update or f.accounts_changed:
        return Verdict(
            True,
            Outcome.CHANGED,
            accounts=f.accounts,
            status=DeviceStatus.ENROLLED,
            remember_accounts=True,
            remember_password=True,
        )
    return Verdict(False, Outcome.UNCHANGED, status=DeviceStatus.ENROLLED, remember_password=True)


def refused_before_lookup(*, rate_limited: bool) -> Verdict:
    """No directory user to decide about: an unknown name, an empty password, or a name or source
    over its limit (refused before any lookup). One generic answer for all."""
    return Verdict(False, Outcome.RATE_LIMITED if rate_limited else Outcome.LOGIN_FAILED, Message.LOGIN_FAILED)


def unavailable() -> Verdict:
    """The directory or the store did not answer: never a sign-out."""
    return Verdict(False, Outcome.UNAVAILABLE, Message.UNAVAILABLE)
