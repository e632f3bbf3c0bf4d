"""The face quality gate: is this face good enough to enrol, or to trust a match on?

Each check that fails gives a reason a person can act on ("move closer", "face the camera").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from vigil.config import QualityConfig
from vigil.vision.detector import DetectedFace


@dataclass(frozen=True)
class Quality:
    size_px: float
    sharpness: float  # variance of the Laplacian of the aligned crop
    yaw_deg: float  # estimated head turn left/right, from landmarks
    pitch_ratio: float  # nose height between eyes (0) and mouth (1); ~0.45 when level
    detector_score: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def score(self) -> float:
        """0..1: higher is better. Used to pick the best face of a track or an image."""
        size = min(1.0, self.size_px / 112.0)
        sharp = min(1.0, self.sharpness / 200.0)
        pose = max(0.0, 1.0 - abs(self.yaw_deg) / 60.0)
        return round(0.3 * size + 0.2 * sharp + 0.3 * pose + 0.2 * self.detector_score, 4)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "score": self.score,
            "size_px": round(self.size_px, 1),
            "sharpness": round(self.sharpness, 1),
            "yaw_deg": round(self.yaw_deg, 1),
            "detector_score": round(self.detector_score, 3),
            "problems": self.problems,
        }


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Head turn in degrees from how far the nose sits off the eyes' midline."""
    right_eye, left_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_vec = left_eye - right_eye
    eye_dist = float(np.linalg.norm(eye_vec))
    if eye_dist < 1e-6:
        return 90.0
    mid = (left_eye + right_eye) / 2
    # Signed offset of the nose along the eye line, in units of eye distance. For a frontal
    # face it is ~0; at a 45 degree turn the nose sits ~half an eye distance off the midline.
    offset = float(np.dot(nose - mid, eye_vec / eye_dist)) / eye_dist
    return math.degrees(math.asin(max(-1.0, min(1.0, offset / 0.7))))


def estimate_pitch_ratio(landmarks: np.ndarray) -> float:
    eye_y = (landmarks[0, 1] + landmarks[1, 1]) / 2
    mouth_y = (landmarks[3, 1] + landmarks[4, 1]) / 2
    span = mouth_y - eye_y
    return float((landmarks[2, 1] - eye_y) / span) if abs(span) > 1e-6 else 0.0


def sharpness(aligned: np.ndarray) -> float:
    gray = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY) if aligned.ndim == 3 else aligned
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def assess(face: DetectedFace, aligned: np.ndarray, cfg: QualityConfig) -> Quality:
    size = face.short_side
    sharp = sharpness(aligned)
    yaw = estimate_yaw(face.landmarks)
    pitch = estimate_pitch_ratio(face.landmarks)
    problems = []
    if size < cfg.min_face_px:
        problems.append(
            f"face is {size:.0f} px, needs {cfg.min_face_px}: use a closer or larger photo"
        )
    if sharp < cfg.min_sharpness:
        problems.append(
            f"face is blurred (sharpness {sharp:.0f} < {cfg.min_sharpness:.0f}): "
            "use a sharper photo, hold the camera still"
        )
    if abs(yaw) > cfg.max_yaw_deg:
        problems.append(
            f"head turned ~{abs(yaw):.0f} degrees (max {cfg.max_yaw_deg:.0f}): "
            "use a photo facing the camera"
        )
    if not 0.15 <= pitch <= 0.85:
        problems.append("head tilted far up or down: use a photo with the head level")
    if face.score < cfg.min_detector_score:
        problems.append(
            f"detector is unsure this is a face (score {face.score:.2f} < "
            f"{cfg.min_detector_score:.2f}): use a clearer, well-lit photo"
        )
    return Quality(size, sharp, yaw, pitch, face.score, problems)
