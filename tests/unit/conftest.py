"""Fast tier: the demo (ldap3 mock) directory behind Falcon's TestClient."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from falcon.testing import TestClient

from gateway.app import build_directory, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.settings import Settings, StoreSettings

SEED_QUERY = "username=jbloggs&password=7578743843&reprovision=false&deviceId=3kQs875391li29"


@pytest.fixture
def demo_client(demo_ldif: Path, store_settings: StoreSettings) -> TestClient:
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory, store=store_settings)
    return TestClient(create_app(settings, directory=build_directory(settings, factory)))


@pytest.fixture
def provision(demo_client: TestClient) -> Callable[..., dict[str, object]]:
    """Call the provisioning endpoint with query parameters; return the JSON body (asserting 200)."""

    def call(**params: str) -> dict[str, object]:
        query = {"reprovision": "false", "deviceId": "device-1", **params}
        response = demo_client.simulate_get("/provisioning", params=query)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json
        return body

    return call


@pytest.fixture
def settings_for(store_settings: StoreSettings) -> Callable[..., Settings]:
    """Build ``Settings`` explicitly (never from the host's environment or files)."""

    def build(**directory: object) -> Settings:
        base: dict[str, object] = {
            "servers": ("ldaps://dc1.example.test",),
            "base_dn": "DC=example,DC=test",
            "bind_dn": "CN=svc-gateway,OU=Service,DC=example,DC=test",
            "bind_password": "service-secret",
        }
        base.update(directory)
        return Settings(directory=base, store=store_settings)  # type: ignore[arg-type]

    return build
