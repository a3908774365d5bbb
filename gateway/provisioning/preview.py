"""``try USERNAME``: what would this user's phone get? SIP secrets masked, no device state touched."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import DirectoryUnavailable, LoginRejected
from gateway.mapping.mapper import map_accounts
from gateway.models import DirectoryUser, SipAccount
from gateway.provisioning.entitlement import Entitlement
from gateway.provisioning.ports import Directory
from gateway.settings import Settings


@dataclass
class Preview:
    username: str
    found: bool = False
    dn: str = ""
    key: str = ""
    state: dict[str, bool] = field(default_factory=dict)
    groups: dict[str, bool] = field(default_factory=dict)
    entitled: bool = False
    accounts: list[SipAccount] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bind: str = "not tested (use --password-stdin)"
    bind_refused: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        """Would the user's phone get at least one account? Every state that refuses a sign-in
        (disabled, locked, account or password expired, must change the password) says no."""
        return (
            self.found
            and self.entitled
            and bool(self.accounts)
            and not self.error
            and not self.bind_refused
            and not any(self.state.values())
        )

    def outcome(self) -> str:
        """One line saying what the phone would get, and the first reason when nothing."""
        flags = [name for name, value in self.state.items() if value]
        reasons = [
            (bool(self.error), "directory unavailable"),
            (not self.found, "no such user"),
            (bool(flags), "account " + ", ".join(flags)),
            (self.bind_refused, "bind " + self.bind),
            (not self.entitled, "not entitled"),
            (not self.accounts, "no accounts mapped"),
        ]
        why = next((reason for failed, reason in reasons if failed), "")
        return f"nothing ({why})" if why else f"{len(self.accounts)} account(s)"

    def to_json(self) -> dict[str, object]:
        return {
            "username": self.username,
            "found": self.found,
            "dn": self.dn,
            "key": self.key,
            "state": self.state,
            "groups": self.groups,
            "entitled": self.entitled,
            "accounts": [account.masked().to_json() for account in self.accounts],
            "problems": self.problems,
            "bind": self.bind,
            "error": self.error,
            "result": self.outcome(),
        }

    def render(self) -> str:
        if self.error:
            return f"{self.username}: {self.error}"
        if not self.found:
            return f"{self.username}: no matching directory entry (or a login that cannot match)"
        lines = [f"user       {self.dn}", f"key        {self.key}"]
        flags = [name for name, value in self.state.items() if value]
        lines.append(f"state      {', '.join(flags) or 'active'}")
        for group, member in self.groups.items():
            lines.append(f"group      {'member of' if member else 'not in   '} {group}")
        lines.append(f"entitled   {'yes' if self.entitled else 'NO'}")
        for number, account in enumerate(self.accounts, start=1):
            lines.append(f"account {number}  {account.masked().to_json()}")
        lines.extend(f"problem    {problem}" for problem in self.problems)
        lines.append(f"bind       {self.bind}")
        lines.append(f"result     {self.outcome()}")
        return "\n".join(lines)


def preview(settings: Settings, directory: Directory, username: str, password: str | None) -> Preview:
    result = Preview(username)
    entitlement = Entitlement(settings.directory.required_groups, settings.directory.denied_groups)
    try:
        user = directory.find_user(username) if directory.searches_before_bind else None
        if password is not None and (user is not None or not directory.searches_before_bind):
            user = _bind(result, directory, username, password, user)
    except DirectoryUnavailable as exc:
        result.error = f"directory unavailable: {exc}"
        return result
    if user is None:
        return result
    result.found, result.dn, result.key = True, user.dn, user.key
    result.state = {name: bool(value) for name, value in vars(user.state).items()}
    groups = (*entitlement.required_groups, *entitlement.denied_groups, *settings.mapping.attribute_schema.groups())
    # Sorted: a set's iteration order differs from one process to the next.
    result.groups = {group: user.is_member_of(group) for group in sorted(set(groups), key=lambda g: (g.lower(), g))}
    result.entitled = entitlement.allows(user)
    mapping = map_accounts(user, settings.mapping.attribute_schema)
    result.accounts, result.problems = list(mapping.accounts), list(mapping.problems)
    return result


def _bind(
    result: Preview, directory: Directory, username: str, password: str, user: DirectoryUser | None
) -> DirectoryUser | None:
    try:
        bound = directory.verify_password(username, password, user)
    except LoginRejected as exc:
        result.bind, result.bind_refused = f"REFUSED: {type(exc).__name__}", True
        return user
    result.bind = "ok: password accepted"
    return bound
