"""The directory port: finding users and checking passwords. ``ldap3`` is imported only here.

Vocabulary (as in django-auth-ldap):

- *login*: what the user typed as username (``jbloggs``, ``jbloggs@corp.example``,
  ``CORP\\jbloggs``); never trusted, escaped in ``search`` before it reaches a filter or DN.
- *user DN* (``user_dn``): the distinguished name of the user's entry, found by the service account's
  search (search mode) or built from a template (direct mode).
- *entry attributes*: the attributes the search returns; exactly what the attribute schema,
  the entitlement check and the account-state checks need, in one round trip.
- *user key*: the entry's immutable id (AD ``objectGUID``, OpenLDAP ``entryUUID``), which
  survives renames; devices are recorded against it.
- *bind*: checking the password by authenticating as the user DN, on a connection no other
  thread uses at that moment.

``Directory`` is the interface the service sees; ``ldap.LdapDirectory`` implements it over a
connection factory (``connection.LdapConnectionFactory`` for real servers,
``demo.DemoConnectionFactory`` for the built-in LDIF directory).
"""

from __future__ import annotations

from typing import Protocol

from gateway.models import DirectoryUser


class Directory(Protocol):
    """What the provisioning service needs from a directory."""

    @property
    def searches_before_bind(self) -> bool:
        """True in search mode: ``find_user`` can answer before any password is checked."""

    def find_user(self, login: str) -> DirectoryUser | None:
        """Search the user with the service account. ``None``: no such user (definitive).

        Raises ``DirectoryUnavailable`` when no server answered definitively.
        """

    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        """Bind as the user; return the entry (read after the bind in direct mode).

        Raises a ``LoginRejected`` subclass saying why, or ``DirectoryUnavailable``.
        """

    def canary(self) -> bool:
        """Does the search base still hold users? Checked before a user counts as deleted, so a
        wrong base DN or filter, or a lost ACL, looks like an outage and signs no phone out."""
