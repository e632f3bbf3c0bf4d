"""Turning a similarity score into a decision and a confidence a person can read.

A `Calibration` holds the match threshold and a logistic curve score -> P(same person),
fitted on the operator's own labelled pairs by `vigil eval pairs --save` (with
`--with-verified`, also on the matches people confirmed or rejected: `fit_input`), and stored
per model in `<data_dir>/calibration.json`. Until then the model's published threshold is used.

Small faces score lower for the same person, so a calibration also holds size bands (`Band`:
the face's shorter side in pixels, each with its own threshold and curve). A face below the
lowest band (`floor_px`) is never given a name. The SFace default ships two bands, measured on
the degraded pairs of `vigil.demo.cctv` (decision 0073); `vigil eval pairs --save` refits every
band its pairs cover with at least `MIN_BAND_PAIRS` pairs of both kinds, and keeps the rest.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vigil.errors import VigilError
from vigil.vision.models import SFACE, SFACE_COSINE_THRESHOLD

CALIBRATION_FILE = "calibration.json"
# Slope of the default logistic curve: confidence 0.1 at threshold - 0.125, 0.9 at + 0.125.
_DEFAULT_SLOPE = math.log(81) / 0.25
# SFace's shipped size bands (0073): faces 28-40 px wide, as a 640x360 sub-stream shows someone
# a few metres away, take a lower threshold; under 28 px no name at all.
FLOOR_PX = 28.0
LARGE_PX = 40.0
SMALL_FACE_THRESHOLD = 0.30
MIN_BAND_PAIRS = 20  # fewer pairs (or pairs of one kind only) in a band: it keeps its default
_UNREACHABLE = 2.0  # a threshold no cosine similarity reaches: under the floor, no name


def _logistic(slope: float, intercept: float, score: float) -> float:
    z = slope * score + intercept
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class Band:
    """The threshold and curve for faces whose shorter side is in [min_px, max_px)."""

    min_px: float
    max_px: float | None  # None: no upper bound
    threshold: float
    slope: float
    intercept: float
    source: str = "published"
    pairs: int = 0

    @property
    def name(self) -> str:
        if self.min_px == 0 and self.max_px is not None:
            return f"under {self.max_px:g} px"
        if self.min_px == 0:
            return "any size"
        if self.max_px is None:
            return f"{self.min_px:g}+ px"
        return f"{self.min_px:g}-{self.max_px:g} px"

    def holds(self, size_px: float) -> bool:
        return self.min_px <= size_px and (self.max_px is None or size_px < self.max_px)

    def confidence(self, score: float) -> float:
        return _logistic(self.slope, self.intercept, score)


def _default_band(lo: float, hi: float | None, threshold: float) -> Band:
    return Band(lo, hi, threshold, _DEFAULT_SLOPE, -_DEFAULT_SLOPE * threshold)


@dataclass(frozen=True)
class Calibration:
    model: str
    threshold: float  # for a face of unknown size
    slope: float
    intercept: float
    source: str  # "published" or the pairs file it was fitted on
    pairs: int = 0
    created_at: str = ""
    bands: tuple[Band, ...] = ()  # by size, smallest first; none: one threshold for all sizes

    def confidence(self, score: float) -> float:
        """Estimated probability that two faces with this score are the same person."""
        return _logistic(self.slope, self.intercept, score)

    @property
    def floor_px(self) -> float:
        """Smallest face (shorter side, pixels) the calibration supports naming."""
        return self.bands[0].min_px if self.bands else 0.0

    def band(self, size_px: float | None) -> Band:
        """The band that decides a face of this size: the size-free figures when the size is
        unknown or there are no bands. A face under `floor_px` gets a band named for it whose
        threshold no score reaches."""
        if size_px is None or not self.bands:
            return Band(0, None, self.threshold, self.slope, self.intercept, self.source)
        if size_px < self.floor_px:
            return Band(0, self.floor_px, _UNREACHABLE, self.slope, self.intercept, "floor")
        return next((b for b in self.bands if b.holds(size_px)), self.bands[-1])

    @classmethod
    def default(cls, model: str, threshold: float = SFACE_COSINE_THRESHOLD) -> Calibration:
        bands = (
            (
                _default_band(FLOOR_PX, LARGE_PX, SMALL_FACE_THRESHOLD),
                _default_band(LARGE_PX, None, threshold),
            )
            if model == SFACE.name
            else ()
        )
        return cls(
            model, threshold, _DEFAULT_SLOPE, -_DEFAULT_SLOPE * threshold, "published", bands=bands
        )

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """A saved calibration; one saved before size bands existed keeps the shipped small-face
        band and floor, its fitted threshold and curve deciding larger faces."""
        if "bands" in data:
            return cls(**{**data, "bands": tuple(Band(**b) for b in data["bands"])})
        cal = cls(**data)
        shipped = Calibration.default(cal.model).bands
        if not shipped:
            return cal
        large = replace(
            shipped[-1],
            threshold=cal.threshold,
            slope=cal.slope,
            intercept=cal.intercept,
            source=cal.source,
            pairs=cal.pairs,
        )
        return replace(cal, bands=(*shipped[:-1], large))

    @classmethod
    def fit(
        cls,
        model: str,
        scores: np.ndarray,
        same: np.ndarray,
        threshold: float,
        source: str,
        sizes: np.ndarray | None = None,
    ) -> Calibration:
        """Logistic fit of P(same | score) on labelled pairs (Platt scaling); with `sizes` (the
        smaller face of each pair, pixels; NaN where unknown), each band they cover is refitted
        (its best threshold and curve), the others keep the default's."""
        slope, intercept = _platt(scores, same)
        bands = Calibration.default(model).bands
        if sizes is not None:
            bands = tuple(_fit_band(b, scores, same, sizes, source) for b in bands)
        return cls(
            model,
            float(threshold),
            slope,
            intercept,
            source,
            len(scores),
            datetime.now(UTC).isoformat(timespec="seconds"),
            bands,
        )


def _platt(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    if len(set(same.tolist())) < 2:
        raise VigilError("calibration needs both same-person and different-person pairs")
    lr = LogisticRegression(C=1e4).fit(scores.reshape(-1, 1), same.astype(int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _fit_band(
    band: Band, scores: np.ndarray, same: np.ndarray, sizes: np.ndarray, source: str
) -> Band:
    inside = np.array([not math.isnan(s) and band.holds(float(s)) for s in sizes], bool)
    s, y = scores[inside], same[inside]
    if len(s) < MIN_BAND_PAIRS or y.all() or not y.any():
        return band
    slope, intercept = _platt(s, y)
    return replace(
        band,
        threshold=best_threshold(s, y)[0],
        slope=slope,
        intercept=intercept,
        source=source,
        pairs=len(s),
    )


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold with the highest accuracy; among ties, the middle one (widest margins)."""
    s = np.unique(scores)
    candidates = np.concatenate([[s[0] - 1e-3], (s[:-1] + s[1:]) / 2, [s[-1] + 1e-3]])
    acc = np.array([np.mean((scores >= t) == same) for t in candidates])
    tied = candidates[acc == acc.max()]
    return float(np.median(tied)), float(acc.max())


def fit_input(
    scores: np.ndarray, same: np.ndarray, verified: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The (scores, same) a calibration is fitted on: the pairs file's, then the verified
    pairs' (`faces.verified_pairs.verified_scores`) when given."""
    if verified is None:
        return scores, same
    return (
        np.concatenate([scores, verified[0]]).astype(np.float64),
        np.concatenate([same, verified[1]]).astype(bool),
    )


def confidence_text(confidence: float) -> str:
    """A confidence for people to read: never a flat 100% or 0%."""
    if confidence > 0.999:
        return ">99.9%"
    if confidence < 0.001:
        return "<0.1%"
    return f"{confidence:.1%}"


def load_calibration(data_dir: Path, model: str, override: float | None = None) -> Calibration:
    """The calibration for `model` (saved, else published); `override` fixes the threshold."""
    cal = Calibration.default(model) if model == SFACE.name else Calibration.default(model, 0.5)
    path = data_dir / CALIBRATION_FILE
    if path.is_file():
        try:
            saved = json.loads(path.read_text()).get(model)
        except (OSError, ValueError) as exc:
            raise VigilError(
                f"{path} is unreadable: {exc}", hint="re-run `vigil eval pairs --save`"
            ) from exc
        if saved:
            try:
                cal = Calibration.from_dict(saved)
            except TypeError as exc:
                raise VigilError(
                    f"{path} is unreadable: {exc}", hint="re-run `vigil eval pairs --save`"
                ) from exc
    if override is not None:  # the operator's one threshold, for every size band too
        bands = tuple(replace(b, threshold=override, source="config") for b in cal.bands)
        cal = replace(cal, threshold=override, source="config", bands=bands)
    return cal


def save_calibration(data_dir: Path, cal: Calibration) -> Path:
    path = data_dir / CALIBRATION_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text()) if path.is_file() else {}
    existing[cal.model] = asdict(cal)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(existing, indent=2))
    tmp.replace(path)  # atomic: a crash never leaves a half-written calibration
    return path
