"""docs/scale-out.md: two gateway processes on one PostgreSQL and one Redis, behind nginx's round
robin, behave like one gateway (DESIGN §7). The store is migrated once before the instances
start; a phone enrols through nginx; its reprovision calls alternate between the instances and
all answer ``update: false``; a change is announced once; and failed logins counted by one
instance throttle the same account at the other.

Redis is the machine's, shared with other tests and never flushed: this test's users are new
names (so new keys) on every run.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway
from tests.support.nginx import Nginx, NginxLauncher
from tests.support.postgres import private_schema

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
REDIS_URL = "redis://127.0.0.1:6379/0"
QUERY = "/provisioning?username={user}&password={password}&reprovision={reprovision}&deviceId={device}"


def add_user(ldif: Path, uid: str, password: str, secret: str) -> None:
    """A phone user of this test's own in the demo directory (a member of phone-users)."""
    text = ldif.read_text().replace(
        "member: uid=jbloggs,ou=people,dc=example,dc=com\n",
        f"member: uid=jbloggs,ou=people,dc=example,dc=com\nmember: uid={uid},ou=people,dc=example,dc=com\n",
        1,
    )
    ldif.write_text(
        text + f"\ndn: uid={uid},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nobjectClass: sipAccount\n"
        f"uid: {uid}\ncn: {uid}\nsn: Test\nsipExtension: 1501\nsipSecret: {secret}\nuserPassword: {password}\n"
    )


def call(target: RunningGateway | Nginx, user: str, password: str, reprovision: str, device: str) -> dict[str, object]:
    """One call, straight to an instance or through nginx; the JSON answer (asserting 200)."""
    status, *_, body = target.get(QUERY.format(user=user, password=password, reprovision=reprovision, device=device))
    assert status == 200
    answer: dict[str, object] = json.loads(body)
    return answer


def outcomes(gateway: RunningGateway) -> list[str]:
    return re.findall(r"outcome=(\w+)", gateway.log())


@pytest.fixture
def redis_running() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")


def test_two_instances_behind_nginx_on_one_postgresql_and_redis_behave_as_one(
    redis_running: None, demo_ldif: Path, tmp_path: Path
) -> None:
    user, password = f"scale-{uuid.uuid4().hex[:10]}", "Scale-Out-7"
    add_user(demo_ldif, user, password, secret="first-secret")
    with private_schema() as store_url, NginxLauncher(tmp_path) as nginx:
        env = {
            "GATEWAY_STORE__URL": store_url,
            "GATEWAY_ATTEMPTS__STORAGE_URL": REDIS_URL,
            "GATEWAY_ATTEMPTS__PER_ACCOUNT": "2/15 minutes",
            "GATEWAY_ATTEMPTS__PER_SOURCE": "",  # every call comes from 127.0.0.1 here
            "GATEWAY_SERVER__TRUSTED_PROXY": "127.0.0.1",
        }
        # Once, before any instance starts, with the instances' store (the directory is not contacted).
        config = tmp_path / "gateway.toml"
        config.write_text(
            '[directory]\nservers = ["ldaps://ldap.example.invalid"]\nbase_dn = "dc=example,dc=com"\n'
            'bind_dn = "cn=gateway,dc=example,dc=com"\nbind_password = "unused"\n'
        )
        migrated = subprocess.run(
            [sys.executable, "-m", "gateway", "migrate", "--config", str(config)],
            env={**_environ(), **env}, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert migrated.returncode == 0 and "device store schema: empty -> " in migrated.stdout, migrated.stderr
        a = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "a.log", env=env)
        b = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "b.log", env=env)
        try:
            ports = {int(g.base_url.rsplit(":", 1)[1]): name for g, name in ((a, "a"), (b, "b"))}
            proxy = nginx(list(ports))

            enrolled = call(proxy, user, password, "false", "phone-1")
            assert enrolled["update"] is True and enrolled["errmsg"] == ""

            # Reprovision calls: round robin over both instances, each sees the shared device record.
            for _ in range(6):
                assert call(proxy, user, password, "true", "phone-1") == {
                    "update": False,
                    "sipaccounts": [],
                    "errmsg": "",
                }
            upstreams = [ports[int(p)] for p in re.findall(r"upstream=127\.0\.0\.1:(\d+) 200", proxy.logs())]
            assert len(upstreams) == 7 and all(x != y for x, y in itertools.pairwise(upstreams))

            # A change in the directory is announced to the phone exactly once, whichever instance sees it first.
            demo_ldif.write_text(demo_ldif.read_text().replace("sipSecret: first-secret", "sipSecret: second-secret!"))
            answers = [call(proxy, user, password, "true", "phone-1") for _ in range(6)]
            updates = [answer for answer in answers if answer["update"]]
            assert len(updates) == 1, answers
            assert updates[0]["sipaccounts"][0]["sippassword"] == "second-secret!"  # type: ignore[index]
            assert outcomes(a).count("changed") + outcomes(b).count("changed") == 1

            # Attempt limits are shared: two failures at A use up the account's limit at B too.
            # (Two different wrong passwords: the same one again from the same phone is not even tried.)
            failed = {"update": False, "sipaccounts": [], "errmsg": "Sign-in failed. Check your username and password."}
            for wrong in ("not-the-password", "nor-this-one"):
                assert call(a, user, wrong, "false", "phone-2") == failed
            assert call(b, user, "a-third-guess", "false", "phone-3") == failed
            assert outcomes(a)[-2:] == ["login_failed", "login_failed"] and outcomes(b)[-1] == "rate_limited"
            # The known-phone memory is shared too (Redis): while the limit is full, the enrolled phone
            # is answered quietly at either instance, and a new phone with the password it signs in
            # with gets in; a stranger's failures never show on the user's phones.
            for instance in (a, b):
                assert call(instance, user, password, "true", "phone-1") == {
                    "update": False,
                    "sipaccounts": [],
                    "errmsg": "",
                }
                assert outcomes(instance)[-1] == "rate_limited"
            assert call(b, user, password, "false", "phone-2")["update"] is True

            for log in (a.log(), b.log(), proxy.logs()):
                assert password not in log and "second-secret" not in log
        finally:
            stop_gateway(a)
            stop_gateway(b)


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
