"""Fixtures shared by every tier."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.demo import DEMO_DIRECTORY
from gateway.settings import StoreSettings
from gateway.store.engine import create_store_engine
from gateway.store.revisions import upgrade


@pytest.fixture
def demo_ldif(tmp_path: Path) -> Path:
    """A private, editable copy of the demo directory."""
    path = tmp_path / "directory.ldif"
    shutil.copyfile(DEMO_DIRECTORY, path)
    return path


@pytest.fixture
def store_settings(tmp_path: Path) -> StoreSettings:
    """A fresh SQLite device store, migrated to the current schema."""
    url = f"sqlite:///{tmp_path / 'devices.sqlite3'}"
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    return StoreSettings(url=SecretStr(url))


@pytest.fixture(autouse=True)
def file_keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A file-backed keyring of this test's own: the OS credential store is never touched."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path_factory.mktemp("keyring") / "keyring.cfg")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
