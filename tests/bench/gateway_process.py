"""The gateway under test: a configuration file, ``migrate``, then ``serve`` under waitress.

The gateway is measured as a black box: the same command an admin runs
(``python -m gateway serve --config FILE --port 0 --threads N --no-admin``), with logging at
its default level (one line per request, to a file, as in production).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.bench.processes import Listener, start_listener
from tests.bench.targets import DirectoryTarget

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _toml(value: object) -> str:
    return json.dumps(value)  # JSON strings, lists and numbers are valid TOML values


def write_config(path: Path, target: DirectoryTarget, store_url: str) -> Path:
    directory = {
        "servers": [target.ldaps_url],
        "ca_file": str(target.ca_file),
        "base_dn": target.base_dn,
        "bind_dn": target.service_dn,
        "bind_password": target.service_password,
        "required_groups": list(target.required_groups),
    }
    if target.netbios_domain:
        directory["netbios_domain"] = target.netbios_domain
    lines = ["[directory]", *(f"{k} = {_toml(v)}" for k, v in directory.items())]
    lines += ["", "[mapping]", f"preset = {_toml(target.preset)}"]
    lines += ["", "[store]", f"url = {_toml(store_url)}"]
    lines += ["", "[devices]", "max_per_user = 100000  # the most the settings allow: load enrols many phones"]
    lines += ["", "[attempts]", 'per_account = ""', 'per_source = ""  # limits off: every request succeeds']
    path.write_text("\n".join(lines) + "\n")
    return path


class PostgresSchema:
    """A private schema in the machine's PostgreSQL, dropped afterwards."""

    def __init__(self) -> None:
        import psycopg

        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        self._psycopg = psycopg
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')  # a generated identifier, no user input

    @property
    def url(self) -> str:
        return f"{POSTGRES_URL}?options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        with self._psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


@dataclass
class GatewayProcess:
    listener: Listener
    store: str
    schema: PostgresSchema | None = None

    @property
    def pid(self) -> int:
        return self.listener.pid

    @property
    def url(self) -> str:
        return self.listener.base_url + "/provisioning"

    def stop(self) -> None:
        self.listener.stop()
        if self.schema is not None:
            self.schema.drop()


def start_gateway(target: DirectoryTarget, folder: Path, threads: int, store: str = "sqlite") -> GatewayProcess:
    """Write the config, create the store, start ``serve``; returns once it listens."""
    folder.mkdir(parents=True, exist_ok=True)
    schema = PostgresSchema() if store == "postgresql" else None
    try:
        store_url = schema.url if schema else f"sqlite:///{folder / 'devices.sqlite3'}"
        config = write_config(folder / "gateway.toml", target, store_url)
        gateway = [sys.executable, "-m", "gateway"]
        subprocess.run([*gateway, "migrate", "--config", str(config)], check=True, capture_output=True)
        listener = start_listener(
            [*gateway, "serve", "--config", str(config), "--port", "0", "--threads", str(threads), "--no-admin"],
            folder / "gateway.log",
        )
    except BaseException:
        if schema is not None:
            schema.drop()
        raise
    return GatewayProcess(listener, store, schema)


def enrol_devices(url: str, pairs: list[tuple[str, str, str]], workers: int = 8) -> int:
    """Enrol each (login, password, deviceId) once, so reprovision load finds them enrolled.
    Returns how many were refused (should be 0)."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlencode
    from urllib.request import urlopen

    def enrol(pair: tuple[str, str, str]) -> bool:
        login, password, device_id = pair
        query = urlencode({"username": login, "password": password, "reprovision": "false", "deviceId": device_id})
        with urlopen(f"{url}?{query}", timeout=30) as answer:  # a loopback URL we started
            body = json.loads(answer.read())
        return bool(body["update"] and body["sipaccounts"])

    with ThreadPoolExecutor(workers) as pool:
        return sum(not ok for ok in pool.map(enrol, pairs))
