"""nginx from Debian's packages in front of the gateway, with the documented site config:
the provisioning call works through TLS, the client address reaches the gateway, and nginx's
logs hold no password."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningGateway, free_port, start_gateway, stop_gateway

SITE = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx-sessiontalk-gateway.conf"
PASSWORD = "7578743843"
SEED = f"/provisioning?username=jbloggs&password={PASSWORD}&reprovision=false&deviceId=3kQs875391li29"


@dataclass
class Nginx:
    url: str
    folder: Path
    ca: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        context = ssl.create_default_context(cafile=str(self.ca))
        request = urllib.request.Request(
            self.url + path, headers={"User-Agent": "SessionTalk/6.0.0", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in (self.folder / "logs").glob("*.log"))


def make_certificate(folder: Path) -> tuple[Path, Path, Path]:
    run = lambda *args: subprocess.run(args, check=True, capture_output=True)  # noqa: E731
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.crt", "site.key", "site.csr", "site.crt"))
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=nginx test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    )
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=localhost",
    )
    ext = folder / "site.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return ca, cert, key


def site_config(upstreams: list[int], port: int, cert: Path, key: Path, logs: Path) -> str:
    """The documented site with this test's ports, certificate and log folder."""
    text = SITE.read_text()
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams)
    text = text.replace(
        "    server 127.0.0.1:8080;          # server.port; add a line per instance when scaling out\n", servers
    )
    replacements = {
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/ssl/certs/provisioning.example.com.pem": str(cert),
        "/etc/ssl/private/provisioning.example.com.key": str(key),
        "/var/log/nginx/": f"{logs}/",
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def nginx_in_front(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (tests/run.sh installs it)")
    started: list[subprocess.Popen[bytes]] = []

    def start(upstreams: list[int]) -> Nginx:
        folder = tmp_path / "nginx"
        (folder / "logs").mkdir(parents=True)
        ca, cert, key = make_certificate(folder)
        port = free_port()
        (folder / "nginx.conf").write_text(
            "worker_processes 1;\npid nginx.pid;\nerror_log logs/main-error.log warn;\n"
            "events { worker_connections 64; }\n"
            "http {\n  access_log logs/main-access.log;\n"
            f"  client_body_temp_path {folder}/tmp; proxy_temp_path {folder}/tmp;\n"
            f"{site_config(upstreams, port, cert, key, folder / 'logs')}\n}}\n"
        )
        (folder / "tmp").mkdir()
        process = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off; user root;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append(process)
        proxy = Nginx(f"https://localhost:{port}", folder, ca)
        for _ in range(100):
            try:
                proxy.get("/")
                return proxy
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not start: {process.stderr.read() if process.stderr else ''}")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def test_provisioning_through_nginx_keeps_the_password_out_of_its_logs(
    nginx_in_front: callable,
    demo_ldif: Path,
    tmp_path: Path,  # type: ignore[valid-type]
) -> None:
    env = {
        "GATEWAY_STORE__URL": f"sqlite:///{tmp_path / 'devices.sqlite3'}",
        "GATEWAY_SERVER__TRUSTED_PROXY": "127.0.0.1",
    }
    gateway: RunningGateway = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "gw.log", env=env)
    try:
        proxy = nginx_in_front([int(gateway.base_url.rsplit(":", 1)[1])])
        status, body = proxy.get(SEED)
        assert status == 200
        assert json.loads(body)["sipaccounts"][0]["sipusername"] == "1001"
        assert proxy.get(SEED.replace(PASSWORD, "Wrong-Pass-1").replace("3kQs", "zzzz"))[0] == 200
        assert proxy.get("/admin?password=" + PASSWORD)[0] == 404
        logs = proxy.logs()
        assert "GET /provisioning HTTP/1.1" in logs
        assert PASSWORD not in logs and "Wrong-Pass-1" not in logs
        assert "source=127.0.0.1" in gateway.log()  # the client, as nginx saw it, is loopback here
    finally:
        stop_gateway(gateway)
