"""docs/troubleshooting.md covers every ``errmsg`` the gateway can send, each with cause and fix.

What the gateway can send is read from the code, not listed here: the ``MessagesSettings``
fields (every business outcome's text), the message names the decision code picks, the reasons
of a 400 (``BadRequest(...)`` in the HTTP edge), and the bodies of the other HTTP errors — found
in the source and also provoked through the real app (403, 404, 405, 500).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import falcon
import pytest
from falcon.testing import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.models import DirectoryUser
from gateway.provisioning.decision import Message
from gateway.settings import MessagesSettings, SecuritySettings, StoreSettings

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "troubleshooting.md"
SOURCES = sorted((ROOT / "gateway").rglob("*.py"))


def message_section(field: str) -> str:
    """The ``### ... — `messages.FIELD``` section of the guide, heading included."""
    found = re.search(
        rf'^(### "[^\n]*" — `messages\.{field}`\n.*?)(?=^##|\Z)', GUIDE.read_text(), re.MULTILINE | re.DOTALL
    )
    assert found, f"docs/troubleshooting.md has no section for messages.{field}"
    return found.group(1)


@pytest.mark.parametrize("field", list(MessagesSettings.model_fields))
def test_every_message_is_explained_with_its_cause_and_fix(field: str) -> None:
    section = message_section(field)
    default = MessagesSettings.model_fields[field].default
    assert section.startswith(f'### "{default}" — '), f"the heading must quote messages.{field}'s default text"
    header = re.search(r"^\|([^\n]*)\|\n\|[-| ]+\|$", section, re.MULTILINE)
    assert header, f"messages.{field}: no table"
    columns = [c.strip().lower() for c in header.group(1).split("|")]
    assert "cause" in columns and "fix" in columns, f"messages.{field}: the table needs cause and fix columns"
    assert section.count("\n| ") >= 2, f"messages.{field}: the table has no row"


def calls(matching: Callable[[ast.expr], bool]) -> list[ast.Call]:
    """Every call in the gateway's source whose callee matches."""
    return [
        node
        for path in SOURCES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and matching(node.func)
    ]


def calls_named(name: str) -> list[ast.Call]:
    return calls(
        lambda f: (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name)
    )


def test_every_message_the_decision_can_pick_is_a_message_setting() -> None:
    # The messages are a closed set (an enum); every Verdict(...) names one through it.
    assert {message.value for message in Message} <= set(MessagesSettings.model_fields)
    named = 0
    for call in calls_named("Verdict"):
        message = (
            call.args[2] if len(call.args) > 2 else next((k.value for k in call.keywords if k.arg == "message"), None)
        )
        if message is not None:
            assert isinstance(message, ast.Attribute), ast.unparse(call)
            assert isinstance(message.value, ast.Name) and message.value.id == "Message", ast.unparse(call)
            named += 1
    assert named, "no Verdict(...) with a message found: the scan is broken"


def as_pattern(argument: ast.expr) -> str:
    """A regex for the text of a literal or f-string argument (each ``{...}`` stands for a word)."""
    if isinstance(argument, ast.Constant):
        return re.escape(argument.value)
    assert isinstance(argument, ast.JoinedStr), ast.unparse(argument)
    return "".join(re.escape(p.value) if isinstance(p, ast.Constant) else r"\w+" for p in argument.values)


def test_every_bad_request_reason_is_explained() -> None:
    section = message_section("bad_request")
    reasons = [call.args[0] for call in calls_named("BadRequest") if call.args]
    assert len(reasons) >= 8, "BadRequest(...) calls not found: the scan is broken"
    for reason in reasons:
        assert re.search(as_pattern(reason), section), f"400 reason {ast.unparse(reason)} is not explained"


def test_every_http_error_the_code_raises_is_explained() -> None:
    raised = {
        call.func.attr  # type: ignore[attr-defined]  # the matcher checked it
        for call in calls(
            lambda f: (
                isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name)
                and f.value.id == "falcon"
                and re.fullmatch(r"HTTP[A-Z]\w+", f.attr) is not None
            )
        )
    }
    assert raised, "no falcon.HTTP...() found: the scan is broken"
    text = GUIDE.read_text()
    for name in raised:
        title = getattr(falcon, name)().title
        assert f'| **{title[:3]}**, `errmsg` "{title}" |' in text, title


class BrokenDirectory:
    """A directory with a bug in it: the gateway must answer 500 with the generic message."""

    searches_before_bind = True

    def find_user(self, login: str) -> DirectoryUser | None:
        raise TypeError("a bug")

    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        raise TypeError("a bug")

    def canary(self) -> bool:
        return True


def test_every_error_body_the_running_app_sends_is_explained(demo_ldif: Path, store_settings: StoreSettings) -> None:
    factory = demo_factory(demo_ldif)
    security = SecuritySettings(allowed_networks=("192.0.2.0/24",), path_token=SecretStr("t" * 16))
    settings = demo_settings(factory, store=store_settings, security=security)
    app = TestClient(create_app(settings, directory=BrokenDirectory()))  # type: ignore[arg-type]
    query = {"username": "jbloggs", "password": "x", "reprovision": "false", "deviceId": "d"}
    answers = [
        app.simulate_get("/provisioning/" + "t" * 16, params=query, remote_addr="198.51.100.1"),  # not allowed
        app.simulate_get("/provisioning/" + "u" * 16, params=query, remote_addr="192.0.2.1"),  # wrong token
        app.simulate_get("/elsewhere", remote_addr="192.0.2.1"),
        app.simulate_post("/provisioning/" + "t" * 16, remote_addr="192.0.2.1"),
        app.simulate_get("/provisioning/" + "t" * 16, params=query, remote_addr="192.0.2.1"),  # the bug
    ]
    statuses = {(r.status_code, r.json["errmsg"]) for r in answers}
    assert {status for status, _ in statuses} == {403, 404, 405, 500}
    text = GUIDE.read_text()
    for status, errmsg in statuses:
        if status == 500:
            assert errmsg == MessagesSettings().unavailable
            assert "HTTP **500** with this text" in message_section("unavailable")
        else:
            assert f'| **{status}**, `errmsg` "{errmsg}" |' in text, (status, errmsg)
