"""``LdapDirectory``: search-then-bind (or direct bind) over a connection factory."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ldap3 import BASE, SUBTREE, Connection

from gateway.directory import ad, ppolicy
from gateway.directory.connection import ConnectionFactory, simple_bind
from gateway.directory.entry import BINARY_KEYS, EntryReader
from gateway.directory.search import UserSearch, direct_bind_name, equality, escape_filter_value
from gateway.errors import DirectoryUnavailable, InvalidCredentials, LoginRejected, PasswordMustChange
from gateway.mapping.spec import AttributeSchema, GroupMembership
from gateway.models import DirectoryUser, normalize_dn
from gateway.settings import DirectorySettings

log = logging.getLogger(__name__)

RESULT_SUCCESS, RESULT_SIZE_LIMIT, RESULT_NO_SUCH_OBJECT, RESULT_INVALID_CREDENTIALS = 0, 4, 32, 49
RESULT_INVALID_DN_SYNTAX = 34
MEMBER_OF = "memberOf"


@dataclass(frozen=True)
class DirectoryConfig:
    """Everything ``LdapDirectory`` needs, resolved from settings and the schema's profile."""

    mode: Literal["search", "direct"]
    base_dn: str
    search: UserSearch
    reader: EntryReader
    group_membership: GroupMembership
    groups_of_interest: tuple[str, ...]
    schema_attributes: frozenset[str]
    direct_bind_template: str = ""
    search_time_limit: int = 10

    @classmethod
    def from_settings(cls, settings: DirectorySettings, schema: AttributeSchema) -> DirectoryConfig:
        profile = schema.directory
        flavour = settings.flavour or profile.flavour
        groups = {normalize_dn(g): g for g in (*settings.required_groups, *settings.denied_groups, *schema.groups())}
        return cls(
            mode=settings.mode,
            base_dn=settings.base_dn,
            search=UserSearch(
                base_dn=settings.base_dn,
                user_filter=settings.user_filter or profile.user_filter,
                login_attributes=settings.login_attributes or profile.login_attributes,
                netbios_domain=settings.netbios_domain,
            ),
            reader=EntryReader(flavour=flavour, user_key=settings.user_key or profile.user_key),
            group_membership=settings.group_membership or profile.group_membership,
            groups_of_interest=tuple(sorted(groups.values())),
            schema_attributes=schema.attributes(),
            direct_bind_template=settings.direct_bind_template,
            search_time_limit=settings.receive_timeout,
        )

    @property
    def member_attribute(self) -> str | None:
        return MEMBER_OF if self.group_membership == "member-of" else None

    def requested_attributes(self) -> list[str]:
        return self.reader.requested(self.schema_attributes, self.member_attribute)


class LdapDirectory:
    """The ``Directory`` port over LDAP; ldap3 errors become domain errors here."""

    def __init__(
        self,
        config: DirectoryConfig,
        connections: ConnectionFactory,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.connections = connections
        self._now = now

    @property
    def searches_before_bind(self) -> bool:
        return self.config.mode == "search"

    def find_user(self, login: str) -> DirectoryUser | None:
        search_filter = self.config.search.filter_for(login)
        if search_filter is None:
            return None
        return self.connections.run_as_service(lambda conn: self._lookup(conn, search_filter))

    def find_user_by_id(self, dn_or_key: str) -> DirectoryUser | None:
        """The user whose DN or user key (``entryUUID``, ``objectGUID``...) this is (for the admin's
        commands; a phone's login goes through ``find_user``). ``None``: no such user."""
        if "=" in dn_or_key:
            return self.connections.run_as_service(lambda conn: self._read_dn(conn, dn_or_key))
        key_filter = _key_filter(self.config.reader.user_key, dn_or_key)
        if key_filter is None:
            return None
        return self.connections.run_as_service(
            lambda conn: self._lookup(conn, f"(&{self.config.search.user_filter}{key_filter})")
        )

    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        if not password.strip():
            raise InvalidCredentials("empty password")  # an empty simple bind is an anonymous bind
        bind_name = user.dn if user is not None else direct_bind_name(self.config.direct_bind_template, login)

        def bind_and_read(conn: Connection) -> DirectoryUser | None:
            ok = simple_bind(conn, bind_name, password, controls=[ppolicy.REQUEST])
            _raise_for_bind(ok, conn.result)
            if user is not None:
                return user
            return self._read_own_entry(conn, login, bind_name)

        found = self.connections.run_as_user(bind_and_read)
        if found is None:
            log.warning("bind succeeded but the user's own entry could not be read (direct mode)")
            raise DirectoryUnavailable("own entry not readable after bind")
        return found

    def canary(self) -> bool:
        user_filter, base = self.config.search.user_filter, self.config.base_dn
        try:
            found = self.connections.run_as_service(
                lambda conn: self._search(conn, base, user_filter, SUBTREE, ["1.1"])
            )
        except DirectoryUnavailable:
            return False
        return bool(found)

    def _lookup(self, conn: Connection, search_filter: str) -> DirectoryUser | None:
        entries = self._search(conn, self.config.base_dn, search_filter, SUBTREE, self.config.requested_attributes())
        if len(entries) != 1:
            if len(entries) > 1:
                log.warning("login matched several directory entries; refusing it (check login_attributes)")
            return None
        return self._to_user(conn, entries[0])

    def _read_own_entry(self, conn: Connection, login: str, bind_name: str) -> DirectoryUser | None:
        attributes = self.config.requested_attributes()
        if "=" in bind_name:  # a DN template: read the entry itself
            entries = self._search(conn, bind_name, "(objectClass=*)", BASE, attributes)
        else:
            search_filter = self.config.search.filter_for(login)
            if search_filter is None:
                return None
            entries = self._search(conn, self.config.base_dn, search_filter, SUBTREE, attributes)
        return self._to_user(conn, entries[0]) if len(entries) == 1 else None

    def _read_dn(self, conn: Connection, dn: str) -> DirectoryUser | None:
        attributes, limit = self.config.requested_attributes(), self.config.search_time_limit
        conn.search(dn, self.config.search.user_filter, BASE, attributes=attributes, size_limit=1, time_limit=limit)
        code = conn.result.get("result")
        if code in (RESULT_NO_SUCH_OBJECT, RESULT_INVALID_DN_SYNTAX):
            return None  # no such entry: an answer, not an outage
        if code not in (RESULT_SUCCESS, RESULT_SIZE_LIMIT):
            raise DirectoryUnavailable(f"search failed: {conn.result.get('description', '')} ({code})")
        entries = [entry for entry in (conn.response or []) if entry.get("type") == "searchResEntry"]
        return self._to_user(conn, entries[0]) if len(entries) == 1 else None

    def _to_user(self, conn: Connection, entry: dict[str, Any]) -> DirectoryUser:
        groups = None
        if self.config.group_membership == "in-chain":
            groups = self._nested_groups(conn, entry["dn"])
        return self.config.reader.read(
            entry["dn"], entry["raw_attributes"], groups, self._now(), self.config.member_attribute
        )

    def _nested_groups(self, conn: Connection, user_dn: str) -> frozenset[str]:
        """AD: which of the groups of interest contain the user, transitively (one extra search)."""
        wanted = self.config.groups_of_interest
        if not wanted:
            return frozenset()
        candidates = "".join(equality("distinguishedName", dn) for dn in wanted)
        search_filter = f"(&(objectClass=group)(member:{ad.IN_CHAIN}:={escape_filter_value(user_dn)})(|{candidates}))"
        entries = self._search(conn, self.config.base_dn, search_filter, SUBTREE, ["1.1"])
        return frozenset(normalize_dn(entry["dn"]) for entry in entries)

    def _search(
        self, conn: Connection, base: str, search_filter: str, scope: str, attributes: list[str]
    ) -> list[dict[str, Any]]:
        conn.search(
            base,
            search_filter,
            scope,
            attributes=attributes,
            size_limit=2,
            time_limit=self.config.search_time_limit,
        )
        code = conn.result.get("result")
        if code not in (RESULT_SUCCESS, RESULT_SIZE_LIMIT):
            description = conn.result.get("description", "")
            if code == RESULT_NO_SUCH_OBJECT:
                log.error("search base %s does not exist on the directory server", base)
            raise DirectoryUnavailable(f"search failed: {description} ({code})")
        return [entry for entry in (conn.response or []) if entry.get("type") == "searchResEntry"]


def _key_filter(user_key: str, value: str) -> str | None:
    """``(entryUUID=...)``; AD's binary ``objectGUID`` from the form AD tools print. None: cannot match."""
    if user_key.lower() == "dn":
        return None
    if user_key.lower() in BINARY_KEYS:
        try:
            raw = uuid.UUID(value).bytes_le
        except ValueError:
            return None
        return f"({user_key}=" + "".join(f"\\{byte:02x}" for byte in raw) + ")"
    return equality(user_key, value)


def _raise_for_bind(ok: bool, result: dict[str, Any]) -> None:
    """Translate a bind's result (and response controls) into the domain's answer."""
    controls = result.get("controls") or {}
    policy_error = ppolicy.error_name(_control_value(controls))
    if ok:
        if policy_error == "changeAfterReset":  # OpenLDAP: a successful but restricted bind
            raise PasswordMustChange("ppolicy changeAfterReset")
        return
    code = result.get("result")
    if code == RESULT_INVALID_CREDENTIALS:
        reason: type[LoginRejected] = ppolicy.rejection(policy_error) or ad.bind_rejection(result.get("message", ""))
        raise reason(f"bind refused ({policy_error or 'invalidCredentials'})")
    description = result.get("description", "")
    log.error("directory refused a bind for a reason other than credentials: %s (%s)", description, code)
    raise DirectoryUnavailable(f"bind failed: {description} ({code})")


def _control_value(controls: dict[str, Any]) -> bytes | None:
    control = controls.get(ppolicy.OID)
    return control.get("value") if isinstance(control, dict) else None
