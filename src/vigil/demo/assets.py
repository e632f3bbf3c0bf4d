"""Demo footage and photos, obtained offline from package registries or generated.

- Street camera: `vtest.avi` (pedestrians seen from above) from Debian's `opencv-doc`, taken
  with `apt-get download` + `dpkg-deb -x` (no root needed) and re-encoded to H.264 as a real
  camera would send it; generated walkers if that fails.
- Door camera: a clip generated from photos that packages ship: the astronaut photo of
  scikit-image (enrolled as the demo's known person) and `messi5.jpg` from `opencv-doc`
  (a stranger, never enrolled). Where `opencv-doc` is unavailable the stranger is left out.
- Factory camera: the generated factory scene of `vigil.demo.scenes` (a machine that runs and
  stops, a worker from `vtest.avi` crossing a doorway), made once by `factory_video`. Without
  `vtest.avi` there is no worker, and the camera is left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from vigil.errors import VigilError
from vigil.packages import FetchError, opencv_doc_files
from vigil.vision.video import Mp4Writer

KNOWN_NAME = "Eileen Collins"  # the astronaut in scikit-image's sample photo


@dataclass(frozen=True)
class DemoAssets:
    street_video: Path
    street_source: str  # where it came from, said to the user
    door_video: Path
    known_photo: Path
    stranger_photo: Path | None


def _write_video(path: Path, frames: Iterable[np.ndarray], fps: int) -> None:
    with Mp4Writer(path, fps) as out:
        for frame in frames:
            out.write(frame)


def _to_h264(src: Path, dst: Path) -> None:
    with av.open(str(src)) as clip:
        stream = clip.streams.video[0]
        fps = round(float(stream.average_rate or 10))
        _write_video(dst, (f.to_ndarray(format="bgr24") for f in clip.decode(stream)), fps)


def generated_street(path: Path, seconds: int = 30, fps: int = 10) -> Path:
    """Fallback street footage: dark figures walking across a grey ground."""
    rng = np.random.default_rng(1)
    walkers = [(rng.uniform(0, 768), rng.uniform(60, 520), rng.uniform(-6, 6)) for _ in range(6)]

    def frames():
        for i in range(seconds * fps):
            img = np.full((576, 768, 3), 150, np.uint8)
            for x0, y, vx in walkers:
                x = int((x0 + vx * i) % 768)
                cv2.ellipse(img, (x, int(y)), (10, 22), 0, 0, 360, (40, 40, 60), -1)
            yield img

    _write_video(path, frames(), fps)
    return path


def door_clip(path: Path, known: np.ndarray, stranger: np.ndarray | None, fps: int = 10) -> Path:
    """A 640x480 'door camera': the known person walks in and out, then the stranger."""
    visitors = [known] + ([stranger] if stranger is not None else [])
    seconds_each = 6

    def frames():
        for face in visitors:
            n = seconds_each * fps
            for i in range(n):
                img = np.full((480, 640, 3), (70, 80, 90), np.uint8)
                cv2.rectangle(img, (200, 40), (440, 480), (50, 60, 70), -1)  # the door
                t = i / n
                if 0.15 < t < 0.85:  # in view for most of the pass, growing as they approach
                    size = int(180 + 120 * t)
                    person = cv2.resize(face, (size, size))
                    x = int(170 + 140 * t)
                    y = 60
                    w = min(size, 640 - x)
                    h = min(size, 480 - y)
                    img[y : y + h, x : x + w] = person[:h, :w]
                yield img

    _write_video(path, frames(), fps)
    return path


def astronaut_photo() -> np.ndarray:
    """scikit-image's astronaut photo (BGR): the demo's known person."""
    from skimage import data

    rgb = data.astronaut()
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def prepare(folder: Path) -> DemoAssets:
    folder.mkdir(parents=True, exist_ok=True)
    known_photo = folder / "astronaut.png"
    if not known_photo.exists():
        cv2.imwrite(str(known_photo), astronaut_photo())
    wanted = [n for n in ("vtest.avi", "messi5.jpg") if not (folder / n).exists()]
    if wanted:  # else generated street footage and no stranger, as street_source says
        with contextlib.suppress(FetchError):
            opencv_doc_files(wanted, folder)
    # Cameras send H.264; vtest.avi is DivX 3, so it is re-encoded once, as a camera would.
    street, source = folder / "street.mp4", "opencv-doc vtest.avi, as H.264"
    if not street.exists():
        if (folder / "vtest.avi").exists():
            _to_h264(folder / "vtest.avi", street)
        else:
            source = "generated (opencv-doc unavailable)"
            generated_street(street)
    photo = folder / "messi5.jpg"
    stranger_photo = photo if photo.exists() else None
    door = folder / "door.mp4"
    if not door.exists():
        portrait = cv2.imread(str(known_photo))
        if portrait is None:
            raise VigilError(f"cannot read {known_photo} as an image (delete it to remake it)")
        known = portrait[0:260, 140:380]  # head and shoulders
        stranger = None
        if stranger_photo is not None:
            img = cv2.imread(str(stranger_photo))
            stranger = img[55:175, 180:300] if img is not None else None  # his head
        door_clip(door, known, stranger)
    return DemoAssets(street, source, door, known_photo, stranger_photo)


def factory_video(folder: Path) -> Path | None:
    """The factory scene (`vigil.demo.scenes`) as `folder/factory.mp4`, generated once (a few
    seconds) from `vtest.avi` that `prepare(folder)` fetched; None without `vtest.avi`."""
    from vigil.demo.scenes import factory_scene

    video = folder / "factory.mp4"
    if video.exists():
        return video
    if not (folder / "vtest.avi").exists():
        return None
    partial = folder / "factory.part.mp4"  # an interrupted run leaves no half clip as the cache
    factory_scene(partial, folder / "vtest.avi")
    partial.replace(video)
    return video
