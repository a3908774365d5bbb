"""OpenLDAP's password-policy response control (draft-behera-ldap-password-policy).

Without it a locked, expired or wrong-password bind is the same bare result 49, and a
must-change-password bind *succeeds* with a restricted session.
"""

from __future__ import annotations

from gateway.errors import AccountLocked, LoginRejected, PasswordExpired, PasswordMustChange

OID = "1.3.6.1.4.1.42.2.27.8.5.1"
REQUEST = (OID, False, None)

#: The control's error enumeration, in draft order.
ERRORS = (
    "passwordExpired",
    "accountLocked",
    "changeAfterReset",
    "passwordModNotAllowed",
    "mustSupplyOldPassword",
    "insufficientPasswordQuality",
    "passwordTooShort",
    "passwordTooYoung",
    "passwordInHistory",
)
_REJECTIONS: dict[str, type[LoginRejected]] = {
    "passwordExpired": PasswordExpired,
    "accountLocked": AccountLocked,
    "changeAfterReset": PasswordMustChange,
}


def error_name(value: bytes | None) -> str | None:
    """The ``error`` field of a PasswordPolicyResponseValue, or None (absent or unreadable)."""
    if not value:
        return None
    try:
        tag, body, _ = _tlv(value, 0)
        if tag != 0x30:
            return None
        offset = 0
        while offset < len(body):
            tag, content, offset = _tlv(body, offset)
            if tag == 0x81:  # error [1] ENUMERATED
                index = int.from_bytes(content, "big")
                return ERRORS[index] if index < len(ERRORS) else None
    except (IndexError, ValueError):
        return None
    return None


def rejection(error: str | None) -> type[LoginRejected] | None:
    return _REJECTIONS.get(error) if error else None


def _tlv(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One BER tag-length-value at ``offset``: (tag, content, offset after it)."""
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported BER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise ValueError("truncated BER value")
    return tag, data[offset:end], end
