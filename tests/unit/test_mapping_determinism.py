"""Nothing the phone receives depends on the process or on the order a server returns values.

The account list (and so the fingerprint that decides ``update``) is a function of the schema
and of the user's entry as a *set* of facts: group membership is a frozenset, whose iteration
order changes with ``PYTHONHASHSEED``; and LDAP promises no order for an attribute's values
(RFC 4511 §4.1.7), so two replicas may return ``sipOtherExtension`` in different orders.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.mapping.mapper import map_accounts
from gateway.mapping.presets import load_schema
from gateway.mapping.spec import AttributeSchema
from gateway.models import AttributeValues, DirectoryUser, normalize_dn
from gateway.provisioning.fingerprint import canonical

PROJECT = Path(__file__).resolve().parents[2]
GROUPS = tuple(f"cn=team-{n:02d},ou=groups,dc=example,dc=test" for n in range(40))
#: The openldap preset's two accounts, then three group-granted lines and a flag set by a group.
SHARED = [
    {"id": f"shared-{n}", "granted_by": [GROUPS[n], GROUPS[30]] if n else GROUPS[n], "sipusername": f"30{n}"}
    for n in range(3)
]


def multi_line_schema() -> AttributeSchema:
    base = load_schema(preset="openldap")
    accounts = [account.model_dump(by_alias=True, exclude_none=True) for account in base.accounts]
    for line in SHARED:
        accounts.append(
            {**line, "sippassword": {"attribute": "sipSecret"}, "transport": "TLS", "video": {"member_of": GROUPS[20]}}
        )
    return AttributeSchema.model_validate({"directory": base.directory.model_dump(), "accounts": accounts})


def multi_line_user(groups: frozenset[str], other_extensions: list[str]) -> DirectoryUser:
    values = {"sipExtension": ["1001"], "sipSecret": ["s3cret"], "sipOtherExtension": other_extensions}
    return DirectoryUser(dn="uid=joe,dc=example,dc=test", key="k", attributes=AttributeValues(values), groups=groups)


def test_groups_in_any_insertion_order_give_identical_accounts() -> None:
    schema = multi_line_schema()
    member_of = [normalize_dn(g) for g in GROUPS]
    # The same set built in different insertion orders (these iterate differently in this process).
    built = [frozenset(member_of), frozenset(reversed(member_of)), frozenset(member_of[1::2] + member_of[::2])]
    assert len({tuple(groups) for groups in built}) > 1, "the orders should differ for this test to mean anything"
    results = [map_accounts(multi_line_user(groups, ["2001", "2002"]), schema) for groups in built]
    assert all(result == results[0] for result in results)
    assert [a.sipusername for a in results[0].accounts] == ["1001", "2001", "2002", "300", "301", "302"]


def test_accounts_and_their_fingerprint_bytes_do_not_depend_on_the_hash_seed() -> None:
    """The pure mapping run in processes with different PYTHONHASHSEEDs gives the same bytes."""
    script = (
        "from tests.unit.test_mapping_determinism import multi_line_schema, multi_line_user, GROUPS\n"
        "from gateway.provisioning.fingerprint import canonical\n"
        "from gateway.mapping.mapper import map_accounts\n"
        "from gateway.models import normalize_dn\n"
        "groups = frozenset(normalize_dn(g) for g in GROUPS[::3])\n"
        "result = map_accounts(multi_line_user(groups, ['2003', '2001', '2002']), multi_line_schema())\n"
        "print(canonical(result.accounts).decode())\n"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    lines = [account["sipusername"] for account in json.loads(outputs.pop())]
    assert lines[0] == "1001" and sorted(lines[1:4]) == ["2001", "2002", "2003"] and lines[4:] == ["300", "301", "302"]


def test_for_each_lines_do_not_depend_on_the_order_the_directory_returns_values() -> None:
    """Two replicas returning sipOtherExtension in different orders give the phone the same list."""
    schema = multi_line_schema()
    groups = frozenset(normalize_dn(g) for g in (GROUPS[0], GROUPS[30]))
    values = ["2010", "2002", "2100", "2001"]
    results = {
        canonical(map_accounts(multi_line_user(groups, list(order)), schema).accounts)
        for order in itertools.permutations(values)
    }
    assert len(results) == 1
    lines = [account["sipusername"] for account in json.loads(results.pop())]
    assert lines == ["1001", "2001", "2002", "2010", "2100", "300", "301", "302"]


def test_for_each_values_differing_only_in_case_give_one_line_whatever_their_order() -> None:
    schema = multi_line_schema()
    first = map_accounts(multi_line_user(frozenset(), ["ext-A", "ext-a"]), schema)
    second = map_accounts(multi_line_user(frozenset(), ["ext-a", "ext-A"]), schema)
    assert first == second
    assert [a.sipusername for a in first.accounts] == ["1001", "ext-A"]


def test_for_each_lines_come_in_natural_order_numbers_by_value() -> None:
    schema = multi_line_schema()
    result = map_accounts(multi_line_user(frozenset(), ["2100", "ext-10", "210", "ext-9", "0210", "21000"]), schema)
    assert [a.sipusername for a in result.accounts] == ["1001", "0210", "210", "2100", "21000", "ext-9", "ext-10"]
