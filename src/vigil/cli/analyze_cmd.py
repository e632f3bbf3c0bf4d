"""`vigil analyze FILE`: run the analysis pipeline over a video file and list its events."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from vigil.cli.state import console, err_console, print_json, state
from vigil.errors import InputError
from vigil.store.enums import DetectorChoice

# The pipeline (OpenCV, PyAV, the face engine) is imported when the command runs.
if TYPE_CHECKING:
    from vigil.camera.source import AnalysisFrame
    from vigil.config import CameraConfig, VigilConfig
    from vigil.pipeline.analyzer import AnyTrack, EventDraft


ZONE_COLUMNS = (
    "name",
    "kind",
    "running_s",
    "idle_s",
    "entries",
    "exits",
    "intrusions",
    "peak_people",
)


def _label(track: AnyTrack) -> tuple[str, tuple[int, int, int]]:
    from vigil.faces.calibration import confidence_text
    from vigil.pipeline.track_state import Identity
    from vigil.pipeline.vehicles import VehicleState
    from vigil.vision.draw import AMBER, GREEN, GREY

    if isinstance(track.data, VehicleState):
        return f"#{track.id} {track.data.label}", GREY
    match = track.data.match if isinstance(track.data, Identity) else None
    if match is None:
        return f"#{track.id} person", GREY
    if match.known:
        return f"#{track.id} {match.name} {confidence_text(match.confidence)}", GREEN
    return f"#{track.id} unknown", AMBER


def analyze(
    ctx: typer.Context,
    video: Path = typer.Argument(..., help="A video file (any format FFmpeg reads)."),
    reason: str = typer.Option(
        ..., "--reason", "-r", help="Why you run recognition on this footage (recorded)."
    ),
    fps: float = typer.Option(5.0, min=0.1, max=30, help="Frames a second analysed."),
    annotate: Path | None = typer.Option(
        None, "--annotate", help="Write an MP4 with boxes, track numbers and names."
    ),
    detector: DetectorChoice | None = typer.Option(
        None,
        "--detector",
        help="What finds people and vehicles (default: the camera's, else auto: NanoDet when "
        "built, else HOG).",
    ),
    person_model: Path | None = typer.Option(
        None, "--person-model", help="Your own YOLO-style ONNX detector (overrides --detector)."
    ),
    no_gate: bool = typer.Option(
        False, "--no-motion-gate", help="Run detectors on every whole frame (slow; a baseline)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    camera: str | None = typer.Option(
        None,
        "--camera",
        help="Analyse as this camera of vigil.yaml does: its privacy masks, motion masks and "
        "zones (zone totals and spans are printed).",
    ),
) -> None:
    """Detect, track and recognise people in a video; print the events."""
    from vigil.camera.motion import MotionDetector
    from vigil.config import AnalysisConfig
    from vigil.faces.calibration import confidence_text
    from vigil.pipeline.analyzer import CameraAnalyzer, WholeFrame
    from vigil.pipeline.offline import analyse_file
    from vigil.pipeline.zones import summarise
    from vigil.privacy.audit import Action
    from vigil.vision.draw import draw_box
    from vigil.vision.person import detector_for
    from vigil.vision.video import Mp4Writer

    st = state(ctx)
    if not video.is_file():
        raise InputError(f"{video}: file not found")
    cam = _camera(st.config, camera) if camera else None
    st.audit(Action.identify, reason=reason, target=("video", str(video)))  # refuses no reason
    gate = MotionDetector.from_config(cam.motion) if cam else MotionDetector()
    analysis = cam.analysis if cam else AnalysisConfig()
    if detector is not None:
        analysis = analysis.model_copy(update={"detector": detector.value})
    analyzer = CameraAnalyzer(
        cam.name if cam else video.stem,
        st.face_engine,
        st.gallery().matcher(st.calibration()),
        detector_for(analysis, person_model),
        WholeFrame() if no_gate else gate,
        privacy_masks=cam.privacy_masks if cam else None,
        zones=cam.zones if cam else None,
    )
    with ExitStack() as stack:
        writer = stack.enter_context(Mp4Writer(annotate, fps)) if annotate else None
        if not as_json:
            stack.enter_context(console.status("analysing..."))

        def draw(frame: AnalysisFrame) -> None:
            if writer:
                canvas = frame.image.copy()
                for tr in analyzer.active_tracks(frame.pts_seconds):
                    draw_box(canvas, tr.box, *_label(tr))
                writer.write(canvas)

        # One event per uid: a known person announced while seen is printed once, completed.
        events: list[EventDraft] = analyse_file(video, analyzer, fps, draw)
    stats = analyzer.stats
    zones = summarise(cam.zones, events, analyzer.zone_monitor) if cam else []
    if as_json:
        out = {"video": str(video), "frames": stats.frames, "events": [e.to_dict() for e in events]}
        print_json(out | ({"camera": cam.name, "zones": zones} if cam else {}))
        return
    t = Table("start s", "end s", "event", "track", "who", "score", "confidence")
    for e in events:
        t.add_row(
            f"{e.start:.1f}",
            f"{e.end:.1f}",
            e.kind,
            str(e.track_id),
            e.person_name or _who(e),
            "" if e.score is None else f"{e.score:.3f}",
            "" if e.confidence is None else confidence_text(e.confidence),
        )
    console.print(t)
    if zones:
        z = Table("zone", "kind", "running s", "idle s", "in", "out", "intrusions", "most people")
        for r in zones:
            z.add_row(*(str(r[k]) for k in ZONE_COLUMNS))
        console.print(z)
    console.print(f"{stats.frames} frames analysed at {fps:g} fps, {len(events)} events")
    if annotate:
        err_console.print(f"annotated video: {annotate}")


def _who(e: EventDraft) -> str:
    if e.kind == "zone_change":
        return f"{e.zone}: {e.details.get('state')}"
    return "unknown" if e.kind == "face" else ""


def _camera(config: VigilConfig, name: str) -> CameraConfig:
    for cam in config.cameras:
        if cam.name == name:
            return cam
    names = ", ".join(c.name for c in config.cameras) or "none"
    raise InputError(f"no camera {name!r} in the configuration (cameras: {names})")
