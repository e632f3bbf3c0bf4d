"""The model of `vigil.yaml`. Every setting has a default and a description.

Unknown keys fail loudly with their path (`extra="forbid"`), so a typo never silently
turns a feature off. `load_config` reports *every* error with its path and line.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vigil.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("vigil.yaml")

ObjectName = Literal["person", "vehicle"]
RoleName = Literal["admin", "operator", "viewer", "auditor"]


def _people_only() -> list[ObjectName]:
    return ["person"]


def _viewers_only() -> list[RoleName]:
    return ["viewer"]


class Section(BaseModel):
    # Every number must be finite: YAML's .inf and .nan, and 1e400 (read as inf), are refused
    # everywhere, not field by field.
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


class SiteConfig(Section):
    name: str = Field("vigil-site", description="Name of this site, shown in the UI and notices.")
    operator: str = Field(
        "", description="Who operates the cameras (legal entity), for the public notice."
    )
    contact: str = Field("", description="Where people send access requests (email or address).")


class StorageConfig(Section):
    data_dir: Path = Field(
        Path("var"), description="Folder for the database, recordings, snapshots and keys."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL. Default: SQLite file `vigil.db` inside data_dir. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )

    tmp_max_gb: Annotated[float, Field(gt=0)] = Field(
        10.0,
        description="Most space temporary files (uploads, export jobs, scratch) may use under "
        "<data_dir>/tmp; past it new uploads and exports are refused (507).",
    )

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'vigil.db'}"


class QualityConfig(Section):
    """Thresholds of the face quality gate used for enrolment and recognition."""

    min_face_px: Annotated[int, Field(ge=16)] = Field(
        60, description="Smallest face (shorter box side, pixels) accepted for enrolment."
    )
    min_sharpness: Annotated[float, Field(ge=0)] = Field(
        40.0, description="Minimum variance of the Laplacian of the aligned face (blur gate)."
    )
    max_yaw_deg: Annotated[float, Field(gt=0, le=90)] = Field(
        35.0, description="Largest head turn (estimated from landmarks) accepted for enrolment."
    )
    min_detector_score: Annotated[float, Field(ge=0, le=1)] = Field(
        0.8, description="Lowest detector confidence accepted for enrolment."
    )


class FacesConfig(Section):
    detector_score: Annotated[float, Field(ge=0.05, le=1)] = Field(
        0.6, description="YuNet confidence below which a detection is dropped."
    )
    detect_max_side: Annotated[int, Field(ge=160, le=4096)] = Field(
        640,
        description="Frames are downscaled so their longer side is at most this before face "
        "detection (boxes are mapped back). Smaller is faster; faces under ~20 px at this "
        "scale are missed.",
    )
    match_threshold: Annotated[float, Field(ge=-1, le=1)] | None = Field(
        None,
        description="Cosine similarity above which a face matches an enrolled person. "
        "Default: the calibrated threshold from `vigil eval pairs --save`, else the model's "
        "published threshold.",
    )
    embedder_backend: Literal["onnxruntime", "opencv"] = Field(
        "onnxruntime",
        description="Embedding backend: `onnxruntime` (batched; CUDA when available) or "
        "`opencv` (OpenCV DNN, one face per call).",
    )
    embedder_model: Path | None = Field(
        None,
        description="An ONNX face embedding model to use instead of the bundled SFace "
        "(input N x 3 x 112 x 112 RGB 0..255, output N x D).",
    )
    recognition_min_face_px: Annotated[int, Field(ge=16)] = Field(
        28,
        description="Faces smaller than this (shorter side, frame pixels) in live footage are "
        "detected but not recognised: below it a match is not reliable. The calibration's "
        "own floor (28 px for SFace, decision 0073) applies too: no name below either.",
    )
    threads: Annotated[int, Field(ge=1, le=64)] = Field(
        2, description="Worker threads for batch embedding."
    )
    quality: QualityConfig = Field(default_factory=QualityConfig)


Point = tuple[float, float]


def _fractions(points: list[Point]) -> list[Point]:
    """Polygon points are fractions of the frame; pixels would give an empty mask or zone."""
    for x, y in points:
        if not (0 <= x <= 1 and 0 <= y <= 1):
            example = (
                f" (e.g. [{x:g}, {y:g}] in a 1920x1080 frame is [{x / 1920:.3f}, {y / 1080:.3f}])"
                if max(x, y) > 1
                else ""
            )
            raise ValueError(
                f"point [{x:g}, {y:g}] is outside 0..1: polygon points are fractions of the "
                "frame (x from the left edge, y from the top), not pixels; divide x by the "
                f"frame width and y by the frame height{example}"
            )
    return points


# [x, y] points, each a fraction (0..1) of the frame's width and height.
Polygon = Annotated[list[Point], AfterValidator(_fractions)]


class MotionConfig(Section):
    enabled: bool = Field(True, description="Detect motion on the analysis stream.")
    fps: Annotated[float, Field(gt=0, le=30)] = Field(
        5.0, description="Frames a second decoded for motion analysis."
    )
    sensitivity: Annotated[float, Field(ge=0, le=1)] = Field(
        0.5, description="0 = only large changes count as motion, 1 = the smallest change does."
    )
    masks: list[Polygon] = Field(
        default_factory=list,
        description="Polygons (points as [x, y] fractions of width and height, 0..1) where "
        "motion is ignored, e.g. a swaying tree or a clock.",
    )


class ZoneConfig(Section):
    """A named area of a camera's view with a job: a machine, a doorway or a restricted area."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_ -]{1,64}$")] = Field(
        ..., description="Short name, unique per camera (e.g. 'press 2', 'loading door')."
    )
    kind: Literal["machine", "doorway", "restricted"] = Field(
        ...,
        description="machine: running / idle time line from motion inside the zone; doorway: "
        "count people going in and out; restricted: alert when a person enters outside "
        "allowed hours.",
    )
    polygon: Annotated[Polygon, Field(min_length=3)] = Field(
        ..., description="Corner points as [x, y] fractions of width and height (0..1)."
    )
    min_motion: Annotated[float, Field(gt=0, le=1)] = Field(
        0.02, description="machine: share of the zone that must move for it to count as running."
    )
    smoothing_s: Annotated[float, Field(ge=0)] = Field(
        8.0,
        description="machine: a pause in motion shorter than this counts as running (a gap "
        "between a machine's cycles), a burst shorter than this as idle (someone passing); any "
        "idle or running stretch this long or longer is shown, with its true start and end. "
        "Raising it hides idle periods up to its length.",
    )
    inward: Literal["up", "down", "left", "right"] = Field(
        "up", description="doorway: the direction (in the image) of someone going in."
    )
    objects: list[ObjectName] = Field(
        default_factory=_people_only,
        description="doorway and restricted: what is counted or alerted on: people, vehicles "
        "(a road entrance: the camera's analysis.objects must include vehicle too), or both.",
    )
    allowed_hours: str = Field(
        "07:00-19:00",
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$",
        description="restricted: local time span when entering is allowed (HH:MM-HH:MM).",
    )


class HealthConfig(Section):
    """Camera health and tamper alarms (`camera.health`): what counts as covered, blurred,
    moved... and how long it must last. A condition is raised once it has held for its
    `*_after_s` and cleared once it has been gone for `clear_after_s`."""

    enabled: bool = Field(True, description="Watch this camera's picture and stream for faults.")
    covered_std: Annotated[float, Field(ge=0, le=128)] = Field(
        6.0,
        description="Grey-level spread below which the picture is one flat colour: lens "
        "covered, sprayed, or the image black.",
    )
    covered_after_s: Annotated[float, Field(ge=0)] = Field(
        10, description="How long the picture must stay flat before `camera_covered`."
    )
    dark_mean: Annotated[float, Field(ge=0, le=255)] = Field(
        20.0, description="Mean grey level (0-255) below which the picture is too dark."
    )
    dark_after_s: Annotated[float, Field(ge=0)] = Field(
        60, description="How long the picture must stay too dark before `camera_dark`."
    )
    blur_ratio: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.45,
        description="Sharpness (contrast-normalised Laplacian) below this share of the "
        "reference picture's: defocused or smeared lens.",
    )
    blur_after_s: Annotated[float, Field(ge=0)] = Field(
        30, description="How long the picture must stay soft before `camera_blurred`."
    )
    moved_share: Annotated[float, Field(gt=0, le=1)] = Field(
        0.6,
        description="Share of the picture's textured tiles whose edges no longer match the "
        "reference above which the camera looks moved or turned (a passing person covers a "
        "few tiles, a turned camera all of them).",
    )
    moved_after_s: Annotated[float, Field(ge=0)] = Field(
        120,
        description="How long the scene must stay changed before `camera_moved` (minutes, so "
        "that people and vehicles standing in front of the camera do not count).",
    )
    frozen_after_s: Annotated[float, Field(ge=0)] = Field(
        30, description="How long frames must stay identical before `camera_frozen`."
    )
    fps_drop_ratio: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.5, description="Frame rate below this share of the camera's usual one: collapse."
    )
    bitrate_drop_ratio: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.2, description="Bitrate below this share of the camera's usual one: collapse."
    )
    stream_after_s: Annotated[float, Field(ge=0)] = Field(
        30, description="How long the collapse must last before `camera_stream_collapse`."
    )
    gap_after_s: Annotated[float, Field(ge=0)] = Field(
        30,
        description="How long a recorded camera may go without recording (offline, failing) "
        "before `camera_recording_gap`.",
    )
    clear_after_s: Annotated[float, Field(ge=0)] = Field(
        10, description="How long a condition must be gone before its alarm is cleared."
    )
    reference_every_s: Annotated[float, Field(gt=0)] = Field(
        600,
        description="How often the kept reference picture follows slow changes (daylight, a "
        "parked car) while the camera is healthy and still matches it.",
    )


class HealthOverrides(Section):
    """A camera's own `health:` values; unset ones come from the site's `health:`."""

    enabled: bool | None = None
    covered_std: Annotated[float, Field(ge=0, le=128)] | None = None
    covered_after_s: Annotated[float, Field(ge=0)] | None = None
    dark_mean: Annotated[float, Field(ge=0, le=255)] | None = None
    dark_after_s: Annotated[float, Field(ge=0)] | None = None
    blur_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None
    blur_after_s: Annotated[float, Field(ge=0)] | None = None
    moved_share: Annotated[float, Field(gt=0, le=1)] | None = None
    moved_after_s: Annotated[float, Field(ge=0)] | None = None
    frozen_after_s: Annotated[float, Field(ge=0)] | None = None
    fps_drop_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None
    bitrate_drop_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None
    stream_after_s: Annotated[float, Field(ge=0)] | None = None
    gap_after_s: Annotated[float, Field(ge=0)] | None = None
    clear_after_s: Annotated[float, Field(ge=0)] | None = None
    reference_every_s: Annotated[float, Field(gt=0)] | None = None

    def over(self, site: HealthConfig) -> HealthConfig:
        """The site's values with this camera's set ones in their place."""
        return site.model_copy(update=self.model_dump(exclude_none=True))


class AnalysisConfig(Section):
    """What the analysis pipeline does with a camera's analysis stream."""

    enabled: bool = Field(True, description="Detect, track and recognise people on this camera.")
    recognise: bool = Field(
        True, description="Match faces against enrolled people (false: detect faces only)."
    )
    detector: Literal["auto", "nanodet", "hog"] = Field(
        "auto",
        description="What finds people and vehicles: nanodet (a COCO CNN, built once by "
        "`make install`; see docs/models.md), hog (OpenCV's pedestrian detector: people only, "
        "slower, less accurate), auto (nanodet when built, else hog).",
    )
    person_model: Path | None = Field(
        None,
        description="Your own YOLO-style ONNX detector (see vigil.vision.person); overrides "
        "`detector`.",
    )
    objects: list[ObjectName] = Field(
        default_factory=_people_only,
        description="What raises events: people, and vehicles (bicycle, car, motorcycle, bus, "
        "truck; needs a COCO detector such as nanodet), e.g. on a road entrance.",
    )


class PrivacyViewConfig(Section):
    protected_roles: list[RoleName] = Field(
        default_factory=_viewers_only,
        description="Roles that see people (moving foreground, detected persons and faces) "
        "pixelated in this camera's live view and recorded playback, until a user with the "
        "unmask permission reveals them for a stated reason. [] opts the camera out.",
    )
    unmask_minutes: Annotated[float, Field(gt=0, le=240)] = Field(
        10, description="How long one unmask (reveal) lasts for that user's session."
    )


LegalBasisName = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interest",
    "public_task",
    "legitimate_interest",
]


class OnvifCameraConfig(Section):
    url: str = Field(
        ...,
        description="The camera's ONVIF device service: http://host[:port]/onvif/device_service "
        "(`vigil cameras add-onvif` writes it).",
    )
    username: str = Field("", description="ONVIF user (often not the camera's web login).")
    password: str | None = Field(None, description="ONVIF password (or password_file).")
    password_file: Path | None = Field(
        None, description="File holding the ONVIF password (first line), instead of password."
    )
    events: bool = Field(
        False,
        description="Take the camera's own motion and analytics events (ONVIF pull point) as "
        "Vigil motion events.",
    )
    pull_wait_s: Annotated[float, Field(gt=0, le=60)] = Field(
        10, description="How long one PullMessages call waits for the camera's next event."
    )
    retry_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        30, description="Wait before subscribing again after the camera failed or went away."
    )

    @model_validator(mode="after")
    def _one_password(self) -> OnvifCameraConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        return self

    def secret(self) -> str:
        """The password, read from password_file when that is how it is given."""
        if self.password_file is None:
            return self.password or ""
        try:
            return self.password_file.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise ConfigError(f"cannot read the ONVIF password from {self.password_file}") from exc


class OnvifConfig(Section):
    discovery_address: str = Field(
        "239.255.255.250",
        description="Where `vigil cameras discover` and the Discover panel send the WS-Discovery "
        "probe: the multicast group (this network), or one address to probe directly.",
    )
    discovery_port: Annotated[int, Field(ge=1, le=65535)] = Field(3702, description="Its port.")
    discovery_timeout_s: Annotated[float, Field(gt=0, le=30)] = Field(
        2, description="How long to collect answers."
    )


class CameraConfig(Section):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(
        ..., description="Short unique name: letters, digits, '-' and '_'. Used in paths."
    )
    url: str = Field(
        ...,
        description="Main stream for recording: rtsp://, http(s):// (MJPEG/HLS), a file path, "
        "or /dev/videoN. Credentials may be in the URL.",
    )
    sub_url: str | None = Field(
        None, description="Optional low-resolution stream for analysis (default: the main stream)."
    )
    enabled: bool = Field(True, description="Set to false to keep the camera but not run it.")
    record: bool = Field(True, description="Record the main stream continuously.")
    rtsp_transport: str = Field("tcp", pattern="^(tcp|udp)$", description="RTSP transport.")
    onvif: OnvifCameraConfig | None = Field(
        None, description="The camera's ONVIF service: PTZ from the camera page, its events."
    )
    loop: bool = Field(False, description="Loop a file source forever (demos and tests).")
    segment_seconds: Annotated[int, Field(ge=2, le=3600)] = Field(
        60, description="Length of one recording segment file."
    )
    retention_days: Annotated[float, Field(gt=0)] = Field(
        30, description="Days of footage kept for this camera (evidence holds excepted)."
    )
    keep_at_least_hours: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="This camera's newest footage that is never deleted to make free space "
        "(see recording.keep_at_least_hours). Default: recording.keep_at_least_hours.",
    )
    motion: MotionConfig = Field(default_factory=MotionConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    zones: list[ZoneConfig] = Field(
        default_factory=list, description="Machine, doorway and restricted zones."
    )
    privacy_masks: list[Polygon] = Field(
        default_factory=list,
        description="Polygons (points as [x, y] fractions, 0..1) blacked out before any "
        "analysis, in live view and in exports: nothing inside is detected, recognised or "
        "kept as a snapshot.",
    )
    privacy_masks_burn_in: bool = Field(
        False,
        description="Also black out the privacy masks in this camera's recordings: its stream is "
        "decoded, masked and re-encoded (H.264) instead of copied, so masked areas never reach "
        "the disk. Costs CPU (measure it with `vigil bench record --burn-in`).",
    )

    @field_validator("privacy_masks_burn_in")
    @classmethod
    def _burn_in_needs_masks(cls, burn_in: bool, info: ValidationInfo) -> bool:
        if burn_in and not info.data.get("privacy_masks"):
            raise ValueError(
                "privacy_masks_burn_in is on but this camera has no privacy_masks: add the "
                "polygons to black out, or turn burn-in off"
            )
        return burn_in

    privacy_view: PrivacyViewConfig = Field(
        default_factory=PrivacyViewConfig,
        description="Privacy-protected viewing: who sees people pixelated on this camera.",
    )
    # The camera's entry in the records (DPIA, record of processing, notices): required while
    # it recognises faces (`VigilConfig.record_gaps`).
    purpose: str = Field(
        "",
        description="Why this camera is there, in plain words (required when it recognises "
        "faces): e.g. 'Spot people on the site ban list at the main entrance'.",
    )
    field_of_view: str = Field(
        "",
        description="What the camera sees, for the records (required when it recognises "
        "faces): e.g. 'Main door from inside: the lobby and 2 m of pavement'.",
    )
    publicly_accessible: bool | None = Field(
        None,
        description="Whether anyone may walk into the area it sees (a shop floor, a street) "
        "rather than only staff or invited people. Required when it recognises faces.",
    )
    legal_basis: LegalBasisName | None = Field(
        None,
        description="Legal basis of this camera's processing. Default: privacy.legal_basis.",
    )
    public_recognition_ground: str = Field(
        "",
        description="The specific legal ground for recognising faces in a publicly accessible "
        "area (the law or authorisation, e.g. 'Art. 9(2)(g) GDPR with § 4 BDSG, decision of "
        "...'). Without it recognition on a public camera is refused; the notice quotes it.",
    )
    health: HealthOverrides = Field(
        default_factory=HealthOverrides,
        description="This camera's health and tamper thresholds; unset ones are the site's "
        "`health:`.",
    )


class RecordingConfig(Section):
    disk_quota_gb: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Most disk space recordings may use, all cameras together. When reached, the "
        "oldest unlocked footage is deleted first. Default: no quota beyond free disk.",
    )
    min_free_gb: Annotated[float, Field(ge=0)] = Field(
        1.0, description="Free disk space always left on the recordings filesystem."
    )
    keep_at_least_hours: Annotated[float, Field(ge=0)] = Field(
        24.0,
        description="Each camera's newest footage (this many hours) is never deleted to make "
        "free space: when min_free_gb cannot be met otherwise, recording pauses with an alarm "
        "saying what uses the disk. retention_days (when shorter) and disk_quota_gb still "
        "apply. Per camera: cameras[].keep_at_least_hours.",
    )
    retention_interval_s: Annotated[float, Field(gt=0)] = Field(
        300, description="How often retention runs (it also runs on start)."
    )
    space_check_s: Annotated[float, Field(gt=0)] = Field(
        10.0,
        description="How often free space is looked at between retention runs: a run starts "
        "early when it drops under min_free_gb, or comes back while recording is paused.",
    )
    scrub_bytes_per_s: Annotated[int, Field(ge=0)] = Field(
        8_000_000,
        description="How fast the background scrub re-reads closed segments to check their "
        "SHA-256 (bytes per second; 8 MB/s re-reads 1 TB in ~35 h while leaving the disk to "
        "the recorders). 0 turns the scrub off.",
    )
    scrub_interval_s: Annotated[float, Field(gt=0)] = Field(
        3600,
        description="Pause between two scrub passes; each pass checks every closed segment, "
        "the longest unchecked first.",
    )
    cameras_per_worker: Annotated[int, Field(ge=0)] = Field(
        16,
        description="Past this many recording cameras, each group of at most this many is "
        "recorded in a worker process of its own (restarted if it dies); 0 records every "
        "camera in the main process.",
    )
    copy_loop: Literal["auto", "python"] = Field(
        "auto",
        description="auto: RTSP cameras (H.264/H.265, no burned-in masks) are recorded by the "
        "copy loop in C where it can be built (gcc and libavformat-dev), at about two thirds "
        "of the CPU; python: every camera by the PyAV loop.",
    )


EventKindName = Literal[
    "motion",
    "person",
    "face",
    "known_person",
    "zone_change",
    "vehicle",
    "camera_covered",
    "camera_dark",
    "camera_blurred",
    "camera_moved",
    "camera_frozen",
    "camera_stream_collapse",
    "camera_recording_gap",
]


class MqttConfig(Section):
    enabled: bool = Field(False, description="Publish events and camera status to an MQTT broker.")
    host: str = Field("localhost", description="MQTT broker host name or address.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(1883, description="MQTT broker port.")
    username: str | None = Field(None, description="User name for the broker, if it needs one.")
    password: str | None = Field(None, description="Password for the broker, if it needs one.")
    topic_prefix: Annotated[str, Field(pattern=r"^[^#+]+$")] = Field(
        "vigil",
        description="First topic level: events go to <prefix>/<site>/events/<camera>/<kind> "
        "(person, face and known_person ones also to <prefix>/<site>/cameras/<camera>/person), "
        "camera status to <prefix>/<site>/cameras/<camera>/status (retained).",
    )
    client_id: str | None = Field(
        None,
        description="Persistent MQTT client id (the broker keeps its session across "
        "reconnects). Default: vigil-<site name>.",
    )
    ha_discovery: bool = Field(
        True, description="Publish Home Assistant MQTT discovery messages (retained)."
    )
    ha_prefix: str = Field("homeassistant", description="Home Assistant discovery topic prefix.")
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = Field(
        30,
        description="Seconds between MQTT keep-alive pings; a dead broker is noticed after ~1.5x.",
    )


class WebhookConfig(Section):
    url: Annotated[str, Field(pattern=r"^https?://")] = Field(
        ..., description="URL that receives each event as an HTTP POST with a JSON body."
    )
    secret: Annotated[str, Field(min_length=16)] = Field(
        ...,
        description="Shared secret for the X-Vigil-Signature header: "
        "sha256=HMAC-SHA256(secret, '<X-Vigil-Timestamp>.' + raw body), hex.",
    )
    kinds: list[EventKindName] = Field(
        default_factory=list, description="Event kinds sent to this URL (empty: all kinds)."
    )
    timeout_s: Annotated[float, Field(gt=0, le=120)] = Field(
        10.0, description="Seconds to wait for the receiver's answer before retrying."
    )


class PushConfig(Section):
    """Web Push (VAPID) to the browsers and phones users enabled in the web UI (decision 0070)."""

    enabled: bool = Field(
        True,
        description="Offer notifications in the web UI and push alerts and review items to the "
        "devices users subscribed. The VAPID key pair is made on first use in "
        "<data_dir>/vapid.pem.",
    )
    subject: Annotated[str, Field(pattern=r"^(mailto:[^@\s]+@\S+|https://\S+)$")] = Field(
        "mailto:vigil@localhost",
        description="Who runs this site, for the push services (the VAPID 'sub' claim): a "
        "mailto: address or an https:// URL. Some push services refuse localhost.",
    )
    ttl_s: Annotated[int, Field(ge=0, le=2_419_200)] = Field(
        3600,
        description="How long a push service keeps a notification for a phone that is offline.",
    )
    timeout_s: Annotated[float, Field(gt=0, le=120)] = Field(
        10.0, description="Seconds to wait for the push service's answer before retrying."
    )


class NotifyConfig(Section):
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    push: PushConfig = Field(default_factory=PushConfig)
    webhooks: list[WebhookConfig] = Field(
        default_factory=list, description="HTTP endpoints that receive signed event POSTs."
    )
    retry_min_s: Annotated[float, Field(gt=0)] = Field(
        2.0, description="Wait before the first retry of a failed delivery; doubles each time."
    )
    retry_max_s: Annotated[float, Field(gt=0)] = Field(
        300.0, description="Longest wait between two retries of one delivery."
    )
    give_up_after_h: Annotated[float, Field(gt=0)] = Field(
        24.0,
        description="Hours after which an undelivered notification is given up (kept in the "
        "delivery log).",
    )


class ReviewConfig(Section):
    gap_s: Annotated[float, Field(ge=0, le=3600)] = Field(
        30.0,
        description="Review items: an event joins its camera's open item when it starts at most "
        "this many seconds after the item's end; otherwise it opens a new item. An item is "
        "closed (announced as ended) once this long has passed since its end.",
    )


class ApiConfig(Section):
    """The web UI and REST API (`vigil serve`, `vigil api`)."""

    host: str = Field(
        "127.0.0.1",
        description="Address the web server listens on (0.0.0.0: every interface; put TLS in "
        "front of it when reachable from other machines).",
    )
    port: Annotated[int, Field(ge=1, le=65535)] = Field(8080, description="Web server port.")
    session_hours: Annotated[float, Field(gt=0, le=24 * 90)] = Field(
        12.0, description="A UI login lasts this long without activity, then asks again."
    )
    secure_cookies: bool = Field(
        False,
        description="Mark session cookies Secure (sent over HTTPS only). Turn on behind TLS.",
    )
    login_attempts: Annotated[int, Field(ge=1, le=1000)] = Field(
        5,
        description="Failed logins for one user name from one address before each further "
        "try from there waits, twice as long each time (1 s, 2 s, ... up to login_window_s).",
    )
    login_attempts_per_client: Annotated[int, Field(ge=1, le=10000)] = Field(
        20, description="Failed logins from one address (any user names) before it waits alike."
    )
    login_attempts_per_user: Annotated[int, Field(ge=1, le=10000)] = Field(
        20,
        description="Failed logins for one user name from all addresses before the addresses "
        "that failed for it wait alike; an address that has not failed is never refused.",
    )
    login_window_s: Annotated[float, Field(gt=0, le=86400)] = Field(
        300.0,
        description="Longest wait of the login limit; failures are forgotten this long after "
        "the wait ends. A refused login (429) says when to retry.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For "
        "header names the client (for the audit log and the login limit). Default none: the "
        "header is ignored and the connecting address is the client.",
    )
    protected_renders_at_once: Annotated[int, Field(ge=1, le=64)] = Field(
        2,
        description="Pixelated copies of recordings (privacy-protected playback) made at once; "
        "each takes about a CPU core. Further viewers are asked to retry (503) meanwhile.",
    )
    export_keep_hours: Annotated[float, Field(gt=0, le=24 * 30)] = Field(
        24.0,
        description="A finished export (ZIP) stays ready for download this long, then is deleted.",
    )
    upload_max_mb: Annotated[float, Field(gt=0, le=4096)] = Field(
        100.0,
        description="Largest upload (the whole multipart body, e.g. photos to enrol) in MiB; "
        "larger ones are refused (413) before they are read. Uploads are accepted only from a "
        "logged-in caller. Other bodies are limited to 64 KiB (login, set-up) or 1 MiB (JSON).",
    )
    image_analyses_at_once: Annotated[int, Field(ge=1, le=64)] = Field(
        2,
        description="Photos analysed at once for requests (enrolment checks, search by photo); "
        "each may take ~100 MB and a CPU core. Further requests wait image_analysis_wait_s, "
        "then are asked to retry (503).",
    )
    image_analysis_wait_s: Annotated[float, Field(ge=0, le=60)] = Field(
        2.0, description="How long a photo request waits for a turn before it is asked to retry."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (CIDR)") from None
        return [item.strip() for item in v]


# The logs of a high-risk AI system are kept at least six months (AI Act Art. 26(6)).
MIN_AUDIT_DAYS_WITH_RECOGNITION = 183


class PrivacyConfig(Section):
    """What the public notice says, and how long personal data is kept (issue 7)."""

    purpose: str = Field(
        "Safety and security of the people and property on this site.",
        description="Why the cameras are there, in plain words, for the public notice.",
    )
    face_recognition_enabled: bool = Field(
        False,
        description="Site-wide switch for matching faces against enrolled people. The public "
        "notice refuses to say 'off' while a camera still has analysis.recognise: true.",
    )
    face_recognition_purpose: str = Field(
        "", description="Why faces are recognised (required on the notice when enabled)."
    )
    legal_basis: LegalBasisName | None = Field(
        None, description="Legal basis for face recognition (GDPR art. 6 and 9)."
    )
    legal_basis_note: str = Field(
        "",
        description="The law, agreement or balancing test behind the legal basis, e.g. "
        "'Art. 9(2)(a) GDPR: written consent of enrolled staff'.",
    )
    unknown_face_retention_days: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Days a face template of someone who matched nobody is kept (for 'where "
        "else was this face?'), then deleted. None (the default): no such template is kept at "
        "all. Setting it needs unknown_faces_purpose.",
    )
    unknown_faces_purpose: str = Field(
        "",
        description="Why unknown-face templates are kept, in plain words for the public notice "
        "(required when unknown_face_retention_days is set).",
    )
    snapshot_retention_days: Annotated[float, Field(gt=0)] = Field(
        30, description="Days event snapshots (still pictures of events) are kept."
    )
    audit_retention_days: Annotated[float, Field(gt=0)] = Field(
        365,
        description="Days audit records (who viewed or searched what, and the recognition "
        f"log) are kept. At least {MIN_AUDIT_DAYS_WITH_RECOGNITION} (6 months, AI Act Art. "
        "26(6)) while face_recognition_enabled.",
    )
    audit_checkpoint_every: Annotated[int, Field(ge=1)] = Field(
        1000, description="Audit records between two checkpoints signed with the site key."
    )
    audit_head_interval_s: Annotated[float, Field(gt=0)] = Field(
        60,
        description="While audit records are written, a checkpoint (the chain's head) is "
        "signed at least this often, and at shutdown, and handed to the witnesses (0065).",
    )
    audit_witness_file: Path | None = Field(
        None,
        description="Append every signed head to this file (JSON lines, fsync'd). Put it on "
        "another disk or a mount of another machine: cutting the chain after a head written "
        "there fails `vigil audit verify`.",
    )
    audit_witness_syslog: str | None = Field(
        None,
        description="Send every signed head to syslog: host:port (UDP) or the path of a unix "
        "socket (e.g. /dev/log).",
    )
    signing_key_passphrase_file: Path | None = Field(
        None,
        description="File holding the passphrase that encrypts the site signing key at rest "
        "(the environment variable VIGIL_SIGNING_KEY_PASSPHRASE wins). None: the key is "
        "stored unencrypted and `vigil privacy status` warns.",
    )
    notice_url: Annotated[str, Field(pattern=r"^https?://")] | None = Field(
        None, description="Where the notice is online; printed as a QR code on the notice."
    )
    request_info: str = Field(
        "",
        description="Extra words on how to make a request (office hours, a form); requests go "
        "to site.contact.",
    )

    @field_validator("audit_retention_days")
    @classmethod
    def _recognition_log_kept_six_months(cls, days: float, info: ValidationInfo) -> float:
        if info.data.get("face_recognition_enabled") and days < MIN_AUDIT_DAYS_WITH_RECOGNITION:
            raise ValueError(
                f"{days:g} days is too short while face_recognition_enabled: the audit log holds "
                f"the recognition log, kept at least {MIN_AUDIT_DAYS_WITH_RECOGNITION} days "
                f"(6 months, EU AI Act Art. 26(6)); set audit_retention_days: "
                f"{MIN_AUDIT_DAYS_WITH_RECOGNITION} or more"
            )
        return days
    @model_validator(mode="after")
    def _unknown_faces_need_a_purpose(self) -> PrivacyConfig:
        if self.keeps_unknown_faces and not self.unknown_faces_purpose.strip():
            raise ValueError(
                "privacy.unknown_face_retention_days keeps templates of faces that match nobody: "
                "say why in privacy.unknown_faces_purpose (it goes on the public notice), or "
                "remove unknown_face_retention_days to keep none"
            )
        return self

    @property
    def keeps_unknown_faces(self) -> bool:
        """Whether templates of faces that match nobody are kept at all (opt-in, 0063)."""
        return self.unknown_face_retention_days is not None

    @property
    def unknown_face_days(self) -> float:
        """Days an unknown-face template is kept: 0 when none is."""
        return self.unknown_face_retention_days or 0.0


class SyncConfig(Section):
    """Edge-to-hub sync over NATS JetStream (issue 8): this site as a leaf node of a hub."""

    enabled: bool = Field(False, description="Publish this site's events to a hub.")
    site_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(
        "site",
        description="This site's id at the hub: its JetStream domain, its leaf-node user name "
        "and its subject prefix vigil.<site_id>.>. Unique in the network.",
    )
    hub_url: str = Field(
        "nats-leaf://127.0.0.1:7422",
        description="The hub's leaf-node listener (nats-leaf://host:port); the site id and "
        "password are added as the login.",
    )
    password: str = Field("", description="This site's leaf-node password at the hub.")
    host: str = Field("127.0.0.1", description="Address the site's own nats-server listens on.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(
        4222, description="Client port of the site's own nats-server."
    )
    http_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        8222, description="Monitoring port of the site's own nats-server (health checks)."
    )
    events_max_mb: Annotated[float, Field(gt=0)] = Field(
        512,
        description="Local buffer for events and camera status the hub has not stored yet "
        "(each leaves it when the hub acks it). When full, publishing pauses and events wait "
        "in the database (never dropped; the backlog grows).",
    )
    thumbnails_max_mb: Annotated[float, Field(gt=0)] = Field(
        256,
        description="Local buffer for event thumbnails the hub has not taken yet. When full, "
        "the oldest thumbnails are dropped first, before any event; none is kept past "
        "privacy.snapshot_retention_days.",
    )
    audit_max_mb: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Local buffer for audit records (default: no limit). When full, publishing "
        "pauses; audit records are never dropped.",
    )
    run_server: bool = Field(
        True,
        description="`vigil serve` starts the site's own nats-server (a leaf node of the hub, "
        "files under <data_dir>/nats). False: connect to one the operator runs at host:port.",
    )


class VigilConfig(Section):
    """Top-level `vigil.yaml`."""

    site: SiteConfig = Field(default_factory=SiteConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    faces: FacesConfig = Field(default_factory=FacesConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    onvif: OnvifConfig = Field(default_factory=OnvifConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    health: HealthConfig = Field(
        default_factory=HealthConfig,
        description="Camera health and tamper alarms: site defaults, per camera in "
        "cameras[].health.",
    )
    cameras: list[CameraConfig] = Field(
        default_factory=list, description="The cameras of this site."
    )

    def recognises(self, camera: CameraConfig) -> bool:
        """Live face recognition on this camera: the site-wide switch and the camera's own
        (0022), and the camera's record complete (0064): one rule for pipeline and notice."""
        return self.recognition_requested(camera) and not self.record_gaps(camera)

    def recognition_requested(self, camera: CameraConfig) -> bool:
        """Both switches on (recognition asked for), whether or not its record is complete."""
        return (
            self.privacy.face_recognition_enabled
            and camera.enabled
            and camera.analysis.enabled
            and camera.analysis.recognise
        )

    def legal_basis(self, camera: CameraConfig) -> LegalBasisName | None:
        return camera.legal_basis or self.privacy.legal_basis

    def record_gaps(self, camera: CameraConfig) -> list[str]:
        """The record fields this camera lacks to recognise faces, as `cameras[].field`
        names with what to write; empty when recognition is not asked for or all are set."""
        if not self.recognition_requested(camera):
            return []
        gaps = []
        if not camera.purpose.strip():
            gaps.append("purpose (why this camera recognises faces)")
        if not camera.field_of_view.strip():
            gaps.append("field_of_view (what the camera sees)")
        if camera.publicly_accessible is None:
            gaps.append("publicly_accessible (true or false: may anyone walk into the area?)")
        if self.legal_basis(camera) is None:
            gaps.append("legal_basis (here or as privacy.legal_basis)")
        return gaps

    def recognition_note(self, camera: CameraConfig) -> str:
        """Why a camera asked to recognise faces does not, in one sentence; '' otherwise."""
        gaps = self.record_gaps(camera)
        if not gaps:
            return ""
        return (
            f"camera {camera.name} does not recognise faces: its record lacks "
            + "; ".join(gaps)
        )
    def health_of(self, camera: CameraConfig) -> HealthConfig:
        """The health thresholds of a camera: the site's, with the camera's own in their place."""
        return camera.health.over(self.health)

    @field_validator("cameras")
    @classmethod
    def _unique_camera_names(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        names = [c.name for c in cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(dupes)}")
        return cameras

    @field_validator("cameras")
    @classmethod
    def _public_recognition_needs_ground(
        cls, cameras: list[CameraConfig], info: ValidationInfo
    ) -> list[CameraConfig]:
        privacy = info.data.get("privacy")
        if privacy is None or not privacy.face_recognition_enabled:
            return cameras
        for i, cam in enumerate(cameras):
            on = cam.enabled and cam.analysis.enabled and cam.analysis.recognise
            if on and cam.publicly_accessible and not cam.public_recognition_ground.strip():
                raise ValueError(
                    f"cameras[{i}] ({cam.name}) recognises faces in a publicly accessible area: "
                    "this is refused unless the specific legal ground is recorded in "
                    f"cameras[{i}].public_recognition_ground (the law or authorisation that "
                    "allows it; the public notice quotes it); otherwise set "
                    "analysis.recognise: false on this camera"
                )
        return cameras


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path in a YAML document to its 1-based line number."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


ModelT = TypeVar("ModelT", bound=BaseModel)


def yaml_model_errors(model: type[BaseModel], text: str, top_level: str) -> list[str]:
    """All problems of a YAML text against `model`, each as 'line N: path: message'; empty if
    valid. `top_level` names the sections a wrong top level should have been."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"not valid YAML: {exc}"]
    if not isinstance(data, dict | None):
        return [f"the top level must be a mapping of sections ({top_level})"]
    try:
        model.model_validate(data or {})
    except ValidationError as exc:
        lines = _line_index(text)
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = lines.get(loc) or lines.get(loc[:-1])
            where = f"line {line}: " if line else ""
            problems.append(f"{where}{format_path(loc)}: {err['msg']}")
        return problems
    return []


def load_yaml_model(
    model: type[ModelT], path: Path | None, default_path: Path, top_level: str
) -> ModelT:
    """Load a YAML file into `model` (defaults when the default file is absent); ConfigError,
    listing every problem with its line, when it is not valid."""
    if path is None:
        if not default_path.exists():
            return model()
        path = default_path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    problems = yaml_model_errors(model, text, top_level)
    if problems:
        raise ConfigError(f"{path} has {len(problems)} error(s):\n  " + "\n  ".join(problems))
    return model.model_validate(yaml.safe_load(text) or {})


SECTIONS = "site:, storage:, faces:, ..."


def config_errors(text: str) -> list[str]:
    """All problems in a vigil.yaml text, each as 'line N: path: message'. Empty if valid."""
    return yaml_model_errors(VigilConfig, text, SECTIONS)


def load_config(path: Path | None = None) -> VigilConfig:
    """Load vigil.yaml (defaults when the default file is absent); raise ConfigError on errors."""
    return load_yaml_model(VigilConfig, path, DEFAULT_CONFIG_PATH, SECTIONS)
