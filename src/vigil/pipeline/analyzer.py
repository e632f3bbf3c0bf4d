"""Per-camera analysis: masks -> motion gate -> people and faces -> tracks -> recognition.

`CameraAnalyzer.process(frame, t)` takes one analysis frame and returns the events whose
tracks ended at it. Detectors run only inside motion regions (crops, merged where they
overlap), never on whole idle frames. Recognition runs once per track on its best face, and
again only when a better face appears; the track keeps its best match. Unknown faces are
never enrolled: their template travels with the event only, for the retention period.

A track never carries one person's identity to another. A scene cut (the motion gate saw the
whole picture change) ends every track. A face continues a face track only if it looks like
the track's best face (its reference embedding) whenever that is checked: when the pairing is
ambiguous (a crossing), when the face is better than the best (it is embedded anyway), and at
least every `check_every_s`; otherwise it starts a new track with its own event and identity.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from vigil.config import ZoneConfig
from vigil.events.store import new_uid
from vigil.faces.engine import FaceEngine
from vigil.faces.matcher import Match, Matcher
from vigil.faces.quality import assess
from vigil.pipeline.track_state import FaceState, Identity, PersonState, Sighting
from vigil.pipeline.tracker import Box, Gate, Track, Tracker
from vigil.pipeline.vehicles import VehicleState, direction, drove
from vigil.pipeline.zones import ZoneHappening, ZoneMonitor
from vigil.vision.align import align_face
from vigil.vision.detector import DetectedFace
from vigil.vision.image import encode_jpeg
from vigil.vision.masks import Polygon, black_out, to_pixels
from vigil.vision.mosaic import Mosaic, pack
from vigil.vision.person import VEHICLES, ObjectBox, ObjectDetector

SAME_FACE_MAX = 0.4  # cosine at or above which a face always may continue its track
# A snapshot shows the object: the best-scored, sharpest crop whose box is visible (outside the
# privacy masks and the frame's edges), never one that is black or one flat colour.
SNAPSHOT_VISIBLE = 0.8  # share of a box in view above which boxes count as equally visible
SNAPSHOT_MIN_MEAN = 12.0  # grey level: a darker crop is black (a privacy mask, a black frame)
SNAPSHOT_MIN_STD = 6.0  # grey levels: a flatter crop is one colour and shows nobody

PersonTrack = Track[PersonState]
FaceTrack = Track[FaceState]
VehicleTrack = Track[VehicleState]
AnyTrack = PersonTrack | FaceTrack | VehicleTrack


class MotionGate(Protocol):
    def regions(self, image: np.ndarray) -> list[Box]:
        """Boxes (frame pixels) where something moved in this frame; [] when idle."""
        ...

    @property
    def cut(self) -> bool:
        """The last `regions` saw the whole picture change (camera switched or moved)."""
        ...


class WholeFrame:
    """No gate: the whole frame is one region (the baseline the motion gate is measured on)."""

    cut = False

    def regions(self, image: np.ndarray) -> list[Box]:
        return [(0.0, 0.0, float(image.shape[1]), float(image.shape[0]))]


@dataclass
class EventDraft:
    """What the analyzer saw; the event store turns it into a stored event."""

    camera: str
    kind: str  # person | face | known_person | vehicle | zone_change
    start: float  # POSIX seconds
    end: float
    track_id: int
    box_path: list[tuple[float, Box]]
    snapshot_jpeg: bytes | None
    person_id: int | None = None
    person_name: str | None = None
    score: float | None = None
    confidence: float | None = None
    face_quality: float | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)  # unknown faces only
    zone: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    uid: str | None = None  # one per track: an announced event is completed under it
    final: bool = True  # False: announced while the track goes on

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly: no pixels, no template."""
        return {
            "uid": self.uid,
            "camera": self.camera,
            "kind": self.kind,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "track": self.track_id,
            "person": self.person_name,
            "score": None if self.score is None else round(self.score, 4),
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "face_quality": self.face_quality,
            "boxes": len(self.box_path),
            "zone": self.zone,
            **self.details,
        }


@dataclass
class FrameFace:
    """A face of this frame: aligned and rated once, embedded at most once (on demand)."""

    face: DetectedFace
    crop: np.ndarray | None  # aligned; None when too small to recognise
    quality: float = -1.0
    embedding: np.ndarray | None = None


@dataclass
class StageStats:
    frames: int = 0
    gated: int = 0  # frames the motion gate skipped entirely
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def merge_regions(boxes: list[Box], width: int, height: int, margin: float = 0.25) -> list[Box]:
    """Grow each box by `margin` of its size, clip to the frame, merge overlapping ones."""
    grown = []
    for x, y, w, h in boxes:
        mx, my = w * margin + 8, h * margin + 8
        x0, y0 = max(0.0, x - mx), max(0.0, y - my)
        grown.append([x0, y0, min(float(width), x + w + mx), min(float(height), y + h + my)])
    merged = True
    while merged:
        merged = False
        out: list[list[float]] = []
        for b in grown:
            for o in out:
                if b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3]:
                    o[:] = [min(o[0], b[0]), min(o[1], b[1]), max(o[2], b[2]), max(o[3], b[3])]
                    merged = True
                    break
            else:
                out.append(list(b))
        grown = out
    return [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in grown]


# A person detection scoring at least this is confident: it may start a track; a weaker one
# only continues a confirmed track (`tracker`, ByteTrack's second stage). Model scores are
# probabilities; HOG's are SVM margins (its floor 0.5): on the walkers scene its false boxes
# score 0.6-0.8 and most true ones over 1 (docs/decisions/0006-bytetrack-style-tracking.md).
CONFIDENT_SCORE = 0.5
CONFIDENT_PERSON = {"opencv-hog": 1.0}
PERSON_HIDDEN_S = 3.0
CONFIDENT_VEHICLE = 0.4  # NanoDet scores vehicles lower than people (0.4-0.65 on test footage)


def _crops(image: np.ndarray, regions: list[Box]) -> Iterator[tuple[int, int, np.ndarray]]:
    for rx, ry, rw, rh in regions:
        x0, y0 = int(rx), int(ry)
        yield x0, y0, image[y0 : y0 + int(rh), x0 : x0 + int(rw)]


def shows_something(crop: np.ndarray) -> bool:
    """Whether a snapshot crop has content: not black, not one flat colour, not empty."""
    if crop.size == 0:
        return False
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(grey.mean()) >= SNAPSHOT_MIN_MEAN and float(grey.std()) >= SNAPSHOT_MIN_STD


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the crop's grey levels: higher is sharper."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _absorb(person: PersonState, face: FaceState, snapshot: np.ndarray) -> None:
    """Give a person track its face track's best match, if better than what it has."""
    if face.match is not None and (person.match is None or face.match.score > person.match.score):
        person.match, person.embedding = face.match, face.embedding
        person.face_quality = face.face_quality
        if shows_something(snapshot):  # else the person's best snapshot so far stays
            person.snapshot = snapshot


def _inside(face: Box, person: Box) -> bool:
    cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
    x, y, w, h = person
    return x <= cx <= x + w and y <= cy <= y + h


class CameraAnalyzer:
    def __init__(
        self,
        camera: str,
        engine: FaceEngine,
        matcher: Matcher,
        detector: ObjectDetector,
        motion: MotionGate,
        privacy_masks: list[Polygon] | None = None,
        zones: list[ZoneConfig] | None = None,
        check_every_s: float = 1.0,
    ) -> None:
        self.camera = camera
        self.engine = engine
        self.matcher = matcher
        self.detector = detector
        self.motion = motion
        self.privacy_masks = privacy_masks or []
        ids = itertools.count(1)
        confident = CONFIDENT_PERSON.get(getattr(detector, "name", ""), CONFIDENT_SCORE)
        # A person hidden behind a post for a few seconds keeps their track (one event).
        self.people = Tracker(
            PersonState, high_score=confident, max_missed_s=PERSON_HIDDEN_S, ids=ids
        )
        self.faces = Tracker(FaceState, ids=ids)
        # Vehicles move predictably: a longer occlusion (a person in front) is bridged.
        self.vehicles = Tracker(
            VehicleState, high_score=CONFIDENT_VEHICLE, max_missed_s=3.0, ids=ids
        )
        self.check_every_s = check_every_s  # a face track's look is checked at least this often
        self._waiting: dict[int, PersonTrack] = {}  # ended people whose face track goes on
        self.zones = zones or []
        self._zone_monitor: ZoneMonitor | None = None
        self.stats = StageStats()
        self.last_image: np.ndarray | None = None
        self._masked: np.ndarray | None = None  # True where a privacy mask hides the frame
        self.last_regions: list[Box] = []  # the motion gate's regions in `last_image`

    def set_layout(self, privacy_masks: list[Polygon], zones: list[ZoneConfig]) -> list[EventDraft]:
        """Use new privacy masks and zones from the next frame on; trackers carry on. When the
        zones change, open machine spans end here: their events are returned."""
        self.privacy_masks = list(privacy_masks)
        self._masked = None
        if zones == self.zones:
            return []
        ended = self._zone_drafts(self._zone_monitor.finish()) if self._zone_monitor else []
        self.zones = list(zones)
        self._zone_monitor = None  # rebuilt for the new zones at the next frame
        return ended

    def _timed(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.stats.seconds[stage] += now - start
        return now

    def process(self, frame: np.ndarray, t: float) -> list[EventDraft]:
        self.stats.frames += 1
        t0 = time.perf_counter()
        image = black_out(frame, self.privacy_masks)  # before any analysis, always
        self.last_image = image  # what live view may show: masks already burned in
        regions = self.last_regions = self.motion.regions(image)
        t0 = self._timed("motion", t0)
        # Nobody in the old picture is in the new one: their tracks end before the new scene.
        cut = self._end_tracks() if self.motion.cut else []
        self.stats.counts["cuts"] += bool(self.motion.cut)
        if not regions:
            self.stats.gated += 1
            people_ended = self.people.update([], t)[1]
            vehicles_ended = self.vehicles.update([], t)[1]
            events = self._zone_events(t, image, people_ended + vehicles_ended)
            faces_ended = self.faces.update([], t)[1]
            finished = self._finish(people_ended, faces_ended)
            return cut + events + finished + self._vehicle_events(vehicles_ended)
        h, w = image.shape[:2]
        merged = merge_regions(regions, w, h)
        mosaic = self._mosaic(image, merged)
        found = self._detect_objects(image, merged, mosaic)
        people = [o.box for o in found if o.label == "person"]
        people_scores = [o.score for o in found if o.label == "person"]
        vehicles = [o for o in found if o.label in VEHICLES]
        t0 = self._timed("detect_person", t0)
        detected = self._detect_faces(image, merged, mosaic)
        t0 = self._timed("detect_face", t0)
        self.stats.counts["people"] += len(people)
        self.stats.counts["faces"] += len(detected)
        faces = [self._prepare(f, image) for f in detected]
        t0 = self._timed("recognise", t0)
        embed_s = self.stats.seconds["embed"]
        gate = self._same_look(faces, t)
        face_slots, faces_ended = self.faces.update([f.face.box for f in faces], t, gate=gate)
        face_tracks = [tr for tr in face_slots if tr is not None]  # all: faces have no scores
        person_tracks, people_ended = self.people.update(
            people, t, scores=people_scores, gate=self._own_faces(people, faces, face_tracks)
        )
        vehicle_tracks, vehicles_ended = self.vehicles.update(
            [o.box for o in vehicles], t, scores=[o.score for o in vehicles]
        )
        t0 = self._timed("track", t0)
        self.stats.seconds["track"] -= self.stats.seconds["embed"] - embed_s  # counted as embed
        for person, score in zip(person_tracks, people_scores, strict=True):
            if person is not None:  # None: a weak detection that continued no track
                self._keep_snapshot(person.data, person.box, image, score)
        people_seen = [tr for tr in person_tracks if tr is not None]
        for vehicle, moving in zip(vehicles, vehicle_tracks, strict=True):
            if moving is not None:
                moving.data.labels[vehicle.label] += 1
                self._keep_snapshot(moving.data, moving.box, image, vehicle.score)
        for face, track in zip(faces, face_tracks, strict=True):
            self._keep_snapshot(track.data, track.box, image, face.face.score)
            if face.crop is not None:  # smaller faces cannot be recognised reliably
                self._consider_face(track, image, face, t)
            # A face inside a person box lends that person its identity: one event, not two;
            # unless it is not the face that person has shown (someone else crossed it).
            owner = next((pt for pt in people_seen if _inside(face.face.box, pt.box)), None)
            if owner is not None and self._looks_alike(owner, track):
                track.data.person = owner
                owner.data.faces[track.id] = track
                _absorb(owner.data, track.data, self._crop(image, owner.box))
        self._timed("recognise", t0)
        announced = self._announce(people_seen, face_tracks)
        zone_events = self._zone_events(t, image, people_ended + vehicles_ended)
        finished = self._finish(people_ended, faces_ended) + self._vehicle_events(vehicles_ended)
        return cut + announced + zone_events + finished

    def _mosaic(self, image: np.ndarray, regions: list[Box]) -> Mosaic | None:
        """Every region in one input (`vision.mosaic`) for a CNN with a fixed square input:
        one detector run a frame, not one a region. None for other detectors (HOG)."""
        side = getattr(self.detector, "input_side", None)
        return pack(image, regions, side) if side else None

    def _detect_objects(
        self, image: np.ndarray, regions: list[Box], mosaic: Mosaic | None
    ) -> list[ObjectBox]:
        """People and vehicles in the regions, in frame pixels."""
        found = []
        if mosaic is not None:
            canvas, placements = mosaic
            for o in self.detector.detect(canvas):
                box = next((b for pl in placements if (b := pl.to_frame(o.box))), None)
                if box is not None:
                    found.append(ObjectBox(box, o.score, o.label))
            return found
        for x0, y0, crop in _crops(image, regions):
            for o in self.detector.detect(crop):
                x, y, bw, bh = o.box
                found.append(ObjectBox((x + x0, y + y0, bw, bh), o.score, o.label))
        return found

    def _detect_faces(
        self, image: np.ndarray, regions: list[Box], mosaic: Mosaic | None
    ) -> list[DetectedFace]:
        """Faces in the regions (on the mosaic when there is one), in frame pixels."""
        found = []
        if mosaic is not None:
            canvas, placements = mosaic
            for f in self.engine.detect(canvas):
                for pl in placements:
                    if (box := pl.to_frame(f.box)) is not None:
                        found.append(DetectedFace(box, pl.points_to_frame(f.landmarks), f.score))
                        break
            return found
        for x0, y0, crop in _crops(image, regions):
            shift = np.array([x0, y0], np.float32)
            for f in self.engine.detect(crop):
                box = (f.box[0] + x0, f.box[1] + y0, f.box[2], f.box[3])
                found.append(DetectedFace(box, f.landmarks + shift, f.score))
        return found

    def _prepare(self, face: DetectedFace, image: np.ndarray) -> FrameFace:
        if face.short_side < self.engine.config.recognition_min_face_px:
            return FrameFace(face, None)
        crop = align_face(image, face.landmarks)
        return FrameFace(face, crop, assess(face, crop, self.engine.config.quality).score)

    def _embedding(self, face: FrameFace) -> np.ndarray:
        if face.embedding is None:
            assert face.crop is not None
            t0 = time.perf_counter()
            face.embedding = self.engine.embed_crops([face.crop])[0]
            self._timed("embed", t0)
            self.stats.counts["embeddings"] += 1
        return face.embedding

    def _alike(self, a: np.ndarray, b: np.ndarray) -> bool:
        # The matcher's threshold: below it the two faces are not taken for one person. On the
        # test photos (6 people, 16 photos) the same person scores >= 0.56, others <= 0.28.
        # Capped: a site's strict identification threshold must not split one person's track.
        return float(a @ b) >= min(self.matcher.calibration.threshold, SAME_FACE_MAX)

    def _looks_alike(self, person: PersonTrack, face: FaceTrack) -> bool:
        mine, theirs = person.data.embedding, face.data.reference
        return mine is None or theirs is None or self._alike(mine, theirs)

    def _same_look(self, faces: list[FrameFace], t: float) -> Gate[FaceState]:
        """The face tracker's gate: may face i continue `track`? Embeds only when it must."""

        def gate(track: FaceTrack, i: int, ambiguous: bool) -> bool:
            face, state = faces[i], track.data
            if state.reference is None or face.crop is None:
                return True  # nothing to compare: a new track, or a face too small to tell
            assert state.face_quality is not None  # kept with the reference
            due = (
                ambiguous
                or face.quality > state.face_quality  # embedded anyway
                or t - state.checked >= self.check_every_s
            )
            if not due:
                return True
            if not self._alike(state.reference, self._embedding(face)):
                self.stats.counts["look_refused"] += 1
                return False
            state.checked = t
            return True

        return gate

    def _own_faces(
        self, boxes: list[Box], faces: list[FrameFace], face_tracks: list[FaceTrack]
    ) -> Gate[PersonState]:
        """The person tracker's gate: may box i continue a person `track` who has an identity?
        Not when the box shows recognisable faces and none is the track's own face nor looks
        like it: the box is someone else at the same place (a scene cut, the next visitor
        where the last one was lost). A box showing no recognisable face always may."""

        def gate(track: PersonTrack, i: int, ambiguous: bool) -> bool:
            mine = track.data.embedding
            if mine is None:
                return True
            shown = [
                (face, ft)
                for face, ft in zip(faces, face_tracks, strict=True)
                if face.crop is not None and _inside(face.face.box, boxes[i])
            ]
            if not shown or any(ft.id in track.data.faces for _, ft in shown):
                return True
            for face, ft in shown:  # a face track's look, else this face's (embedded anyway)
                look = ft.data.reference
                if self._alike(mine, look if look is not None else self._embedding(face)):
                    return True
            self.stats.counts["person_refused"] += 1
            return False

        return gate

    def _announce(self, people: list[PersonTrack], faces: list[FaceTrack]) -> list[EventDraft]:
        """A known person is told at once, not when their track ends: the event is stored
        (and notified) now with the end so far, and completed under the same uid later."""
        min_hits = self.people.min_hits
        event_tracks: list[PersonTrack | FaceTrack] = [*people]
        for face in faces:
            owner = face.data.person
            if owner is None or owner.hits < min_hits:
                event_tracks.append(face)
            elif face.data.uid is not None:
                # Announced before it rode on a confirmed person: that event is the person's.
                if owner.data.uid is None:
                    owner.data.uid = face.data.uid
                owner.data.announced = True
        out = []
        for tr in event_tracks:
            match = tr.data.match
            if match is None or not match.known or tr.hits < min_hits or tr.data.announced:
                continue
            tr.data.announced = True
            draft = self._events([tr])[0]
            draft.final = False
            out.append(draft)
        return out

    @property
    def zone_monitor(self) -> ZoneMonitor | None:
        """The zones' state (occupancy) since the zones were last set; None before a frame."""
        return self._zone_monitor

    def _zone_events(
        self, t: float, image: np.ndarray, ended: list[PersonTrack | VehicleTrack]
    ) -> list[EventDraft]:
        if not self.zones:
            return []
        if self._zone_monitor is None:
            self._zone_monitor = ZoneMonitor(self.zones, (image.shape[1], image.shape[0]))
        monitor = self._zone_monitor
        happenings = monitor.update(t, image, self.people.tracks, self.vehicles.tracks)
        return self._zone_drafts(happenings + monitor.tracks_ended(ended))

    def _zone_drafts(self, happenings: list[ZoneHappening]) -> list[EventDraft]:
        return [
            EventDraft(
                camera=self.camera,
                kind="zone_change",
                start=h.start,
                end=h.end,
                track_id=h.track_id or 0,
                box_path=[],
                snapshot_jpeg=None,
                zone=h.zone,
                details={"zone_kind": h.kind, "state": h.what, "object": h.object},
            )
            for h in happenings
        ]

    def _visible(self, image: np.ndarray, box: Box) -> float:
        """The share of `box` inside the frame and outside the privacy masks."""
        h, w = image.shape[:2]
        x, y, bw, bh = box
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(w, int(x + bw)), min(h, int(y + bh))
        if x1 <= x0 or y1 <= y0:
            return 0.0
        inside = (x1 - x0) * (y1 - y0)
        if self.privacy_masks:
            if self._masked is None or self._masked.shape != (h, w):
                masked = np.zeros((h, w), np.uint8)
                cv2.fillPoly(masked, [to_pixels(p, w, h) for p in self.privacy_masks], 1)
                self._masked = masked.astype(bool)
            inside -= int(self._masked[y0:y1, x0:x1].sum())
        return inside / max(bw * bh, 1.0)

    def _keep_snapshot(self, state: Sighting, box: Box, image: np.ndarray, score: float) -> None:
        """Keep this frame's crop of `box` as the track's snapshot if it beats the best so far:
        more of the box visible (up to SNAPSHOT_VISIBLE), then detection score x sharpness. A
        crop that is black or flat (a privacy mask, a black frame) is never kept: the next best
        is. A face good enough to recognise keeps its own snapshot (`_consider_face`)."""
        if isinstance(state, Identity) and state.face_quality is not None:
            return
        visible = self._visible(image, box)
        if visible <= 0.0:
            return
        crop = self._crop(image, box)
        if not shows_something(crop):
            return
        key = (min(visible, SNAPSHOT_VISIBLE), score * sharpness(crop))
        if state.snapshot_key is None or key > state.snapshot_key:
            state.snapshot_key = key
            state.snapshot = crop

    def _consider_face(
        self, track: FaceTrack, image: np.ndarray, face: FrameFace, t: float
    ) -> None:
        """Recognise the track's face again only when this face is better than its best."""
        state = track.data
        if face.quality <= (-1.0 if state.face_quality is None else state.face_quality):
            return
        state.face_quality = face.quality
        crop = self._crop(image, track.box)
        if shows_something(crop):  # else the best snapshot so far stays
            state.snapshot = crop
        embedding = self._embedding(face)
        state.reference, state.checked = embedding, t  # the look later faces must match
        t0 = time.perf_counter()
        match: Match = self.matcher.identify(embedding[None, :], [face.face.short_side])[0]
        self._timed("match", t0)
        if state.match is not None and state.match.objected:
            return  # an objector's track stays withheld, whatever a later face scores
        if match.objected or state.match is None or match.score > state.match.score:
            state.match, state.embedding = match, embedding

    @staticmethod
    def _crop(image: np.ndarray, box: Box) -> np.ndarray:
        x, y, w, h = box
        mx, my = w * 0.2, h * 0.2
        x0, y0 = max(0, int(x - mx)), max(0, int(y - my))
        x1, y1 = min(image.shape[1], int(x + w + mx)), min(image.shape[0], int(y + h + my))
        return image[y0:y1, x0:x1].copy()

    def people_boxes(self) -> list[Box]:
        """Where people may be in `last_image`: the moving foreground and every live person
        and face track (privacy-protected live view pixelates these)."""
        people = [tr.box for tr in self.people.tracks]
        return self.last_regions + people + [tr.box for tr in self.faces.tracks]

    def active_tracks(self, t: float) -> list[AnyTrack]:
        """Person, face and vehicle tracks seen in the frame at time t, for drawing."""
        tracks: list[AnyTrack] = [*self.people.tracks, *self.faces.tracks, *self.vehicles.tracks]
        return [tr for tr in tracks if tr.last_seen == t]

    def finish(self) -> list[EventDraft]:
        events = self._end_tracks()
        if self._zone_monitor is not None:
            events += self._zone_drafts(self._zone_monitor.finish())
        return events

    def _end_tracks(self) -> list[EventDraft]:
        """End every track now (a scene cut, the end of the stream); each event told once."""
        people, vehicles = self.people.flush(), self.vehicles.flush()
        events = []
        if self._zone_monitor is not None:
            events = self._zone_drafts(self._zone_monitor.tracks_ended([*people, *vehicles]))
        events += self._finish(people, self.faces.flush()) + self._vehicle_events(vehicles)
        events += self._events(list(self._waiting.values()))
        self._waiting.clear()
        return events

    def _finish(self, people: list[PersonTrack], faces: list[FaceTrack]) -> list[EventDraft]:
        """Events for ended tracks. A person whose face track is still alive waits for it, and
        a face that rode on a person is part of that person's event, so each is told once."""
        alive = {f.id for f in self.faces.tracks}
        done: list[PersonTrack | FaceTrack] = []
        for p in people:
            if alive & p.data.faces.keys():
                self._waiting[p.id] = p
            else:
                done.append(p)
        for f in faces:
            owner = f.data.person
            if owner is None or owner.hits < self.people.min_hits:
                # On its own, or its person was a passing false detection that never became
                # an event: the face is the event. Faces too small to recognise add nothing.
                if f.data.match is not None:
                    done.append(f)
            else:
                if f.data.announced and f.data.uid != owner.data.uid:
                    done.append(f)  # its own announcement went out first: complete it too
                if owner.id in self._waiting and not alive & owner.data.faces.keys():
                    done.append(self._waiting.pop(owner.id))
        return self._events(done)

    def _vehicle_events(self, tracks: list[VehicleTrack]) -> list[EventDraft]:
        """One event a vehicle that drove (`pipeline.vehicles`); parked ones raise nothing."""
        events = []
        for tr in tracks:
            if not drove(tr):
                continue
            snapshot = tr.data.snapshot
            events.append(
                EventDraft(
                    uid=new_uid(),
                    camera=self.camera,
                    kind="vehicle",
                    start=tr.first_seen,
                    end=tr.last_seen,
                    track_id=tr.id,
                    box_path=tr.path,
                    snapshot_jpeg=encode_jpeg(snapshot) if snapshot is not None else None,
                    details={"vehicle": tr.data.label, "direction": direction(tr)},
                )
            )
        return events

    def _events(self, tracks: Sequence[PersonTrack | FaceTrack]) -> list[EventDraft]:
        events = []
        for tr in tracks:
            match, snapshot = tr.data.match, tr.data.snapshot
            known = match is not None and match.known
            kind = "known_person" if known else ("face" if match is not None else "person")
            if tr.data.uid is None:
                tr.data.uid = new_uid()
            # A person's event spans the face tracks that rode on it.
            faces = tr.data.faces.values() if isinstance(tr.data, PersonState) else ()
            events.append(
                EventDraft(
                    uid=tr.data.uid,
                    camera=self.camera,
                    kind=kind,
                    start=min(t.first_seen for t in (tr, *faces)),
                    end=max(t.last_seen for t in (tr, *faces)),
                    track_id=tr.id,
                    box_path=tr.path,
                    snapshot_jpeg=encode_jpeg(snapshot)
                    if snapshot is not None and snapshot.size
                    else None,
                    person_id=match.person_id if match else None,
                    person_name=match.name if match else None,
                    score=match.score if match and not match.objected else None,
                    confidence=match.confidence if match and not match.objected else None,
                    face_quality=tr.data.face_quality,
                    # an unknown face's template; none for an objector's (decision 0063)
                    embedding=None
                    if known or match is None or match.objected
                    else tr.data.embedding,
                    # the face-size band and threshold that named them (0073)
                    details={"band": match.band, "threshold": match.threshold}
                    if known and match is not None
                    else {},
                )
            )
        return events
