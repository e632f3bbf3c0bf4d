"""`vigil demo` (what `make demo` runs) works offline from packaged data and shows a recognised
and an unknown face, and a
factory camera (the generated scene of `vigil.demo.scenes`) with a machine zone and a doorway."""

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
    assert [c.name for c in cfg.cameras] == ["street", "door", "factory"]
    assert all(Path(c.url).is_file() and c.loop for c in cfg.cameras)
    factory = cfg.cameras[2]
    assert [(z.name, z.kind) for z in factory.zones] == [("press", "machine"), ("door", "doorway")]
    assert Path(factory.url) == (folder / "assets" / "factory.mp4").resolve()  # with the assets
    assert not list((folder / "assets").glob("*.part.mp4"))
    assert run(["config", "check", str(folder / "vigil.yaml")]) == 0
    # each camera carries its record; the public street does not recognise (decision 0064)
    assert [cfg.recognises(c) for c in cfg.cameras] == [False, True, False]
    assert all(c.purpose and c.field_of_view for c in cfg.cameras)
    assert yaml.safe_load((folder / "vigil.yaml").read_text())["site"]["name"]
