"""``python -m gateway check``: the pre-flight report (gateway/ops/preflight.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gateway.app import connection_factory
from gateway.directory.connection import ConnectionFactory
from gateway.settings import Settings


def add_command(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    check = commands.add_parser("check", help="validate the configuration and reach the directory")
    common(check)
    check.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> int:
    from gateway.ops.preflight import run_checks

    report = run_checks(settings, connections or connection_factory(settings))
    print(report.render())
    return 0 if report.ok else 1
