"""Test photos and footage: fetched from package registries once into a cache, the rest made.

`python -m vigil.demo.testdata [--dir DIR]` fills the cache (`make test` runs it first); the
tests' `testdata` fixture and the benchmarks call `ensure()`, which does nothing when the cache
is whole. Location: `$VIGIL_TESTDATA`, else `${XDG_CACHE_HOME:-~/.cache}/vigil/testdata`.

Sources (nothing is copied into the project):
- PyPI `face_recognition==1.3.0` sdist (SHA-256 pinned): the photos of its own tests: three of
  Obama, one of Biden, Obama with an alpha channel (32bit.png), two partial faces.
- Debian `opencv-doc`: vtest.avi (street seen from above, 768x576, 10 fps, 795 frames) and
  messi5.jpg (one small face in a sports scene).
- scikit-image: the astronaut (Eileen Collins) and the cameraman (head turned away).

Generated from those, deterministically (fixed crops, seeds, transforms): two_people.jpg
(Obama and Biden side by side), obama_small.jpg (too small to enrol), the `people/NAME/` gallery
(a second photo of Biden and of the astronaut is the same photo mirrored, turned a few degrees
and relit: no package ships another), `probes/`, and stage_clip.mp4 (three shots: Obama from
one photo, Obama from another, then two faces nobody enrols).

Layout (under the cache folder): `faces/...` as listed in `FILES`, `video/vtest.avi`. A step
is done when `manifest.json` lists it with this `VERSION` and its files exist; a run redoes
only the steps that are not done. Concurrent runs wait for each other (a lock file).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vigil.packages import FetchError, opencv_doc_files, pypi_sdist_files, sha256_of

VERSION = 1  # bump when a step's output changes: caches made before are then redone
ENV = "VIGIL_TESTDATA"

FACE_RECOGNITION = ("face_recognition", "1.3.0")
FACE_RECOGNITION_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
SDIST_PHOTOS = [
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "biden.jpg",
    "32bit.png",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
]

# Face boxes (x, y, w, h) in the pinned source photos, as YuNet finds them: the generated files
# are cut around these, so they do not depend on a model run.
BOX = {
    "obama.jpg": (370, 90, 239, 328),
    "obama2.jpg": (201, 229, 275, 404),
    "obama3.jpg": (643, 272, 265, 345),
    "biden.jpg": (427, 175, 287, 400),
    "astronaut.png": (178, 62, 90, 113),
    "messi5.jpg": (225, 93, 30, 39),
}


class TestDataUnavailable(Exception):
    """The cache cannot be filled (a registry cannot be reached); the message says why."""

    __test__ = False  # not a pytest class, whatever its name


def default_dir() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "vigil" / "testdata"


def _sdist_photos(root: Path) -> None:
    name, version = FACE_RECOGNITION
    members = {f"{name}-{version}/tests/test_images/{p}": p for p in SDIST_PHOTOS}
    pypi_sdist_files(name, version, FACE_RECOGNITION_SHA256, members, root / "faces")


def _opencv_samples(root: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = opencv_doc_files(["vtest.avi", "messi5.jpg"], Path(tmp))
        (root / "video").mkdir(parents=True, exist_ok=True)
        (root / "faces").mkdir(parents=True, exist_ok=True)
        shutil.move(got["vtest.avi"], root / "video" / "vtest.avi")
        shutil.move(got["messi5.jpg"], root / "faces" / "messi5.jpg")


def _skimage_photos(root: Path) -> None:
    from skimage import data

    (root / "faces").mkdir(parents=True, exist_ok=True)
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(root / "faces" / "astronaut.png"), astronaut)
    cv2.imwrite(str(root / "faces" / "cameraman.png"), data.camera())


def portrait(image: np.ndarray, box: tuple[int, int, int, int], side: int, zoom=2.2) -> np.ndarray:
    """A `side` x `side` square centred on the face `box`, the face 1/`zoom` of its height."""
    x, y, w, h = box
    half = int(h * zoom / 2)
    cx, cy = x + w // 2, y + h // 2
    padded = cv2.copyMakeBorder(image, half, half, half, half, cv2.BORDER_REPLICATE)
    crop = padded[cy : cy + 2 * half, cx : cx + 2 * half]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def another_photo(
    image: np.ndarray, *, mirror: bool, angle: float, gain: float, bias: float, seed: int
) -> np.ndarray:
    """A stand-in for a second photo of the same person: mirrored, turned `angle` degrees,
    relit (`gain`, `bias`), with sensor noise. Same pixels underneath, so a match on it shows
    the pipeline works, not how well the model generalises."""
    out = cv2.flip(image, 1) if mirror else image.copy()
    h, w = out.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(out, turn, (w, h), borderMode=cv2.BORDER_REFLECT)
    noise = np.random.default_rng(seed).normal(0, 4, out.shape)
    return np.clip(out.astype(np.float32) * gain + bias + noise, 0, 255).astype(np.uint8)


def _jpeg(path: Path, image: np.ndarray, quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"cannot write {path}")


def _generated(root: Path) -> None:
    faces = root / "faces"

    def read(name: str) -> np.ndarray:
        image = cv2.imread(str(faces / name))
        if image is None:
            raise OSError(f"cannot read {faces / name}")
        return image

    def face(name: str, side: int, zoom: float = 2.2) -> np.ndarray:
        return portrait(read(name), BOX[name], side, zoom)

    obama, obama3, biden = read("obama.jpg"), read("obama3.jpg"), read("biden.jpg")
    astronaut = read("astronaut.png")
    # Two faces of similar size: refused for enrolment, both found by detection.
    gap = np.full((420, 40, 3), 200, np.uint8)
    _jpeg(
        faces / "two_people.jpg", np.hstack([face("obama.jpg", 420), gap, face("biden.jpg", 420)])
    )
    # Obama at 18%: the face is ~43 px across, under the 60 px enrolment minimum.
    small = cv2.resize(obama, None, fx=0.18, fy=0.18, interpolation=cv2.INTER_AREA)
    _jpeg(faces / "obama_small.jpg", small)
    # The gallery: two photos a person (Obama's both real).
    people = faces / "people"
    (people / "obama").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(faces / "obama.jpg", people / "obama" / "obama.jpg")
    shutil.copyfile(faces / "obama2.jpg", people / "obama" / "obama2.jpg")
    biden_face = face("biden.jpg", 480)
    _jpeg(people / "biden" / "biden.jpg", biden)
    _jpeg(
        people / "biden" / "biden2.jpg",
        another_photo(biden_face, mirror=True, angle=7, gain=0.8, bias=10, seed=1),
    )
    astro_face = face("astronaut.png", 300)
    _jpeg(people / "eileen_collins" / "astronaut.jpg", astronaut)
    _jpeg(
        people / "eileen_collins" / "astronaut2.jpg",
        another_photo(astro_face, mirror=True, angle=-8, gain=1.15, bias=5, seed=2),
    )
    # Probes: the file name says who. Obama's is a photo the gallery does not hold.
    probes = faces / "probes"
    _jpeg(probes / "obama3.jpg", obama3)
    _jpeg(
        probes / "eileen_collins1.jpg",
        another_photo(
            face("astronaut.png", 260, 2.6), mirror=False, angle=9, gain=0.75, bias=-5, seed=3
        ),
        quality=80,
    )
    group = np.full((400, 1020, 3), (120, 130, 140), np.uint8)
    group[30:370, 20:360] = face("obama3.jpg", 340)
    group[50:370, 370:690] = another_photo(
        face("biden.jpg", 320), mirror=False, angle=-5, gain=1.1, bias=0, seed=4
    )
    group[70:370, 700:1000] = face("messi5.jpg", 300)  # a stranger, never enrolled
    _jpeg(probes / "obama_and_biden.jpg", group)
    stage_clip(
        faces / "stage_clip.mp4",
        face("obama.jpg", 240),
        face("obama3.jpg", 240),
        [face("biden.jpg", 170), face("astronaut.png", 170)],
    )


FPS = 10
STAGE_SHOTS = (4.8, 7.5, 10.0)  # ends of the three shots, seconds


def stage_clip(
    path: Path, first: np.ndarray, second: np.ndarray, audience: list[np.ndarray]
) -> Path:
    """640x360, 10 fps, 10 s. Shot 1 (0-4.8 s): the performer (`first`) crosses a dark stage;
    shot 2 (4.8-7.5 s): the same person from another photo (`second`), lit stage, other way;
    shot 3 (7.5-10 s): the audience, two other faces side by side, swaying."""
    from vigil.vision.video import Mp4Writer

    with Mp4Writer(path, FPS) as out:
        for i in range(int(STAGE_SHOTS[-1] * FPS)):
            t = i / FPS
            if t < STAGE_SHOTS[0]:
                img = np.full((360, 640, 3), (40, 30, 30), np.uint8)
                x = int(40 + 60 * t)
                img[60:300, x : x + 240] = first
            elif t < STAGE_SHOTS[1]:
                img = np.full((360, 640, 3), (90, 120, 150), np.uint8)
                x = int(360 - 50 * (t - STAGE_SHOTS[0]))
                img[60:300, x : x + 240] = second
            else:
                img = np.full((360, 640, 3), (60, 60, 70), np.uint8)
                sway = int(10 * np.sin(3 * t))
                for k, face in enumerate(audience):
                    x = 80 + 300 * k + sway
                    img[100:270, x : x + 170] = face
            out.write(img)
    return path


@dataclass(frozen=True)
class Step:
    name: str
    source: str  # said to the user
    files: tuple[str, ...]
    make: Callable[[Path], None]


STEPS = (
    Step(
        "face_recognition",
        "PyPI face_recognition 1.3.0 sdist (pip download)",
        tuple(f"faces/{p}" for p in SDIST_PHOTOS),
        _sdist_photos,
    ),
    Step(
        "opencv-doc",
        "Debian opencv-doc (apt-get download, 96 MB)",
        ("video/vtest.avi", "faces/messi5.jpg"),
        _opencv_samples,
    ),
    Step(
        "skimage",
        "scikit-image sample photos",
        ("faces/astronaut.png", "faces/cameraman.png"),
        _skimage_photos,
    ),
    Step(
        "generated",
        "generated from the photos above",
        (
            "faces/two_people.jpg",
            "faces/obama_small.jpg",
            "faces/people/obama/obama.jpg",
            "faces/people/obama/obama2.jpg",
            "faces/people/biden/biden.jpg",
            "faces/people/biden/biden2.jpg",
            "faces/people/eileen_collins/astronaut.jpg",
            "faces/people/eileen_collins/astronaut2.jpg",
            "faces/probes/obama3.jpg",
            "faces/probes/eileen_collins1.jpg",
            "faces/probes/obama_and_biden.jpg",
            "faces/stage_clip.mp4",
        ),
        _generated,
    ),
)
FILES = tuple(f for s in STEPS for f in s.files)


def _manifest(root: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    if data.get("version") != VERSION:
        return {}
    return data.get("steps", {})


def _done(root: Path, manifest: dict[str, dict[str, str]], step: Step) -> bool:
    return step.name in manifest and all((root / f).is_file() for f in step.files)


def missing(root: Path | None = None) -> list[str]:
    """The steps not done in the cache at `root` (default: `default_dir()`)."""
    root = root or default_dir()
    manifest = _manifest(root)
    return [s.name for s in STEPS if not _done(root, manifest, s)]


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run filling it: wait, then find it done
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure(root: Path | None = None, report: Callable[[str], None] | None = None) -> Path:
    """Fill the cache at `root` where it is not whole; return `root`. `report` is told each
    step as it starts. Raises TestDataUnavailable saying which source failed and why."""
    root = root or default_dir()
    if not missing(root):
        return root
    with _locked(root):
        manifest = _manifest(root)
        for step in STEPS:
            if _done(root, manifest, step):
                continue
            if report:
                report(f"{step.name}: {step.source}")
            try:
                step.make(root)
            except (FetchError, OSError) as exc:
                raise TestDataUnavailable(f"test data step {step.name!r} failed: {exc}") from exc
            manifest[step.name] = {f: sha256_of(root / f) for f in step.files}
            tmp = root / "manifest.json.tmp"
            tmp.write_text(json.dumps({"version": VERSION, "steps": manifest}, indent=1))
            tmp.replace(root / "manifest.json")
    return root


def main(argv: list[str] | None = None) -> int:
    import argparse

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    ap = argparse.ArgumentParser(prog="python -m vigil.demo.testdata", description=__doc__)
    ap.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"cache folder (default: ${ENV} or ~/.cache/vigil/testdata)",
    )
    args = ap.parse_args(argv)
    root = args.dir or default_dir()
    console = Console(stderr=True)
    todo = missing(root)
    if not todo:
        console.print(f"test data complete in {root}")
        return 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"test data -> {root}", total=len(todo))

        def report(what: str) -> None:
            if progress.tasks[task].description.startswith("  "):
                progress.advance(task)
            progress.update(task, description=f"  {what}")

        try:
            ensure(root, report)
        except TestDataUnavailable as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 1
        progress.update(task, completed=len(todo), description=f"test data ready in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
