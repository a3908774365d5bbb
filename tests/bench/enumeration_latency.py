"""How long do failed sign-ins take, by cause? (DESIGN §6: no enumeration by timing.)

Measures, against a real slapd started for the run (and the Samba AD DC when
``tests/servers/samba.sh`` is running), the gateway's answer time for each cause the caller
must not be able to tell apart: unknown user, wrong password, locked, not entitled (and disabled
on AD) — with the response-time floor off and on. Prints a table and writes JSON.

    .venv/bin/python -m tests.bench.enumeration_latency [--samples 100] [--out results.json]

Not a test: the numbers depend on the machine. docs/security.md records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from falcon.testing import TestClient
from ldap3 import Connection, Server

from gateway.app import build_gateway
from gateway.settings import AttemptsSettings, SecuritySettings, Settings, StoreSettings
from gateway.store.engine import create_store_engine
from gateway.store.revisions import upgrade

ROOT = Path(__file__).resolve().parents[2]
DIRLAB = Path(os.environ.get("DIRLAB", "/tmp/gateway-dirlab"))


def start_slapd() -> dict[str, str]:
    subprocess.run(
        ["bash", str(ROOT / "tests/servers/openldap.sh")],
        env={**os.environ, "INSTANCE": "bench-enum"},
        check=True,
        capture_output=True,
    )
    env = dict(line.split("=", 1) for line in (DIRLAB / "bench-enum/openldap.env").read_text().split() if "=" in line)
    # A policy without lockout for the wrong-password case, so the run itself locks nobody.
    admin = Connection(
        Server("127.0.0.1", int(env["LDAP_PORT"])), env["LDAP_ADMIN_DN"], env["LDAP_ADMIN_PW"], auto_bind=True
    )
    base = env["LDAP_BASE"]
    admin.add(
        f"cn=nolockout,ou=policies,{base}",
        ["device", "pwdPolicy"],
        {"cn": "nolockout", "pwdAttribute": "userPassword", "pwdLockout": "FALSE"},
    )
    admin.modify(
        f"uid=alice,ou=people,{base}", {"pwdPolicySubentry": [("MODIFY_REPLACE", [f"cn=nolockout,ou=policies,{base}"])]}
    )
    admin.unbind()
    return env


def slapd_settings(env: dict[str, str], store: StoreSettings, floor_ms: int) -> Settings:
    return Settings(
        directory={  # type: ignore[arg-type]
            "servers": [f"ldaps://localhost:{env['LDAPS_PORT']}"],
            "ca_file": env["LDAP_CA_CERT"],
            "base_dn": env["LDAP_BASE"],
            "bind_dn": env["LDAP_SVC_DN"],
            "bind_password": env["LDAP_SVC_PW"],
            "required_groups": [f"cn=sip-users,ou=groups,{env['LDAP_BASE']}"],
        },
        mapping={"preset": "openldap"},  # type: ignore[arg-type]
        store=store,
        attempts=AttemptsSettings(per_account="", per_source=""),
        security=SecuritySettings(failure_floor_ms=floor_ms),
    )


SLAPD_CASES = {
    "unknown user": ("nobody-here", "whatever-1"),
    "wrong password": ("alice", "not-alices-password"),
    "locked": ("carol", "carolpw"),
    "not entitled": ("bob", "bobpw"),  # bob is only in sip-ops (nested): the overlay gives direct groups
}


def measure(client: TestClient, username: str, password: str, samples: int) -> list[float]:
    times = []
    expected = None
    for _ in range(samples):
        params = {"username": username, "password": password, "reprovision": "false", "deviceId": uuid.uuid4().hex}
        started = time.perf_counter()
        response = client.simulate_get("/provisioning", params=params)
        times.append((time.perf_counter() - started) * 1000)
        expected = expected or response.content
        assert response.content == expected and b'"update": false' in response.content
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": round(statistics.median(ordered), 1),
        "p90": round(pick(0.9), 1),
        "p99": round(pick(0.99), 1),
        "max": round(ordered[-1], 1),
        "min": round(ordered[0], 1),
    }


def run(samples: int) -> dict[str, dict[str, dict[str, float]]]:
    env = start_slapd()
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for floor in (0, 150):
            folder = Path(tempfile.mkdtemp())
            url = f"sqlite:///{folder / 'devices.sqlite3'}"
            upgrade(create_store_engine(url))
            client = TestClient(build_gateway(slapd_settings(env, StoreSettings(url=url), floor)).app)  # type: ignore[arg-type]
            bodies = set()
            for case, (username, password) in SLAPD_CASES.items():
                times = measure(client, username, password, samples)
                results.setdefault(f"openldap, floor {floor} ms", {})[case] = summary(times)
                bodies.add(
                    client.simulate_get(
                        "/provisioning",
                        params={"username": username, "password": password, "reprovision": "false", "deviceId": "x"},
                    ).content
                )
            assert len(bodies) == 1, "the answers must be byte-identical"
    finally:
        subprocess.run(
            ["bash", str(ROOT / "tests/servers/openldap.sh"), "stop"],
            env={**os.environ, "INSTANCE": "bench-enum"},
            check=False,
            capture_output=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "tests/bench/results/enumeration_latency.json")
    args = parser.parse_args()
    results = run(args.samples)
    print(f"failed sign-in answer time in ms, {args.samples} samples per case (p50 / p90 / p99 / max)")
    for setup, cases in results.items():
        print(f"\n{setup}")
        for case, s in cases.items():
            print(f"  {case:<16} {s['p50']:7.1f} {s['p90']:7.1f} {s['p99']:7.1f} {s['max']:7.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
