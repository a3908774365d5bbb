"""SessionTalk external-provisioning gateway backed by an LDAP / Active Directory login.

Layers (DESIGN §1, STYLE): ``web`` (Falcon, the HTTP edge) -> ``service`` (the DESIGN §3
decision table, plain Python) -> ports: ``directory`` (ldap3 only there), ``mapping``
(pure functions from a directory entry to SIP accounts).
"""

__version__ = "0.1.0"
