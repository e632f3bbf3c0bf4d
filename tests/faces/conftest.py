from __future__ import annotations

from pathlib import Path

import pytest

from vigil.cli import run


@pytest.fixture
def cli(data_dir: Path, capsys: pytest.CaptureFixture[str]):
    """Run `vigil --data-dir <tmp> ...` in-process; returns (exit code, stdout, stderr)."""

    def invoke(*args: str) -> tuple[int, str, str]:
        code = run(["--data-dir", str(data_dir), *map(str, args)])
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke
