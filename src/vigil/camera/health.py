"""Camera health and tamper detection: faults of the picture and of the stream, raised when
they have lasted and cleared when they are gone.

`PictureHealth.observe(t, image)` looks at one analysis frame, scaled down to 320 px grey
(`vigil bench motion` prints the cost beside the motion gate's; the sharpness and scene
comparison, most of it, run at most once a second):
- covered: the grey levels' spread is below `covered_std` (lens covered, black or one colour);
- dark: the mean grey level is below `dark_mean` (and the picture is not flat);
- blurred: the contrast-normalised sharpness (std of the Laplacian over std of the grey levels,
  so a light change leaves it alone) is below `blur_ratio` of the reference picture's;
- moved: most textured tiles of an 8x6 grid no longer match the reference's edges (blurred
  Sobel magnitude, correlated per tile: a light change keeps the edges where they were, a
  person passing by changes a few tiles, a turned camera all of them);
- frozen: consecutive frames are identical (fewer than 1 in 2,000 pixels differ by more than a
  few grey levels: a live camera's sensor noise alone differs more).

The reference is the first normal frame; it follows slow changes every `reference_every_s`,
only while no condition is active or pending and the picture still matches it, so a camera
turned for good keeps its alarm until an operator accepts the new view (`reset_reference`).

`StreamHealth.observe(t, status)` reads the recorder's counters (`camera.status`): a
`stream_collapse` when the frame rate or bitrate falls below a share of its usual value (a
slow running average of healthy readings), a `recording_gap` when a recorded camera is not
recording. Each condition is raised once it has held for its `*_after_s` (the change carries
the time it began) and cleared once it has been gone for `clear_after_s`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vigil.camera.status import CameraStatus
from vigil.config import HealthConfig
from vigil.store.enums import HealthCondition

WIDTH = 320  # the picture checks run on a grey copy this wide
TILES = (8, 6)  # columns, rows of the grid the scene is compared on
TILE_MATCH = 0.5  # edge correlation of a tile with the reference's below which it changed
MIN_TEXTURED_TILES = 6  # fewer: the scene is too plain to tell whether it moved
FROZEN_LEVELS = 4  # grey levels a pixel must change by to count as changed
FROZEN_SHARE = 0.0005  # share of changed pixels below which two frames are the same
HEALTHY_STILL = 0.25  # moved share under which the picture still matches the reference
SCENE_EVERY_S = 1.0  # sharpness and scene comparison at most this often


@dataclass(frozen=True)
class HealthChange:
    """A condition raised (`started`) or cleared; `at`: when it began, or when it cleared."""

    camera: str
    condition: HealthCondition
    started: bool
    at: float  # POSIX seconds
    measures: dict[str, float] = field(default_factory=dict)


@dataclass
class _Timer:
    """Hysteresis of one condition: active after holding `after_s`, cleared after `clear_s`
    without it."""

    after_s: float
    clear_s: float
    active: bool = False
    since: float | None = None  # the current run of frames where it holds began
    gone_since: float | None = None

    @property
    def pending(self) -> bool:
        return not self.active and self.since is not None

    def update(self, t: float, holds: bool) -> bool | None:
        """True when raised at this frame, False when cleared, None otherwise."""
        if holds:
            self.gone_since = None
            if self.since is None:
                self.since = t
            if not self.active and t - self.since >= self.after_s:
                self.active = True
                return True
            return None
        self.since = None
        if not self.active:
            return None
        if self.gone_since is None:
            self.gone_since = t
        if t - self.gone_since >= self.clear_s:
            self.active, self.gone_since = False, None
            return False
        return None


def small_grey(image: np.ndarray, width: int = WIDTH) -> np.ndarray:
    """`image` (BGR or grey) as grey at most `width` wide."""
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(
            image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA
        )
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def _sharpness(grey: np.ndarray, std: float) -> float:
    """Std of the Laplacian over std of the grey levels: soft pictures score low, whatever
    their brightness or contrast."""
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    return float(lap.std()) / max(std, 1.0)


def _tiles(a: np.ndarray) -> np.ndarray:
    cols, rows = TILES
    h, w = a.shape
    th, tw = h // rows, w // cols
    a = a[: th * rows, : tw * cols]
    return a.reshape(rows, th, cols, tw).swapaxes(1, 2).reshape(rows * cols, th * tw)


def _edge_tiles(grey: np.ndarray) -> np.ndarray:
    """Edge strength, blurred so that a pixel or two of shake does not count, per tile and
    centred (rows: tiles)."""
    g = grey.astype(np.float32)
    edges = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    edges = cv2.GaussianBlur(edges, (0, 0), 2.0)
    tiles = _tiles(edges)
    return tiles - tiles.mean(axis=1, keepdims=True)


@dataclass
class Reference:
    """The kept picture the scene and sharpness are compared with."""

    grey: np.ndarray
    at: float
    sharpness: float
    edges: np.ndarray = field(repr=False)
    textured: np.ndarray = field(repr=False)  # tiles with enough structure to compare

    @classmethod
    def of(cls, grey: np.ndarray, at: float) -> Reference:
        grey = small_grey(grey)
        edges = _edge_tiles(grey)
        spread = edges.std(axis=1)
        textured = spread >= max(2.0, 0.25 * float(np.median(spread)))
        std = float(grey.std())
        return cls(grey, at, _sharpness(grey, std), edges, textured)

    def moved_share(self, edges: np.ndarray) -> float | None:
        """Share of the textured tiles that no longer match; None: too plain to tell."""
        if int(self.textured.sum()) < MIN_TEXTURED_TILES or edges.shape != self.edges.shape:
            return None
        a, b = self.edges[self.textured], edges[self.textured]
        norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
        corr = np.where(norm > 0, (a * b).sum(axis=1) / np.maximum(norm, 1e-9), 0.0)
        return float((corr < TILE_MATCH).mean())


@dataclass(frozen=True)
class PictureMeasures:
    mean: float
    std: float
    sharpness_ratio: float | None  # sharpness over the reference's
    moved_share: float | None
    changed_share: float | None  # pixels changed since the previous frame

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in vars(self).items() if v is not None}


PICTURE_CONDITIONS = (
    HealthCondition.covered,
    HealthCondition.dark,
    HealthCondition.blurred,
    HealthCondition.moved,
    HealthCondition.frozen,
)


class PictureHealth:
    """The picture checks of one camera; feed it every analysis frame, in time order."""

    def __init__(
        self,
        camera: str,
        cfg: HealthConfig,
        *,
        reference: Reference | None = None,
        active: set[HealthCondition] | None = None,
        live: bool = True,
    ) -> None:
        """`live`: a camera, not a file played in a loop (a still clip is not frozen)."""
        self.camera = camera
        self.cfg = cfg
        self.live = live
        self.reference = reference
        self.reference_changed = False  # set when a new reference is taken; the owner resets it
        self.last: PictureMeasures | None = None
        self._prev: np.ndarray | None = None
        self._scene_at: float | None = None
        self._scene: tuple[float, float | None] = (1.0, None)
        after = {
            HealthCondition.covered: cfg.covered_after_s,
            HealthCondition.dark: cfg.dark_after_s,
            HealthCondition.blurred: cfg.blur_after_s,
            HealthCondition.moved: cfg.moved_after_s,
            HealthCondition.frozen: cfg.frozen_after_s,
        }
        self.timers = {c: _Timer(after[c], cfg.clear_after_s) for c in PICTURE_CONDITIONS}
        for c in active or set():  # still open from before a restart: cleared if gone
            if c in self.timers:
                self.timers[c].active = True

    @property
    def active(self) -> set[HealthCondition]:
        return {c for c, timer in self.timers.items() if timer.active}

    def reset_reference(self) -> None:
        """Accept the current view: the next normal frame becomes the reference."""
        self.reference, self._scene_at = None, None

    def observe(self, t: float, image: np.ndarray) -> list[HealthChange]:
        cfg = self.cfg
        grey = small_grey(image)
        mean_, std_ = cv2.meanStdDev(grey)
        mean, std = float(mean_[0, 0]), float(std_[0, 0])
        covered = std < cfg.covered_std
        dark = not covered and mean < cfg.dark_mean
        changed = None
        if self._prev is not None and self._prev.shape == grey.shape:
            diff = cv2.absdiff(grey, self._prev)
            changed = float(np.count_nonzero(diff > FROZEN_LEVELS)) / diff.size
        self._prev = grey
        ref, ratio, moved_share = self.reference, None, None
        normal = not covered and not dark
        if ref is not None and normal:
            # The scene checks are most of the cost and their faults must last tens of seconds:
            # once a `SCENE_EVERY_S`, the frames between keep the last result.
            if self._scene_at is None or not 0 <= t - self._scene_at < SCENE_EVERY_S:
                self._scene_at = t
                self._scene = (
                    _sharpness(grey, std) / max(ref.sharpness, 1e-6),
                    ref.moved_share(_edge_tiles(grey)),
                )
            ratio, moved_share = self._scene
        else:
            self._scene_at = None
        blurred = ratio is not None and ratio < cfg.blur_ratio
        moved = not blurred and moved_share is not None and moved_share >= cfg.moved_share
        frozen = self.live and not covered and changed is not None and changed < FROZEN_SHARE
        self.last = PictureMeasures(mean, std, ratio, moved_share, changed)
        holds = {
            HealthCondition.covered: covered,
            HealthCondition.dark: dark,
            HealthCondition.blurred: blurred,
            HealthCondition.moved: moved,
            HealthCondition.frozen: frozen,
        }
        changes = []
        for condition, timer in self.timers.items():
            since = timer.since
            result = timer.update(t, holds[condition])
            if result is not None:
                at = (since if since is not None else t) if result else t
                changes.append(
                    HealthChange(self.camera, condition, result, at, self.last.as_dict())
                )
        if normal and not frozen:
            self._keep_reference(t, grey, moved_share)
        return changes

    def _keep_reference(self, t: float, grey: np.ndarray, moved_share: float | None) -> None:
        if self.reference is None:
            self.reference, self.reference_changed = Reference.of(grey, t), True
            self._scene_at = None
            return
        if t - self.reference.at < self.cfg.reference_every_s:
            return
        quiet = not any(timer.active or timer.pending for timer in self.timers.values())
        if quiet and (moved_share is None or moved_share < HEALTHY_STILL):
            self.reference, self.reference_changed = Reference.of(grey, t), True
            self._scene_at = None


class StreamHealth:
    """The stream checks of one camera, from the recorder's status counters."""

    def __init__(
        self,
        camera: str,
        cfg: HealthConfig,
        *,
        recorded: bool,
        active: set[HealthCondition] | None = None,
        learn_rate: float = 0.05,
    ) -> None:
        self.camera = camera
        self.cfg = cfg
        self.recorded = recorded
        self.learn_rate = learn_rate
        self.usual_fps: float | None = None
        self.usual_kbps: float | None = None
        self.timers = {
            HealthCondition.stream_collapse: _Timer(cfg.stream_after_s, cfg.clear_after_s),
            HealthCondition.recording_gap: _Timer(cfg.gap_after_s, cfg.clear_after_s),
        }
        for c in active or set():
            if c in self.timers:
                self.timers[c].active = True

    def _learn(self, usual: float | None, value: float) -> float:
        return value if usual is None else usual + self.learn_rate * (value - usual)

    def observe(self, t: float, status: CameraStatus) -> list[HealthChange]:
        cfg = self.cfg
        fps, kbps = status.fps, status.bitrate_kbps
        slow_fps = bool(
            fps is not None and self.usual_fps and fps < cfg.fps_drop_ratio * self.usual_fps
        )
        low_kbps = bool(
            kbps is not None and self.usual_kbps and kbps < cfg.bitrate_drop_ratio * self.usual_kbps
        )
        collapse = status.online and (slow_fps or low_kbps)
        if status.online and not collapse:  # only healthy readings make the usual values
            if fps:
                self.usual_fps = self._learn(self.usual_fps, fps)
            if kbps:
                self.usual_kbps = self._learn(self.usual_kbps, kbps)
        gap = self.recorded and not status.recording
        measures = {
            k: round(v, 2)
            for k, v in (
                ("fps", fps),
                ("usual_fps", self.usual_fps),
                ("bitrate_kbps", kbps),
                ("usual_kbps", self.usual_kbps),
            )
            if v is not None
        }
        holds = {HealthCondition.stream_collapse: collapse, HealthCondition.recording_gap: gap}
        changes = []
        for condition, timer in self.timers.items():
            since = timer.since
            result = timer.update(t, holds[condition])
            if result is not None:
                at = (since if since is not None else t) if result else t
                changes.append(HealthChange(self.camera, condition, result, at, measures))
        return changes
