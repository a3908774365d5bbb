"""The device store (DESIGN §7): devices, the audit trail, fingerprint keys, the safety valve.

SQLAlchemy is imported only in this package. SQLite by default (a file, WAL), PostgreSQL by URL
for several instances; other SQLAlchemy databases should work. The schema is versioned with
Alembic: ``python -m gateway migrate`` applies it, and the gateway refuses to start on a store
whose schema is older (or newer) than the one it was built for.
"""
