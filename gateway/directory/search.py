"""The one place where user input becomes LDAP filter or DN text (RFC 4515 / RFC 4514 escaping)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from gateway.directory.ad import IN_CHAIN
from gateway.models import ATTRIBUTE_TYPE

#: An attribute description as RFC 4512 allows it: a name or a numeric OID.
ATTRIBUTE_NAME = re.compile(ATTRIBUTE_TYPE)


def escape_filter_value(value: str) -> str:
    """Escape ``* ( ) \\ NUL`` (and non-ASCII safely) for use inside a filter assertion."""
    return str(escape_filter_chars(value))


def escape_dn_value(value: str) -> str:
    """Escape a value for use as an RDN value (``, + " \\ < > ; =``, leading/trailing space, ``#``)."""
    return str(escape_rdn(value))


def equality(attribute: str, value: str) -> str:
    """``(attribute=value)`` with the value escaped; the attribute name is checked, not escaped."""
    if not ATTRIBUTE_NAME.fullmatch(attribute):
        raise ValueError(f"not an attribute name: {attribute!r}")
    return f"({attribute}={escape_filter_value(value)})"


def any_of(filters: list[str]) -> str:
    return filters[0] if len(filters) == 1 else "(|" + "".join(filters) + ")"


@dataclass(frozen=True)
class UserSearch:
    """How a typed login becomes the service account's search filter.

    ``DOMAIN\\name`` is searched as ``name`` in ``sAMAccountName`` (or the first login attribute);
    when ``netbios_domain`` is set, another domain prefix matches nobody.
    """

    base_dn: str
    user_filter: str
    login_attributes: tuple[str, ...]
    netbios_domain: str = ""

    def filter_for(self, login: str) -> str | None:
        """The search filter for this login, or ``None`` when it cannot match any user."""
        if "\\" in login:
            domain, _, name = login.partition("\\")
            if not name or (self.netbios_domain and domain.lower() != self.netbios_domain.lower()):
                return None
            attribute = next(
                (a for a in self.login_attributes if a.lower() == "samaccountname"), self.login_attributes[0]
            )
            return f"(&{self.user_filter}{equality(attribute, name)})"
        alternatives = [equality(attribute, login) for attribute in self.login_attributes]
        return f"(&{self.user_filter}{any_of(alternatives)})"


def direct_bind_name(template: str, login: str) -> str:
    """The bind name for direct mode: ``{username}`` in a DN template is RDN-escaped."""
    value = escape_dn_value(login) if "=" in template else login
    return template.replace("{username}", value)


def member_of_any(attribute: str, group_dns: list[str], *, in_chain: bool = False) -> str:
    """``(|(memberOf=g1)(memberOf=g2))``; with ``in_chain`` AD's transitive rule (``ad.IN_CHAIN``)."""
    rule = f":{IN_CHAIN}:" if in_chain else ""
    return any_of([f"({attribute}{rule}={escape_filter_value(dn)})" for dn in group_dns])
