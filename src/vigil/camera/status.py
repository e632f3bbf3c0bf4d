"""Camera status: kept in memory by the recorder and persisted as a small JSON file.

`<data_dir>/camera-status.json` is rewritten atomically (temp file + rename) every few
seconds while `vigil record` runs, so other processes (`vigil cameras status`, later the API)
read it without touching the recorder. Its `updated_at` says whether the recorder is alive.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.config import CameraConfig

STATUS_FILE = "camera-status.json"


class State:
    STARTING = "starting"
    CONNECTING = "connecting"
    ONLINE = "online"  # packets arrive and are recorded
    # recording, but the footage is missing frames (burn-in cannot keep up): `dropped_frames`
    DEGRADED = "degraded"
    OFFLINE = "offline"  # not connected; retrying with backoff
    ERROR = "error"  # connected, but recording fails (disk full, unwritable folder, codec)
    STOPPED = "stopped"
    DISABLED = "disabled"  # enabled: false: nothing runs for this camera
    # record: false: what the camera does instead of recording
    ANALYSIS_ONLY = "analysis-only"  # analysed by `vigil serve` (events, live view)
    IDLE = "idle"  # and analysis.enabled: false: nothing runs for it either


def not_recording(camera: CameraConfig) -> tuple[str, str]:
    """(state, what it means) of a camera the recorder does not record."""
    if not camera.enabled:
        return State.DISABLED, "enabled: false in vigil.yaml"
    if camera.analysis.enabled:
        return State.ANALYSIS_ONLY, "record: false: analysed (events, live view), not recorded"
    return State.IDLE, "record: false and analysis.enabled: false: not recorded or analysed"


@dataclass
class CameraStatus:
    """What a person (and the API) needs to know about one camera right now.

    Times are POSIX seconds (UTC) or None.
    """

    name: str
    url: str  # password redacted
    state: str = State.STARTING
    online: bool = False
    recording: bool = False
    offline_since: float | None = None
    last_packet_at: float | None = None
    last_keyframe_at: float | None = None
    connected_at: float | None = None
    fps: float | None = None
    bitrate_kbps: float | None = None
    codec: str = ""
    width: int = 0
    height: int = 0
    error: str = ""  # the last problem, in words; "" when healthy
    error_at: float | None = None
    reconnects: int = 0
    segment: str = ""  # file being written, relative to the recordings folder
    segments_written: int = 0
    bytes_written: int = 0
    next_retry_at: float | None = None
    # Frames the recording lost since the recorder started (burn-in behind or undecodable);
    # the state is `degraded` while they keep coming.
    dropped_frames: int = 0
    dropped_at: float | None = None  # when the last one was noticed
    # Frames analysis skipped since it started (a slow analysis takes the newest frame).
    analysis_dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraStatus:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class StatusSnapshot:
    updated_at: float
    pid: int
    running: bool = False  # False once the recorder stopped cleanly
    cameras: list[CameraStatus] = field(default_factory=list)

    def age(self, now: float | None = None) -> float:
        return (now or time.time()) - self.updated_at


def status_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATUS_FILE


def write_status(data_dir: Path, cameras: list[CameraStatus], *, running: bool = True) -> None:
    """Atomically replace the status file (never leaves a half-written file behind)."""
    path = status_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "updated_at": time.time(),
        "pid": os.getpid(),
        "running": running,
        "cameras": [c.as_dict() for c in cameras],
    }
    fd, tmp = tempfile.mkstemp(prefix=".camera-status-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_status(data_dir: Path) -> StatusSnapshot | None:
    """The last persisted status, or None when no recorder has written one."""
    path = status_path(data_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return StatusSnapshot(
        updated_at=float(data.get("updated_at", 0)),
        pid=int(data.get("pid", 0)),
        running=bool(data.get("running", False)),
        cameras=[CameraStatus.from_dict(c) for c in data.get("cameras", [])],
    )
