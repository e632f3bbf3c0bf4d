"""`vigil --help` stays fast: the root help and a group's help import no heavy library.

Checked by mechanism (which modules a fresh interpreter loaded), not by wall-clock time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from vigil.cli import COMMANDS, load_command, run

HEAVY = ("cv2", "onnxruntime", "av", "numpy", "sqlalchemy", "fastapi", "vigil.faces.engine")

PROBE = """
import contextlib, io, json, sys
from vigil.cli import run
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = run(sys.argv[1:])
heavy = [m for m in json.loads(HEAVY) if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy, "help": out.getvalue()}))
"""


def probe(*args: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", PROBE.replace("HEAVY", repr(json.dumps(HEAVY))), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_root_help_imports_nothing_heavy_and_lists_every_command() -> None:
    r = probe("--help")
    assert r["code"] == 0 and r["heavy"] == []
    text = " ".join(r["help"].split())
    for name, spec in COMMANDS.items():
        line = " ".join(spec.help.split())[:60]
        assert (f"{name} " in text and line in text) != spec.hidden, name


@pytest.mark.parametrize("name", [n for n, s in COMMANDS.items() if not s.hidden])
def test_command_help_imports_nothing_heavy(name: str) -> None:
    r = probe(name, "--help")
    assert r["code"] == 0 and r["heavy"] == [], r
    assert "Usage: vigil " + name in r["help"]


def test_table_names_what_the_modules_register() -> None:
    """A command added in a module needs its line in `COMMANDS` (or `vigil --help` hides it),
    and each line's help is the start of the command's own."""
    registered: set[str] = set()
    for target in {s.target for s in COMMANDS.values() if s.target.endswith(":register")}:
        holder = typer.Typer()
        module, _, _ = target.partition(":")
        __import__(module, fromlist=["register"]).register(holder)
        registered |= set(typer.main.get_group(holder).commands)
    by_register = {n for n, s in COMMANDS.items() if s.target.endswith(":register")}
    assert registered == by_register
    for name, spec in COMMANDS.items():
        cmd = load_command(name)
        assert cmd.hidden == spec.hidden, name
        if not spec.hidden:
            assert " ".join((cmd.help or "").split()).startswith(spec.help.rstrip(".")), name


def test_usage_errors_and_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["face", "detect"]) == 2
    assert "Did you mean 'faces'" in capsys.readouterr().err
    assert run(["faces", "nope"]) == 2
    assert run([]) == 2  # no command: the help, and a usage exit code as before
    assert "faces" in capsys.readouterr().out
