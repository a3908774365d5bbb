"""Fixtures shared by every tier."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.demo import DEMO_DIRECTORY


@pytest.fixture
def demo_ldif(tmp_path: Path) -> Path:
    """A private, editable copy of the demo directory."""
    path = tmp_path / "directory.ldif"
    shutil.copyfile(DEMO_DIRECTORY, path)
    return path
