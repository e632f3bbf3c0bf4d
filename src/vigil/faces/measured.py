"""The measured accuracy of face matching on this site, as saved by `vigil eval pairs --save`.

One `MeasuredAccuracy` per model in `<data_dir>/accuracy.json`, beside the calibration it
was measured with: when, on which pairs file, the adopted threshold, the accuracy and error
rates there, and per group (when the pairs carry a `group` column) the rates and the widest
gap between groups, and per face-size band (`faces.calibration.Band`). The DPIA and the
record of processing quote it; `load_measured` returns
None when nothing was measured, and the documents then say so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vigil.errors import VigilError
from vigil.files import write_atomic

ACCURACY_FILE = "accuracy.json"


@dataclass(frozen=True)
class Rates:
    pairs: int
    accuracy: float
    false_match_rate: float | None  # different-person pairs wrongly accepted
    false_non_match_rate: float | None  # same-person pairs wrongly rejected


@dataclass(frozen=True)
class MeasuredAccuracy:
    model: str
    measured_at: str  # ISO 8601, UTC
    source: str  # the pairs file
    threshold: float  # the threshold adopted with it
    overall: Rates
    roc_auc: float | None = None
    groups: dict[str, Rates] = field(default_factory=dict)
    widest_gap: dict[str, float] = field(default_factory=dict)  # metric -> max - min
    bands: dict[str, Rates] = field(default_factory=dict)  # by face size (0073)

    @classmethod
    def from_dict(cls, data: dict) -> MeasuredAccuracy:
        return cls(
            **{
                **data,
                "overall": Rates(**data["overall"]),
                "groups": {g: Rates(**r) for g, r in data.get("groups", {}).items()},
                "bands": {b: Rates(**r) for b, r in data.get("bands", {}).items()},
            }
        )


def save_measured(data_dir: Path, measured: MeasuredAccuracy) -> Path:
    path = data_dir / ACCURACY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text()) if path.is_file() else {}
    existing[measured.model] = asdict(measured)
    write_atomic(path, json.dumps(existing, indent=2).encode(), mode=0o644)
    return path


def load_measured(data_dir: Path, model: str) -> MeasuredAccuracy | None:
    path = data_dir / ACCURACY_FILE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text()).get(model)
        return MeasuredAccuracy.from_dict(saved) if saved else None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise VigilError(
            f"{path} is unreadable: {exc}", hint="re-run `vigil eval pairs --save`"
        ) from exc
