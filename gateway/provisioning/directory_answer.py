"""What the directory said about one call, before the device store is consulted.

``refused_before_bind`` turns the service-account search into a refusal that needs no bind;
``rejection`` turns a failed bind into the same vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gateway.errors import (
    AccountDisabled,
    AccountExpired,
    AccountLocked,
    InvalidCredentials,
    LoginRejected,
    NotEntitled,
    PasswordExpired,
    PasswordMustChange,
)
from gateway.models import Device, DirectoryUser
from gateway.provisioning.decision import Gone, Login
from gateway.provisioning.entitlement import Entitlement


@dataclass(frozen=True)
class DirectoryAnswer:
    """What the directory said about this call, before the store is consulted."""

    user: DirectoryUser | None = None
    gone: Gone | None = None
    locked: bool = False
    rate_limited: bool = False
    login: Login = Login.NOT_ATTEMPTED
    repeated: bool = False  # a password that already failed on this device: answered without a bind
    counted: bool = False  # the failure was counted against the attempt limit during the bind's turn
    known_phone: bool = False  # rate limited, but this enrolled phone presented its last good password
    avoided: str = ""  # why no bind was made, when none was (for metrics)
    detail: str = ""


def password_changed(device: Device | None, user: DirectoryUser) -> bool:
    """The directory's password-change marker moved since this device's last good bind.

    A marker that was absent at the last good bind and is present now has moved (an entry loaded
    without ``pwdChangedTime`` gets one at its first password change), and so has one that went
    away; where the directory never shows a marker, both are absent and nothing moved.
    """
    if device is None:
        return False
    return device.password_changed_at != user.password_changed_at


def refused_before_bind(user: DirectoryUser, entitlement: Entitlement) -> DirectoryAnswer | None:
    """States the search shows: answered without binding (no failed logon is counted)."""
    if user.state.disabled:
        return DirectoryAnswer(
            user, gone=Gone.DISABLED, avoided="disabled", detail="disabled in the directory: no bind"
        )
    if user.state.expired:
        return DirectoryAnswer(
            user, gone=Gone.ACCOUNT_EXPIRED, avoided="account_expired", detail="account expired: no bind"
        )
    if not entitlement.allows(user):
        return DirectoryAnswer(user, gone=Gone.NOT_ENTITLED, avoided="not_entitled", detail="not entitled: no bind")
    if user.state.locked:
        return DirectoryAnswer(user, locked=True, avoided="locked", detail="locked in the directory: no bind")
    return None


_REJECTIONS: dict[type[LoginRejected], DirectoryAnswer] = {
    InvalidCredentials: DirectoryAnswer(login=Login.WRONG_PASSWORD),
    PasswordMustChange: DirectoryAnswer(login=Login.MUST_CHANGE),
    PasswordExpired: DirectoryAnswer(login=Login.EXPIRED),
    AccountLocked: DirectoryAnswer(locked=True),
    AccountDisabled: DirectoryAnswer(gone=Gone.DISABLED),
    AccountExpired: DirectoryAnswer(gone=Gone.ACCOUNT_EXPIRED),
    NotEntitled: DirectoryAnswer(gone=Gone.NOT_ENTITLED),
}


def rejection(user: DirectoryUser | None, exc: LoginRejected) -> DirectoryAnswer:
    template = next((o for kind, o in _REJECTIONS.items() if isinstance(exc, kind)), _REJECTIONS[InvalidCredentials])
    return replace(template, user=user, detail=f"bind refused: {type(exc).__name__}")
