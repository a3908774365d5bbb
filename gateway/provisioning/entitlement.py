"""Who may have a phone: required and denied groups (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.models import DirectoryUser


@dataclass(frozen=True)
class Entitlement:
    """Member of any ``required_groups`` (when some are set) and of none of ``denied_groups``."""

    required_groups: tuple[str, ...] = ()
    denied_groups: tuple[str, ...] = ()

    def allows(self, user: DirectoryUser) -> bool:
        if any(user.is_member_of(group) for group in self.denied_groups):
            return False
        return not self.required_groups or any(user.is_member_of(group) for group in self.required_groups)
