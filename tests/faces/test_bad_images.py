"""Damaged photos give the same clear one-line error at every command that reads a photo.

The cases are what people actually hand Vigil: a JPEG cut off while copying (4,000 and 20,000
bytes of a real photo: both end inside its EXIF block), a zero-byte file, and random bytes
with an image's name.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.errors import InputError
from vigil.vision.image import load_image

KINDS = ("cut4000.jpg", "cut20000.jpg", "empty.jpg", "random.png")
MESSAGE = {
    "cut4000.jpg": "truncated or corrupt image",
    "cut20000.jpg": "truncated or corrupt image",
    "empty.jpg": "empty file",
    "random.png": "not an image",
}


def make_bad(folder: Path, faces_dir: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    photo = (faces_dir / "obama.jpg").read_bytes()
    content = {
        "cut4000.jpg": photo[:4000],
        "cut20000.jpg": photo[:20000],
        "empty.jpg": b"",
        "random.png": os.urandom(5000),  # PNG magic is 8 fixed bytes: random ones never match
    }
    out = {}
    for name, data in content.items():
        (folder / name).write_bytes(data)
        out[name] = folder / name
    return out


@pytest.fixture
def bad(tmp_path: Path, faces_dir: Path) -> dict[str, Path]:
    return make_bad(tmp_path / "bad", faces_dir)


def squash(text: str) -> str:
    """Text without white space: Rich wraps long paths at the console width."""
    return "".join(text.split())


def assert_clear(code: int, err: str, path: Path, kind: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert f"error: {path}" in err and MESSAGE[kind] in err, err


@pytest.mark.parametrize("kind", KINDS)
def test_loader_refuses_with_input_error(bad: dict[str, Path], kind: str) -> None:
    with pytest.raises(InputError, match=MESSAGE[kind]):
        load_image(bad[kind])
    with pytest.raises(InputError, match=MESSAGE[kind]):
        load_image(bad[kind].read_bytes(), label="upload.jpg")


@pytest.mark.parametrize("kind", KINDS)
def test_faces_commands(cli, bad: dict[str, Path], faces_dir: Path, kind: str) -> None:
    f = bad[kind]
    good = faces_dir / "obama.jpg"
    for args in (
        ["faces", "detect", f],
        ["faces", "compare", good, f],
        ["faces", "identify", f, "--reason", "door check"],
        ["privacy", "sar", f, "-r", "request 7", "-o", f.parent / "sar.zip"],
    ):
        code, _, err = cli(*args)
        assert_clear(code, err, f, kind)
    # Enrolment checks every photo first, lists each refusal, and stores nothing.
    code, _, err = cli("faces", "enroll", "ada", good, f, "-l", "consent")
    assert code == 2 and "Traceback" not in err and f"{f}: {MESSAGE[kind]}" in err, err
    code, stdout, _ = cli("faces", "list", "--json")
    assert stdout.strip() == "[]"


def test_faces_import_and_eval(cli, bad: dict[str, Path], faces_dir: Path, tmp_path: Path):
    people = tmp_path / "people"
    (people / "ada").mkdir(parents=True)
    for kind, f in bad.items():
        (people / "ada" / kind).write_bytes(f.read_bytes())
    code, stdout, err = cli("faces", "import", people, "--legal-basis", "consent")
    assert code == 1 and "Traceback" not in err, err  # import says who was not enrolled, and why
    flat = squash(stdout)
    assert "enrolled0of1people" in flat
    for kind in KINDS:
        assert squash(f"{kind}: {MESSAGE[kind]}") in flat, stdout

    # eval: a bad photo is reported and left out; the other pairs are still measured.
    pairs = tmp_path / "pairs.csv"
    good = [faces_dir / "obama.jpg", faces_dir / "obama2.jpg", faces_dir / "biden.jpg"]
    with pairs.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img1", "img2", "same"])
        w.writerows([[good[0], good[1], 1], [good[0], good[2], 0]])
        w.writerows([[good[0], f, 1] for f in bad.values()])
    code, stdout, err = cli("eval", "pairs", pairs, "--roc", tmp_path / "roc.png")
    assert code == 0 and "Traceback" not in err, err
    flat = squash(stdout)
    for kind, f in bad.items():
        assert squash(f"{f}: {f}: {MESSAGE[kind]}") in flat, stdout

    (people / "obama").mkdir()
    for f in ("obama.jpg", "obama2.jpg"):
        (people / "obama" / f).write_bytes((faces_dir / f).read_bytes())
    code, stdout, err = cli("eval", "gallery", people)
    assert code == 0 and "Traceback" not in err, err
    flat = squash(stdout)
    for kind in KINDS:
        assert squash(f"{kind}: {people / 'ada' / kind}: {MESSAGE[kind]}") in flat, stdout


@pytest.mark.parametrize("kind", ["cut4000.jpg", "cut20000.jpg", "random.png"])
def test_hub_commands(cli, bad: dict[str, Path], tmp_path: Path, kind: str) -> None:
    f = bad[kind]
    hub = ["hub", "--hub-dir", tmp_path / "hub"]
    code, _, err = cli(*hub, "search", "--photo", f, "--reason", "case 12")
    assert_clear(code, err, f, kind)
    code, _, err = cli(
        *hub, "people", "enrol", "ada", "--photo", f, "--legal-basis", "consent", "--reason", "x1"
    )
    assert code == 2 and "Traceback" not in err and f"{f}: {MESSAGE[kind]}" in err, err


def test_real_binary_prints_one_line(bad: dict[str, Path], tmp_path: Path) -> None:
    """The installed `vigil` command, as a person runs it: no traceback, exit code 2."""
    vigil = Path(sys.executable).with_name("vigil")
    for kind, f in bad.items():
        r = subprocess.run(
            [vigil, "--data-dir", tmp_path / "var", "faces", "detect", f],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"error: {f}: {MESSAGE[kind]}"), r.stderr
