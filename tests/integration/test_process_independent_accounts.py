"""Nothing the phone receives depends on the process, nor on which replica answered (issue 13, defect 3).

Two real ``python -m gateway serve`` processes (waitress) share one SQLite device store and run
with different ``PYTHONHASHSEED``s. Users with several lines each — a personal line, ``for_each``
lines from the multi-valued ``sipOtherExtension``, three group-granted lines and a flag set by a
group — enrol through gateway A; then their phones' reprovision calls alternate between A and B.
Every one of them must answer ``update: false``: a spurious ``true`` would delete and re-create
the phone's accounts (and drop its calls) for nothing.

The second test points A and B at two slapd servers holding the same entries, one of which
returns each user's ``sipOtherExtension`` values in another order, as replicas may (LDAP
promises no order for an attribute's values).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ldap3 import MODIFY_REPLACE, SUBTREE

from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway

from .conftest import OpenLdapServer
from .directory_admin import OpenLdapAdmin, OpenLdapSandbox, OpenLdapUser

CALLS = 50
#: Each user's extra lines, in the order they are written to the (first) directory.
OTHER_EXTENSIONS = (["2101", "2099", "2100"], ["3120", "3002", "3011"], ["4999", "4100", "4500"], ["5003", "5001"])


@dataclass
class Lab:
    """Two gateway processes on one store, and the users whose phones call them."""

    a: RunningGateway
    b: RunningGateway
    users: list[OpenLdapUser]


def _toml(value: object) -> str:
    return json.dumps(value)  # JSON strings and lists are valid TOML values


def write_config(path: Path, server: OpenLdapServer, site_file: Path, store_url: str) -> Path:
    directory = {
        "servers": [f"ldaps://localhost:{server.ldaps_port}"],
        "ca_file": str(server.ca_cert),
        "base_dn": server.base_dn,
        "bind_dn": server.svc_dn,
        "bind_password": server.svc_pw,
    }
    lines = ["[directory]", *(f"{k} = {_toml(v)}" for k, v in directory.items())]
    lines += ["", "[mapping]", f"file = {_toml(str(site_file))}", "", "[store]", f"url = {_toml(store_url)}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def site_schema(path: Path, shared_groups: Sequence[str], video_group: str) -> Path:
    """The openldap preset (own line + one per sipOtherExtension), plus three shared lines."""
    shared = "".join(
        f"""
[[accounts]]
id = "shared-{n}"
granted_by = {_toml([group])}
sipusername = "70{n}"
authusername = "70{n}"
sippassword = {{ template = "{{sipSecret}}-shared-{n}" }}
video = {{ member_of = {_toml(video_group)} }}
"""
        for n, group in enumerate(shared_groups)
    )
    path.write_text('base = "openldap"\n' + shared)
    return path


def migrate(config: Path) -> None:
    """The store's tables, once, before either instance starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "migrate", "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def call(gateway: RunningGateway, user: OpenLdapUser, *, reprovision: bool, device: str = "phone") -> dict[str, Any]:
    query = urllib.parse.urlencode(
        {
            "username": user.uid,
            "password": user.password,
            "reprovision": "true" if reprovision else "false",
            "deviceId": f"{device}-of-{user.uid}",
        }
    )
    status, _, body = gateway.get(f"/provisioning?{query}")
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    return answer


def make_users(sandbox: OpenLdapSandbox) -> tuple[list[OpenLdapUser], list[str], str]:
    """Users with a personal line, 2-3 for_each lines, 2-3 shared lines; the groups granting them."""
    users = [sandbox.user(f"1{n:03d}", sipOtherExtension=list(others)) for n, others in enumerate(OTHER_EXTENSIONS)]
    shared = [sandbox.group(*(u.dn for u in users)), sandbox.group(*(u.dn for u in users[:3]))]
    shared.append(sandbox.group(*(u.dn for u in users[1:])))
    video = sandbox.group(users[0].dn, users[2].dn)
    return users, shared, video


def start_pair(tmp_path: Path, servers: tuple[OpenLdapServer, OpenLdapServer], site: Path) -> tuple[Any, Any]:
    store_url = f"sqlite:///{tmp_path / 'devices.sqlite3'}"
    configs = [
        write_config(tmp_path / f"gateway-{name}.toml", s, site, store_url)
        for name, s in zip("ab", servers, strict=True)
    ]
    migrate(configs[0])
    a = start_gateway(["--config", str(configs[0])], tmp_path / "a.log", env={"PYTHONHASHSEED": "1"})
    try:
        b = start_gateway(["--config", str(configs[1])], tmp_path / "b.log", env={"PYTHONHASHSEED": "2"})
    except BaseException:
        stop_gateway(a)
        raise
    return a, b


def alternate(lab: Lab) -> list[dict[str, Any]]:
    """Enrol every user's phone through A, then ``CALLS`` reprovision calls alternating A, B, A, ..."""
    first_lines = []
    for user in lab.users:
        enrolled = call(lab.a, user, reprovision=False)
        first_lines.append([account["sipusername"] for account in enrolled["sipaccounts"]])
        assert enrolled["update"] is True and enrolled["errmsg"] == "", enrolled
        assert len(enrolled["sipaccounts"]) >= 5  # personal + for_each + shared lines
        # The same user's tablet, set up through B, receives exactly the same list, in the same order.
        assert call(lab.b, user, reprovision=False, device="tablet") == enrolled
    # Personal line, for_each lines in natural order (not as written), then the shared lines in schema order.
    assert first_lines[0] == ["1000", "2099", "2100", "2101", "700", "701"]
    assert first_lines[3] == ["1003", "5001", "5003", "700", "702"]
    answers = []
    for n in range(CALLS):
        turn, index = divmod(n, len(lab.users))
        # Each phone alternates B, A, B, ... (B first: its first reprovision goes to the other process),
        # and consecutive calls go to different processes.
        gateway = lab.b if (turn + index) % 2 == 0 else lab.a
        answers.append(call(gateway, lab.users[index], reprovision=True))
    return answers


def spurious(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [answer for answer in answers if answer != {"update": False, "sipaccounts": [], "errmsg": ""}]


@pytest.fixture
def two_seed_lab(openldap: OpenLdapServer, openldap_sandbox: OpenLdapSandbox, tmp_path: Path) -> Iterator[Lab]:
    users, shared, video = make_users(openldap_sandbox)
    site = site_schema(tmp_path / "site.toml", shared, video)
    a, b = start_pair(tmp_path, (openldap, openldap), site)
    try:
        yield Lab(a, b, users)
    finally:
        stop_gateway(a)
        stop_gateway(b)


def test_two_gateways_with_different_hash_seeds_send_no_spurious_update(two_seed_lab: Lab) -> None:
    lab = two_seed_lab
    answers = alternate(lab)
    assert spurious(answers) == []
    # Both processes answered, and each says why: unchanged.
    for gateway in (lab.a, lab.b):
        assert gateway.log().count("outcome=unchanged") == CALLS // 2
        for user in lab.users:
            assert user.password not in gateway.log() and user.secret not in gateway.log()


@pytest.fixture
def replica_lab(openldap: OpenLdapServer, second_openldap: OpenLdapServer, tmp_path: Path) -> Iterator[Lab]:
    admins = [OpenLdapAdmin(openldap), OpenLdapAdmin(second_openldap)]
    sandbox = OpenLdapSandbox.replicated(admins)
    try:
        users, shared, video = make_users(sandbox)
        second = admins[1].conn
        for user, others in zip(users, OTHER_EXTENSIONS, strict=True):  # the replica holds the values in another order
            assert second.modify(user.dn, {"sipOtherExtension": [(MODIFY_REPLACE, list(reversed(others)))]})
        assert _values(admins[0], users[0].dn) == OTHER_EXTENSIONS[0]
        assert _values(admins[1], users[0].dn) == list(reversed(OTHER_EXTENSIONS[0]))
        site = site_schema(tmp_path / "site.toml", shared, video)
        a, b = start_pair(tmp_path, (openldap, second_openldap), site)
        try:
            yield Lab(a, b, users)
        finally:
            stop_gateway(a)
            stop_gateway(b)
    finally:
        sandbox.close()
        for admin in admins:
            admin.close()


def _values(admin: OpenLdapAdmin, dn: str) -> list[str]:
    """sipOtherExtension as this server returns it (its order)."""
    assert admin.conn.search(dn, "(objectClass=*)", SUBTREE, attributes=["sipOtherExtension"])
    return [str(v) for v in admin.conn.response[0]["attributes"]["sipOtherExtension"]]


def test_replicas_returning_values_in_another_order_send_no_spurious_update(replica_lab: Lab) -> None:
    answers = alternate(replica_lab)
    assert spurious(answers) == []
