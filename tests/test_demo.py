"""`vigil demo` (what `make demo` runs) works offline from packaged data and shows a recognised
and an unknown face."""

from __future__ import annotations

from pathlib import Path

import yaml

from vigil.cli import run
from vigil.config import load_config


def test_demo_site(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "demo"
    assert run(["demo", "--folder", str(folder), "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "Eileen Collins" in out and "unknown face" in out
    assert "one-time password" in out
    cfg = load_config(folder / "vigil.yaml")
    assert [c.name for c in cfg.cameras] == ["street", "door"]
    assert all(Path(c.url).is_file() for c in cfg.cameras)
    assert yaml.safe_load((folder / "vigil.yaml").read_text())["site"]["name"]
