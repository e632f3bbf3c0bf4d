from __future__ import annotations

from pathlib import Path

import pytest

from vigil.cli import run
from vigil.privacy.audit import AuditLog
from vigil.store.db import Database


@pytest.fixture
def cli(data_dir: Path, capsys: pytest.CaptureFixture[str]):
    """Run `vigil --data-dir <tmp> ...` in-process; returns (exit code, stdout, stderr)."""

    def invoke(*args: object) -> tuple[int, str, str]:
        code = run(["--data-dir", str(data_dir), *map(str, args)])
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


@pytest.fixture
def db(data_dir: Path):
    d = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    yield d
    d.close()


@pytest.fixture
def audit(data_dir: Path) -> AuditLog:
    return AuditLog(data_dir, checkpoint_every=10)
