"""Turning a similarity score into a decision and a confidence a person can read.

A `Calibration` holds the match threshold and a logistic curve score -> P(same person),
fitted on the operator's own labelled pairs by `vigil eval pairs --save` (with
`--with-verified`, also on the matches people confirmed or rejected: `fit_input`), and stored
per model in `<data_dir>/calibration.json`. Until then the model's published threshold is used.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vigil.errors import VigilError
from vigil.vision.models import SFACE, SFACE_COSINE_THRESHOLD

CALIBRATION_FILE = "calibration.json"
# Slope of the default logistic curve: confidence 0.1 at threshold - 0.125, 0.9 at + 0.125.
_DEFAULT_SLOPE = math.log(81) / 0.25


@dataclass(frozen=True)
class Calibration:
    model: str
    threshold: float
    slope: float
    intercept: float
    source: str  # "published" or the pairs file it was fitted on
    pairs: int = 0
    created_at: str = ""

    def confidence(self, score: float) -> float:
        """Estimated probability that two faces with this score are the same person."""
        z = self.slope * score + self.intercept
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    @classmethod
    def default(cls, model: str, threshold: float = SFACE_COSINE_THRESHOLD) -> Calibration:
        return cls(model, threshold, _DEFAULT_SLOPE, -_DEFAULT_SLOPE * threshold, "published")

    @classmethod
    def fit(cls, model: str, scores: np.ndarray, same: np.ndarray, threshold: float, source: str):
        """Logistic fit of P(same | score) on labelled pairs (Platt scaling)."""
        from sklearn.linear_model import LogisticRegression

        if len(set(same.tolist())) < 2:
            raise VigilError("calibration needs both same-person and different-person pairs")
        lr = LogisticRegression(C=1e4).fit(scores.reshape(-1, 1), same.astype(int))
        return cls(
            model,
            float(threshold),
            float(lr.coef_[0, 0]),
            float(lr.intercept_[0]),
            source,
            len(scores),
            datetime.now(UTC).isoformat(timespec="seconds"),
        )


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
            cal = Calibration(**saved)
    if override is not None:
        cal = Calibration(**{**asdict(cal), "threshold": override, "source": "config"})
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
