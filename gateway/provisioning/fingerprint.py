"""Account fingerprints: has what this phone holds changed? (DESIGN §3)

A keyed hash (HMAC-SHA256) of the canonical account list. The store keeps only this, never the
SIP secrets. The key is shared by every instance (kept in the store, or given in settings) and
can be rotated: a device fingerprinted with an older key is compared with that key, then
re-fingerprinted with the current one, so a rotation re-creates no phone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.models import SipAccount


def canonical(accounts: Sequence[SipAccount]) -> bytes:
    """The accounts as the phone receives them, in order, as stable JSON bytes.

    The order counts (it is part of what the phone receives): it is made canonical where the list is
    built (``mapping.mapper``: schema order, ``for_each`` values in natural order), so it does not
    depend on the server or the process, and is not sorted again here.
    """
    return json.dumps([a.to_json() for a in accounts], sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class FingerprintKeys:
    """The current key and every older key still referenced by a device."""

    current_id: str
    keys: Mapping[str, bytes]

    def fingerprint(self, accounts: Sequence[SipAccount], key_id: str | None = None) -> str:
        key = self.keys[key_id or self.current_id]
        return hmac.new(key, canonical(accounts), hashlib.sha256).hexdigest()

    def matches(self, accounts: Sequence[SipAccount], fingerprint: str | None, key_id: str | None) -> bool:
        """True when ``accounts`` are what the device was last given (under whichever key it was)."""
        if fingerprint is None or (key_id or self.current_id) not in self.keys:
            return False
        return hmac.compare_digest(self.fingerprint(accounts, key_id), fingerprint)
