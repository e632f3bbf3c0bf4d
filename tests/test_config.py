from pathlib import Path

from typer.testing import CliRunner

from vigil.cli import app
from vigil.config import VigilConfig, config_errors, load_config

BAD = """\
site:
  name: x
  nmae: typo
faces:
  detector_score: 3
cameras:
  - name: door
    url: rtsp://127.0.0.1/cam
  - name: door
    url: x
"""


def test_every_error_reported_with_path_and_line() -> None:
    problems = config_errors(BAD)
    assert any(p.startswith("line 3: site.nmae") for p in problems), problems
    assert any(p.startswith("line 5: faces.detector_score") for p in problems), problems
    assert any("repeated: door" in p for p in problems), problems


def test_defaults_are_valid_and_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["config", "defaults"])
    assert out.exit_code == 0
    f = tmp_path / "vigil.yaml"
    f.write_text(out.output)
    assert load_config(f) == VigilConfig()


def test_config_check_cli(tmp_path: Path) -> None:
    f = tmp_path / "vigil.yaml"
    f.write_text(BAD)
    res = CliRunner().invoke(app, ["config", "check", str(f)])
    assert res.exit_code == 1
    assert "site.nmae" in res.output and "line 5" in res.output
    f.write_text("site:\n  name: ok\n")
    assert CliRunner().invoke(app, ["config", "check", str(f)]).exit_code == 0


def test_not_yaml() -> None:
    assert config_errors("a: [1, 2")[0].startswith("not valid YAML")
    assert "mapping" in config_errors("- 1\n- 2\n")[0]
