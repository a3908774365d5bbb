"""``python -m gateway schema ...``: show and check the attribute schema without starting the server."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_schema_commands(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the ``schema`` command group (filled in by the attribute-schema work)."""
