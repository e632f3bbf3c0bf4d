"""A database for the event store's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.store.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'vigil.db'}")
    yield d
    d.close()
