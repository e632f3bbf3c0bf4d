from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.helpers import Client, Footage, add_users, client_for, make_context
from vigil.api import ApiContext
from vigil.faces.engine import FaceEngine


@pytest.fixture
def ctx(footage: Footage, tmp_path: Path, engine: FaceEngine) -> Iterator[ApiContext]:
    """A fresh database per test (same footage files): users of every role, no people."""
    import shutil

    data_dir = tmp_path / "var"
    shutil.copytree(footage.data_dir, data_dir)
    c = make_context(data_dir, footage.video, engine)
    add_users(c)
    yield c
    c.db.close()


@pytest.fixture
def clients(ctx: ApiContext) -> dict[str, Client]:
    return {role: client_for(ctx, role) for role in ("admin", "operator", "viewer", "auditor")}


@pytest.fixture
def anon(ctx: ApiContext) -> Client:
    return client_for(ctx)
