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

``gateway.provisioning.ports.Directory`` is the interface the service sees (a port of the service,
so that the service imports nothing of this package); ``ldap.LdapDirectory`` implements it over a
connection factory (``connection.LdapConnectionFactory`` for real servers,
``demo.DemoConnectionFactory`` for the built-in LDIF directory).
"""

from __future__ import annotations
