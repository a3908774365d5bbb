"""Reading the app's query string into a ``ProvisioningRequest`` (DESIGN §2).

A missing, repeated or malformed parameter is a ``BadRequest`` (HTTP 400). An empty or
whitespace-only password is *not* malformed: it is a failed login, decided by the service.

Decoding is HTML-form decoding (``application/x-www-form-urlencoded``, as browsers and HTTP
libraries encode query strings): ``%XX`` escapes are UTF-8 bytes, and ``+`` is a space. A
password containing ``+`` therefore arrives intact only as ``%2B``; a bare ``+`` becomes a space
(and the bind fails like any wrong password). Bytes that are not valid UTF-8 are malformed.

Lengths are ``gateway.field_limits``'s, the table the store's columns are sized by: a value over
its limit is a 400 naming the parameter and the limit, so the store never meets a value it cannot hold.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from urllib.parse import parse_qsl

from gateway.field_limits import LIMITS
from gateway.models import ProvisioningRequest

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
    if not username or _has_control(username):
        raise BadRequest("username is malformed")
    # The store keeps the login lower-cased, which is longer for a few letters ("İ" becomes two).
    _within_limit("username", max(len(username), len(username.lower())), LIMITS.username)
    password = values["password"]
    _within_limit("password", len(password), LIMITS.password)
    if "\x00" in password:
        raise BadRequest("password is malformed")
    reprovision = values["reprovision"].strip().lower()
    if reprovision not in ("true", "false"):
        raise BadRequest("reprovision must be true or false")
    device_id = values["deviceId"].strip()
    if not device_id or not device_id.isprintable():
        raise BadRequest("deviceId is malformed")
    _within_limit("deviceId", len(device_id), LIMITS.device_id)
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


def _within_limit(name: str, length: int, limit: int) -> None:
    if length > limit:
        raise BadRequest(f"{name} is longer than {limit} characters")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text)
