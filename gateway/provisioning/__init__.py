"""The service layer: the DESIGN §3 decision and everything a call needs before and after it.

Plain Python: no HTTP, no LDAP, no SQL. It depends on ports (``ports.py``), never on falcon,
ldap3 or SQLAlchemy.
"""
