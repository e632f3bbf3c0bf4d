"""The face engine: detect, judge quality, align and embed faces in an image.

This is the one entry point the rest of Vigil uses for faces; detector and embedder are
swappable backends (`vigil.vision.detector.FaceDetector`, `vigil.vision.embedder.Embedder`).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from vigil.config import FacesConfig
from vigil.errors import InputError
from vigil.faces.quality import Quality, assess
from vigil.vision.align import align_face
from vigil.vision.detector import DetectedFace, FaceDetector, YuNetDetector
from vigil.vision.embedder import Embedder, embedder_name, make_embedder


@dataclass(frozen=True)
class FaceObservation:
    """A detected face with its quality and (when embedded) its template vector."""

    face: DetectedFace
    quality: Quality
    embedding: np.ndarray | None = None
    crop: np.ndarray | None = None  # aligned 112x112 BGR


class FaceEngine:
    def __init__(
        self,
        config: FacesConfig | None = None,
        detector: FaceDetector | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.config = config or FacesConfig()
        self.detector = detector or YuNetDetector(
            self.config.detector_score, self.config.detect_max_side
        )
        self._embedder = embedder
        self._loading: Future[Embedder] | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:  # loaded on first use: detection-only callers never pay for it
            self._embedder = self._loading.result() if self._loading else self._make_embedder()
        return self._embedder

    def _make_embedder(self) -> Embedder:
        c = self.config
        return make_embedder(c.embedder_backend, c.embedder_model, c.threads)

    def load_embedder_meanwhile(self) -> None:
        """Start loading the embedder on a thread: a run that will embed detects meanwhile."""
        if self._embedder is not None or self._loading is not None:
            return
        loading: Future[Embedder] = Future()

        def load() -> None:
            try:
                loading.set_result(self._make_embedder())
            except BaseException as exc:  # raised again to whoever asks for the embedder
                loading.set_exception(exc)

        self._loading = loading
        threading.Thread(target=load, name="load-embedder", daemon=True).start()

    @property
    def model_name(self) -> str:
        """Known without loading the model: a command loads it where it first embeds."""
        if self._embedder is None:
            return embedder_name(self.config.embedder_model)
        return self._embedder.name

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        return self.detector.detect(image)

    def analyze(self, image: np.ndarray, *, embed: bool = True) -> list[FaceObservation]:
        """Every face in the image, largest first, with quality and (optionally) embeddings."""
        faces = self.detect(image)
        crops = [align_face(image, f.landmarks) for f in faces]
        qualities = [assess(f, c, self.config.quality) for f, c in zip(faces, crops, strict=True)]
        vectors: list[np.ndarray | None] = [None] * len(faces)
        if embed and faces:
            vectors = list(self.embedder.embed(crops))
        return [
            FaceObservation(f, q, v, c)
            for f, q, v, c in zip(faces, qualities, vectors, crops, strict=True)
        ]

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        return self.embedder.embed(crops)

    def single_face(self, image: np.ndarray, label: str, *, embed: bool = True) -> FaceObservation:
        """The one clear face of a portrait photo (for enrolment and compare), or InputError.

        Faces the detector is unsure of are ignored; a second confident face of similar size
        makes the photo ambiguous (whom to enrol?), so it is refused. `embed=False`: the
        caller embeds the crop (in a batch with others).
        """
        obs = self.analyze(image, embed=embed)
        confident = [o for o in obs if o.face.score >= self.config.quality.min_detector_score]
        candidates = confident or obs
        if not candidates:
            raise InputError(
                f"{label}: no face found", hint="use a photo where the face is clear and frontal"
            )
        if len(candidates) > 1:
            area = [o.face.box[2] * o.face.box[3] for o in candidates]
            if area[0] < 1.5 * area[1]:
                raise InputError(
                    f"{label}: {len(candidates)} faces of similar size; cannot tell whose it is",
                    hint="crop the photo to one person",
                )
        return candidates[0]
