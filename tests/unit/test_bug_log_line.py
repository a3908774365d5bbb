"""A bug's log line: at ERROR, with the request id of the call it broke, and nothing secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from falcon.testing import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.models import DirectoryUser
from gateway.settings import MessagesSettings, SecuritySettings, StoreSettings

TOKEN = "secret-path-token-0123456789"
PASSWORD = "7578743843"


class BrokenDirectory:
    searches_before_bind = True

    def find_user(self, login: str) -> DirectoryUser | None:
        raise TypeError(f"a bug while looking up {login} with {PASSWORD}")

    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        raise AssertionError("not reached")


def test_a_bug_is_logged_at_error_with_the_request_id_and_never_the_path_token_or_password(
    demo_ldif: Path, store_settings: StoreSettings, caplog: pytest.LogCaptureFixture
) -> None:
    security = SecuritySettings(path_token=SecretStr(TOKEN))
    settings = demo_settings(demo_factory(demo_ldif), store=store_settings, security=security)
    client = TestClient(create_app(settings, directory=BrokenDirectory()))  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    query = {"username": "jbloggs", "password": PASSWORD, "reprovision": "false", "deviceId": "phone-1"}
    response = client.simulate_get(f"/provisioning/{TOKEN}", params=query)
    assert response.status_code == 500
    assert response.json == {"update": False, "sipaccounts": [], "errmsg": MessagesSettings().unavailable}
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    [request_line] = [r for r in caplog.records if r.name == "gateway.requests"]
    request_id = getattr(request_line, "request_id", None)
    assert request_id and getattr(error, "request_id", None) == request_id
    assert f"internal error TypeError in request {request_id} while answering GET /provisioning/***" in (
        error.getMessage()
    )
    assert TOKEN not in caplog.text and PASSWORD not in caplog.text
