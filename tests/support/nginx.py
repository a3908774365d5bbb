"""Debian's nginx in front of gateway processes, with the documented site file
(docs/deploy/nginx-sessiontalk-gateway.conf): only ports, certificate and log folder are changed.

    with NginxLauncher(tmp_path) as launch:
        proxy = launch([gateway_port_a, gateway_port_b])   # upstream servers, round robin
        status, body = proxy.get("/provisioning?...")
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx-sessiontalk-gateway.conf"
NGINX = "/usr/sbin/nginx"
UPSTREAM_LINE = "    server 127.0.0.1:8080;          # server.port; add a line per instance when scaling out\n"


def free_port() -> int:
    """A TCP port nothing listens on right now (for servers the tests start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Nginx:
    url: str
    folder: Path
    ca: Path
    answered: int = 0  # requests nginx answered through this object

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """GET over TLS (the test CA), as the app does; non-2xx answers are returned, not raised."""
        context = ssl.create_default_context(cafile=str(self.ca))
        request = urllib.request.Request(
            self.url + path, headers={"User-Agent": "SessionTalk/6.0.0", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                answer = error.code, error.read()
        self.answered += 1
        return answer

    def logs(self) -> str:
        """Everything nginx wrote: the site's access and error logs and the main error log.

        nginx logs a request after the answer has gone out: wait (a little) until the site's
        access log has a line for every request answered through ``get``."""
        access = self.folder / "logs" / "sessiontalk-gateway.access.log"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if access.exists() and len(access.read_text(errors="replace").splitlines()) >= self.answered:
                break
            time.sleep(0.02)
        return "".join(p.read_text(errors="replace") for p in sorted((self.folder / "logs").glob("*.log")))


def make_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate for localhost / 127.0.0.1 signed by it: (ca, cert, key)."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.crt", "site.key", "site.csr", "site.crt"))
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=nginx test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    ext = folder / "site.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return ca, cert, key


def site_config(upstreams: list[int], port: int, cert: Path, key: Path, logs: Path) -> str:
    """The documented site with this test's upstream ports, listen port, certificate and log folder."""
    text = SITE.read_text()
    assert UPSTREAM_LINE in text, "the documented site's upstream line changed"
    text = text.replace(UPSTREAM_LINE, "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams))
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


class NginxLauncher:
    """Starts nginx processes (each in a folder of its own under ``root``) and stops them on exit."""

    def __init__(self, root: Path, worker_connections: int = 64) -> None:
        if shutil.which("nginx") is None and not Path(NGINX).exists():
            pytest.skip("nginx is not installed (tests/run.sh installs it)")
        self._root = root
        self._worker_connections = worker_connections  # clients and upstream connections together
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> NginxLauncher:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self._processes:
            process.terminate()
            process.wait(timeout=10)
            if process.stderr:
                process.stderr.close()

    def __call__(self, upstreams: list[int]) -> Nginx:
        """nginx with the documented site proxying to ``upstreams`` (gateway ports), ready to answer."""
        folder = self._root / f"nginx{len(self._processes) + 1}"
        (folder / "logs").mkdir(parents=True)
        (folder / "tmp").mkdir()
        ca, cert, key = make_certificate(folder)
        port = free_port()
        (folder / "nginx.conf").write_text(
            "worker_processes 1;\npid nginx.pid;\nerror_log logs/main-error.log warn;\n"
            f"events {{ worker_connections {self._worker_connections}; }}\n"
            "http {\n  access_log logs/main-access.log;\n"
            f"  client_body_temp_path {folder}/tmp; proxy_temp_path {folder}/tmp;\n"
            f"{site_config(upstreams, port, cert, key, folder / 'logs')}\n}}\n"
        )
        process = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off; user root;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._processes.append(process)
        proxy = Nginx(f"https://localhost:{port}", folder, ca)
        for _ in range(200):
            if process.poll() is not None:
                break
            try:
                proxy.get("/")
                return proxy
            except OSError:
                time.sleep(0.05)
        error = process.stderr.read().decode(errors="replace") if process.poll() is not None and process.stderr else ""
        raise AssertionError(f"nginx did not start: {error}")
