"""docs/cli.md documents every command, option and choice the command line has, and nothing else.

The parser (``gateway.cli.parser()``) is walked: each command path (``devices list``) must
appear in its top-level command's section, with each of its options and choices; the options
every command shares are documented once, at the top.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import parser as cli_parser

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
COMMON = ("--config", "--demo", "--demo-directory")


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path the parser accepts, leaves and groups alike: ("serve",), ("devices", "list")."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from commands(sub, (*path, name))


def parser_for(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = cli_parser()
    for name in path:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


def section(command: str) -> str:
    """The ``## `COMMAND...``` heading and the text under it, up to the next ``## `` heading."""
    text = CLI_DOC.read_text()
    found = re.search(rf"^(## `{re.escape(command)}\b.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert found, f"docs/cli.md has no section '## `{command}`'"
    return found.group(1)


def mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


ALL_COMMANDS = sorted(commands(cli_parser()))


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_and_its_options_are_documented_in_its_section(path: tuple[str, ...]) -> None:
    text = section(path[0])
    if len(path) > 1:
        shown = re.search(rf"`{re.escape(' '.join(path))}(?![\w-])", text)
        assert shown, f"`{' '.join(path)}` is not in the {path[0]} section"
    for action in parser_for(path)._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        for option in action.option_strings:
            if option not in COMMON:
                assert mentions(text, option), f"{' '.join(path)} {option} undocumented"
        for choice in action.choices or ():
            assert str(choice) in text, f"{' '.join(path)}: choice {choice} undocumented"
        if not action.option_strings:  # a positional argument, shown by its metavar
            assert (action.metavar or action.dest.upper()) in text, f"{' '.join(path)} {action.dest} undocumented"


def test_the_shared_options_are_documented_once_at_the_top() -> None:
    top = CLI_DOC.read_text().split("\n## `", 1)[0]
    for option in COMMON:
        assert mentions(top, option)
    assert set(COMMON) <= {o for path in ALL_COMMANDS for a in parser_for(path)._actions for o in a.option_strings}


def test_every_documented_option_exists() -> None:
    existing = {"--help", "--version"} | {
        option for path in ALL_COMMANDS for action in parser_for(path)._actions for option in action.option_strings
    }
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", CLI_DOC.read_text()))
    assert documented - existing == set(), "docs/cli.md mentions options the command line does not have"


def test_every_command_in_the_overview_table_has_a_section() -> None:
    for name in {path[0] for path in ALL_COMMANDS}:
        assert f"[`{name}" in CLI_DOC.read_text(), f"{name} is missing from the overview table"
        section(name)
