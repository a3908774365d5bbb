"""Reading the app's query string into a ``ProvisioningRequest`` (DESIGN §2).

A missing, repeated or malformed parameter is a ``BadRequest`` (HTTP 400). An empty or
whitespace-only password is *not* malformed: it is a failed login, decided by the service.

Decoding is HTML-form decoding (``application/x-www-form-urlencoded``, as browsers and HTTP
libraries encode query strings): ``%XX`` escapes are UTF-8 bytes, and ``+`` is a space. A
password containing ``+`` therefore arrives intact only as ``%2B``; a bare ``+`` becomes a space
(and the bind fails like any wrong password). Bytes that are not valid UTF-8 are malformed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from urllib.parse import parse_qsl

from gateway.models import ProvisioningRequest

MAX_USERNAME = 256
MAX_PASSWORD = 1024
MAX_DEVICE_ID = 256
REQUIRED = ("username", "password", "reprovision", "deviceId")


class BadRequest(Exception):
    """The request is malformed; the message is safe to show (it never quotes a value)."""


MAX_QUERY_FIELDS = 20


def parse_query(query_string: str) -> dict[str, str | list[str]]:
    """The raw query string as parameters; a repeated name gives a list (refused later)."""
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, errors="strict", max_num_fields=MAX_QUERY_FIELDS)
    except UnicodeDecodeError:
        raise BadRequest("the query string is not valid UTF-8") from None
    except ValueError:
        raise BadRequest("too many parameters") from None
    params: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in params:
            previous = params[name]
            params[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            params[name] = value
    return params


def parse_provisioning_request(params: Mapping[str, object], source_address: str) -> ProvisioningRequest:
    values = {name: _single(params, name) for name in REQUIRED}
    username = values["username"].strip()
    if not username or len(username) > MAX_USERNAME or _has_control(username):
        raise BadRequest("username is malformed")
    password = values["password"]
    if len(password) > MAX_PASSWORD or "\x00" in password:
        raise BadRequest("password is malformed")
    reprovision = values["reprovision"].strip().lower()
    if reprovision not in ("true", "false"):
        raise BadRequest("reprovision must be true or false")
    device_id = values["deviceId"].strip()
    if not device_id or len(device_id) > MAX_DEVICE_ID or not device_id.isprintable():
        raise BadRequest("deviceId is malformed")
    return ProvisioningRequest(
        username=username,
        password=password,
        reprovision=reprovision == "true",
        device_id=device_id,
        source_address=source_address,
    )


def _single(params: Mapping[str, object], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise BadRequest(f"{name} is missing")
    if not isinstance(value, str):
        raise BadRequest(f"{name} is given more than once")
    return value


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text)
