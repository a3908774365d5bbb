"""The built-in demo: a sample directory (LDIF) and the attribute schema that reads it.

``python -m gateway serve --demo`` answers the seed's own request for ``jbloggs`` /
``7578743843`` with no other set-up. Edit a copy of ``directory.ldif`` and pass it with
``--demo-directory FILE`` to watch phones react to directory changes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_DIRECTORY = Path(str(resources.files(__name__) / "directory.ldif"))
DEMO_SCHEMA = Path(str(resources.files(__name__) / "schema.toml"))
PHONE_USERS_GROUP = "cn=phone-users,ou=groups,dc=example,dc=com"
