"""Hostile inputs tried against every directory: known LDAP-injection payloads and odd bytes."""

LDAP_INJECTION = [
    "*",
    "**",
    "*)(uid=*",
    "*)(|(uid=*",
    "*)(objectClass=*",
    "jbloggs)(|(uid=*",
    "jbloggs)(&)",
    "jbloggs*",
    "*jbloggs*",
    "j*s",
    "*)(&",
    ")(cn=*))(|(cn=*",
    "admin*)((|userPassword=*)",
    "*)(userPassword=*)(|(uid=*",
    "(|(uid=*))",
    "admin)(!(&(1=0",
    "*()|&'",
    "\\2a",
    "jbloggs\\29",
    "jbloggs\\",
    "uid=jbloggs,ou=people,dc=example,dc=com",
    "cn=admin,dc=example,dc=com",
    "x' or '1'='1",
    "jbloggs)(sAMAccountName=*",
    "*)(memberOf=*",
    "DIRLAB\\*",
    "*@dirlab.test",
    "alice)(|(objectClass=*",
]

PASSWORD_PAYLOADS = ["*", ")(", "*)(uid=*", "\\2a", "' or 1=1 --", "(|(userPassword=*))", "\\00"]
