"""The HTTP contract (DESIGN §2) through Falcon's TestClient, on the demo directory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from falcon.testing import TestClient

from gateway.app import build_directory, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.errors import DirectoryUnavailable, PasswordExpired, PasswordMustChange
from gateway.models import DirectoryUser
from gateway.settings import MessagesSettings, Settings, StoreSettings
from tests.unit.conftest import SEED_QUERY

GENERIC = MessagesSettings().login_failed
UNAVAILABLE = MessagesSettings().unavailable
JBLOGGS_ACCOUNT = {
    "sipusername": "1001",
    "sippassword": "29de?8-jb",
    "transport": "UDP",
    "authusername": "1001",
    "video": "Enabled",
}


@pytest.mark.parametrize("path", ["/provisioning", "/provisioning/"])
def test_seed_request_provisions_jbloggs(demo_client: TestClient, path: str) -> None:
    response = demo_client.simulate_get(path, query_string=SEED_QUERY, headers={"User-Agent": "SessionTalk/6.0.0"})
    assert response.status_code == 200
    assert response.json == {"update": True, "sipaccounts": [JBLOGGS_ACCOUNT], "errmsg": ""}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")


def test_user_with_two_lines_gets_both_in_schema_order(provision: Callable[..., dict[str, object]]) -> None:
    body = provision(username="asmith", password="Sunflower-77")
    assert body["update"] is True
    assert [a["sipusername"] for a in body["sipaccounts"]] == ["1002", "2000"]  # type: ignore[union-attr,index]


def test_login_by_mail_attribute(provision: Callable[..., dict[str, object]]) -> None:
    assert provision(username="joe.bloggs@example.com", password="7578743843")["update"] is True


def test_reprovision_is_case_insensitive(provision: Callable[..., dict[str, object]]) -> None:
    body = provision(username="jbloggs", password="7578743843", reprovision="TRUE")
    assert body == {"update": True, "sipaccounts": [JBLOGGS_ACCOUNT], "errmsg": ""}
    assert provision(username="jbloggs", password="7578743843", reprovision="True")["update"] is False


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("jbloggs", "wrong-password"),  # wrong password
        ("nobody", "7578743843"),  # unknown user
        ("tguest", "Visitor-2026"),  # right password, not in phone-users
        ("oleaver", "Leaver-2026"),  # locked by an administrator
        ("jbloggs", "   "),  # whitespace password
        ("jbloggs", ""),  # empty password
        ("*", "*"),  # a wildcard login matches nobody
    ],
)
def test_failed_logins_are_answered_identically(demo_client: TestClient, username: str, password: str) -> None:
    response = demo_client.simulate_get(
        "/provisioning", params={"username": username, "password": password, "reprovision": "false", "deviceId": "d"}
    )
    assert response.status_code == 200
    assert response.content == b'{"update": false, "sipaccounts": [], "errmsg": "%s"}' % GENERIC.encode()


def test_user_without_extension_is_told_no_line_is_set_up(provision: Callable[..., dict[str, object]]) -> None:
    body = provision(username="nline", password="Noline-2026")
    assert body == {"update": False, "sipaccounts": [], "errmsg": MessagesSettings().no_accounts}


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("password=x&reprovision=false&deviceId=d", "username is missing"),
        ("username=jbloggs&reprovision=false&deviceId=d", "password is missing"),
        ("username=jbloggs&password=x&deviceId=d", "reprovision is missing"),
        ("username=jbloggs&password=x&reprovision=false", "deviceId is missing"),
        ("username=jbloggs&password=x&reprovision=yes&deviceId=d", "reprovision must be true or false"),
        ("username=&password=x&reprovision=false&deviceId=d", "username is malformed"),
        ("username=jbloggs&password=x&reprovision=false&deviceId=", "deviceId is malformed"),
        ("username=jb%0Aloggs&password=x&reprovision=false&deviceId=d", "username is malformed"),
        ("username=jbloggs&password=x&reprovision=false&deviceId=d%07", "deviceId is malformed"),
        ("username=jbloggs&password=a%00b&reprovision=false&deviceId=d", "password is malformed"),
        ("username=a&username=b&password=x&reprovision=false&deviceId=d", "username is given more than once"),
        (f"username={'u' * 256}&password=x&reprovision=false&deviceId=d", "username is longer than 255 characters"),
        (
            f"username=jbloggs&password=x&reprovision=false&deviceId={'d' * 256}",
            "deviceId is longer than 255 characters",
        ),
    ],
)
def test_malformed_requests_get_400_with_errmsg(demo_client: TestClient, query: str, problem: str) -> None:
    response = demo_client.simulate_get("/provisioning", query_string=query)
    assert response.status_code == 400
    errmsg = f"{MessagesSettings().bad_request} ({problem})"
    assert response.json == {"update": False, "sipaccounts": [], "errmsg": errmsg}
    assert response.headers["cache-control"] == "no-store"


def test_other_paths_are_not_found(demo_client: TestClient) -> None:
    response = demo_client.simulate_get("/admin", query_string=SEED_QUERY)
    assert response.status_code == 404
    assert "7578743843" not in response.text


class ScriptedDirectory:
    """A directory double for outcomes the demo directory cannot produce."""

    searches_before_bind = False

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def find_user(self, login: str) -> DirectoryUser | None:  # pragma: no cover - direct mode
        raise AssertionError("not called in direct mode")

    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        self.calls += 1
        raise self.error


@pytest.fixture
def client_with(store_settings: StoreSettings) -> Callable[..., TestClient]:
    def build(directory: object, **messages: str) -> TestClient:
        settings = Settings(
            directory={"servers": ["ldaps://dc"], "mode": "direct", "direct_bind_template": "{username}@x"},  # type: ignore[arg-type]
            messages=MessagesSettings(**messages),
            store=store_settings,
        )
        return TestClient(create_app(settings, directory=directory))  # type: ignore[arg-type]

    return build


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (PasswordMustChange("773"), MessagesSettings().password_must_change),
        (PasswordExpired("532"), MessagesSettings().password_expired),
        (DirectoryUnavailable("down"), UNAVAILABLE),
    ],
)
def test_password_state_and_outage_messages(
    client_with: Callable[..., TestClient], error: Exception, message: str
) -> None:
    response = client_with(ScriptedDirectory(error)).simulate_get("/provisioning", query_string=SEED_QUERY)
    assert response.json == {"update": False, "sipaccounts": [], "errmsg": message}


def test_empty_password_makes_no_directory_call(client_with: Callable[..., TestClient]) -> None:
    directory = ScriptedDirectory(DirectoryUnavailable("must not be called"))
    response = client_with(directory).simulate_get(
        "/provisioning", query_string="username=jbloggs&password=%20%20&reprovision=false&deviceId=d"
    )
    assert response.json["errmsg"] == GENERIC
    assert directory.calls == 0


def test_errmsg_texts_are_configurable(client_with: Callable[..., TestClient]) -> None:
    client = client_with(ScriptedDirectory(DirectoryUnavailable("down")), unavailable="Call the helpdesk on x1234.")
    assert client.simulate_get("/provisioning", query_string=SEED_QUERY).json["errmsg"] == "Call the helpdesk on x1234."


def test_unreachable_directory_answers_temporarily_unavailable(settings_for: Callable[..., Settings]) -> None:
    settings = settings_for(servers=("ldaps://127.0.0.1:1",), connect_timeout=1)
    response = TestClient(create_app(settings)).simulate_get("/provisioning", query_string=SEED_QUERY)
    assert response.status_code == 200
    assert response.json == {"update": False, "sipaccounts": [], "errmsg": UNAVAILABLE}


class ExplodingDirectory(ScriptedDirectory):
    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        raise RuntimeError(f"bug while handling {password}")


def test_internal_error_is_a_json_500_that_never_shows_or_logs_the_query(
    client_with: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = client_with(ExplodingDirectory(RuntimeError())).simulate_get("/provisioning", query_string=SEED_QUERY)
    assert response.status_code == 500
    assert response.json == {"update": False, "sipaccounts": [], "errmsg": UNAVAILABLE}
    assert "7578743843" not in response.text
    assert "RuntimeError" in caplog.text
    assert "7578743843" not in caplog.text


def test_demo_directory_edits_are_picked_up_without_restart(demo_ldif: Path, store_settings: StoreSettings) -> None:
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory, store=store_settings)
    client = TestClient(create_app(settings, directory=build_directory(settings, factory)))
    assert client.simulate_get("/provisioning", query_string=SEED_QUERY).json["sipaccounts"][0]["sipusername"] == "1001"
    demo_ldif.write_text(demo_ldif.read_text().replace("sipExtension: 1001", "sipExtension: 1501"))
    assert client.simulate_get("/provisioning", query_string=SEED_QUERY).json["sipaccounts"][0]["sipusername"] == "1501"


def test_broken_demo_edit_keeps_the_previous_directory(demo_ldif: Path, store_settings: StoreSettings) -> None:
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory, store=store_settings)
    client = TestClient(create_app(settings, directory=build_directory(settings, factory)))
    demo_ldif.write_text("this is not ldif\n")
    assert client.simulate_get("/provisioning", query_string=SEED_QUERY).json["update"] is True
