"""What the analyzer keeps per track: one dataclass per kind of track.

Every track keeps its best snapshot so far (`Sighting`). Person and face tracks also carry an
identity (`Identity`): the best match of their faces, the template it came from, the uid of
their event and whether that event was announced. A face track keeps the look later faces must
match to continue it (its best face's embedding) and the person track it rides on; a person
track keeps the face tracks riding on it, whose event is the person's. Vehicle tracks keep
`pipeline.vehicles.VehicleState`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vigil.faces.matcher import Match
from vigil.pipeline.tracker import Track


@dataclass
class Sighting:
    """Any track: its best snapshot so far and the key it won on."""

    snapshot: np.ndarray | None = None
    snapshot_key: tuple[float, float] | None = None  # (share in view, score x sharpness)


@dataclass
class Identity(Sighting):
    """A person or face track: who it is, as far as its faces tell."""

    match: Match | None = None  # the best match of its faces; None: no face recognisable yet
    embedding: np.ndarray | None = None  # the template behind `match`
    face_quality: float | None = None  # the best face's; once set, that face is the snapshot
    uid: str | None = None  # its event's, fixed when first told
    announced: bool = False  # its event was stored while the track went on


@dataclass
class FaceState(Identity):
    reference: np.ndarray | None = None  # the best face's embedding: the look to match
    checked: float = 0.0  # when a face was last compared with `reference`
    person: Track[PersonState] | None = None  # the person track it rides on


@dataclass
class PersonState(Identity):
    faces: dict[int, Track[FaceState]] = field(default_factory=dict)  # riding on it, by id
