"""The small text language inside a field: attribute names, templates, regex extracts, transforms.

Everything here is pure and is used twice: by ``spec`` to refuse a bad schema at start-up, and by
the mapper to apply a good one. Compiled patterns and parsed templates are cached, so mapping a
user never re-parses the schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Literal, get_args

from gateway.models import ATTRIBUTE_TYPE

#: An LDAP attribute description: a name (or a numeric OID), then options such as ``;binary``.
ATTRIBUTE_NAME = re.compile(rf"(?:{ATTRIBUTE_TYPE})(?:;[A-Za-z0-9-]+)*")  # with options (;binary)

Transform = Literal["lower", "upper", "strip", "digits"]
TRANSFORM_NAMES: tuple[str, ...] = get_args(Transform)
_ASCII_DIGITS = frozenset("0123456789")
_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "strip": str.strip,
    # ASCII only: str.isdigit() would keep superscripts and other scripts' digits.
    "digits": lambda text: "".join(char for char in text if char in _ASCII_DIGITS),
}

#: ``{{`` and ``}}`` are literal braces; ``{name}`` is a placeholder; a lone brace is a mistake.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

#: One piece of a parsed template: literal text, then the attribute to insert after it (or None).
TemplatePart = tuple[str, str | None]


def check_attribute_name(name: str) -> str:
    """The name itself, or ValueError naming what is wrong with it."""
    if not ATTRIBUTE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an LDAP attribute name")
    return name


@lru_cache(maxsize=512)
def parse_template(template: str) -> tuple[TemplatePart, ...]:
    """``"{ipPhone}@pbx"`` -> ``(("", "ipPhone"), ("@pbx", None))``; ValueError when malformed."""
    parts: list[TemplatePart] = []
    literal, position = "", 0
    for token in _TEMPLATE_TOKEN.finditer(template):
        literal += template[position : token.start()]
        position = token.end()
        text = token.group(0)
        if text in ("{{", "}}"):
            literal += text[0]
        elif token.group(1) is not None:
            parts.append((literal, check_attribute_name(token.group(1).strip())))
            literal = ""
        else:
            raise ValueError(f"unbalanced {text!r} at position {token.start() + 1} (write {text * 2} for a brace)")
    literal += template[position:]
    if literal or not parts:
        parts.append((literal, None))
    if all(attribute is None for _, attribute in parts):
        raise ValueError("no {attribute} placeholder in it; use value for fixed text")
    return tuple(parts)


def template_attributes(template: str) -> tuple[str, ...]:
    return tuple(attribute for _, attribute in parse_template(template) if attribute is not None)


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled regular expression, or ValueError with the reason and position."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


def extract_group(pattern: str) -> str:
    """The one named group of an extract pattern; ValueError unless there is exactly one."""
    names = list(compile_pattern(pattern).groupindex)
    if len(names) != 1:
        raise ValueError(f"needs exactly one named group such as (?P<extension>[0-9]+), found {len(names)}")
    return names[0]


def extract(pattern: str, text: str) -> str | None:
    """What the named group matched (searching anywhere in ``text``), or None."""
    found = compile_pattern(pattern).search(text)
    return found.group(extract_group(pattern)) if found else None


def apply_transforms(text: str, transforms: Iterable[str]) -> str:
    for name in transforms:
        text = _TRANSFORMS[name](text)
    return text
