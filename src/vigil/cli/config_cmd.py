"""`vigil config ...`: check and explain vigil.yaml."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from vigil.cli.state import console
from vigil.config import VigilConfig, config_errors

app = typer.Typer(help="Check and explain the configuration file.", no_args_is_help=True)


@app.command("check")
def check(file: Path = typer.Argument(..., help="The vigil.yaml to check.")) -> None:
    """Validate FILE and report every error with its path and line."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot read {file}:[/] {exc}")
        raise typer.Exit(2) from exc
    problems = config_errors(text) or record_gaps(
        VigilConfig.model_validate(yaml.safe_load(text) or {})
    )
    if problems:
        console.print(f"[red]{file}: {len(problems)} error(s)[/]")
        for p in problems:
            console.print(f"  {p}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]{file}: OK[/]")


def record_gaps(config: VigilConfig) -> list[str]:
    """Each field a camera asked to recognise faces lacks in its record (0064): until it is
    filled in, that camera does not recognise."""
    return [
        f"cameras[{i}].{gap}: required because camera {cam.name} is set to recognise faces "
        "(without it the camera does not recognise)"
        for i, cam in enumerate(config.cameras)
        for gap in config.record_gaps(cam)
    ]


# Printed as comments after the defaults, whose `cameras: []` it replaces. A test uncomments
# it and checks it, so it stays valid.
CAMERA_EXAMPLE = """\
cameras:
  # An IP camera over RTSP: the main stream is recorded, the low-resolution sub-stream analysed.
  - name: gate
    url: rtsp://user:password@10.0.0.5:554/stream1
    sub_url: rtsp://user:password@10.0.0.5:554/stream2
    retention_days: 30
    # Its record, required while it recognises faces (privacy.face_recognition_enabled):
    purpose: Let enrolled staff through the gate at night.
    field_of_view: The gate from the yard side, 5 m of driveway.
    publicly_accessible: false     # true also needs public_recognition_ground
    privacy_masks:                 # blacked out before analysis, in live view and exports
      - [[0.70, 0.00], [1.00, 0.00], [1.00, 0.35], [0.70, 0.35]]   # a neighbour's window
    motion:
      sensitivity: 0.5
      masks:                       # motion here is ignored (a tree, a flag, a clock)
        - [[0.00, 0.00], [0.25, 0.00], [0.25, 0.30], [0.00, 0.30]]
    zones:
      - name: press 1              # machine: running / idle time line from motion inside it
        kind: machine
        polygon: [[0.10, 0.50], [0.35, 0.50], [0.35, 0.90], [0.10, 0.90]]
        min_motion: 0.02           # share of the zone that must move to count as running
        smoothing_s: 8             # pauses and bursts shorter than this are not shown
      - name: front door           # doorway: people counted going in and out through it
        kind: doorway
        polygon: [[0.45, 0.40], [0.60, 0.40], [0.60, 0.95], [0.45, 0.95]]
        inward: up                 # going in = moving up in the picture (up/down/left/right)
      - name: store room           # restricted: an alert when a person enters out of hours
        kind: restricted
        polygon: [[0.75, 0.50], [0.95, 0.50], [0.95, 0.95], [0.75, 0.95]]
        allowed_hours: "07:00-19:00"
  # A video file, played again and again (demos, tests).
  - name: sample
    url: /srv/vigil/sample.mp4
    loop: true
  # A USB camera (V4L2), analysed but not recorded: `vigil cameras status` shows analysis-only.
  - name: desk
    url: /dev/video0
    record: false
"""

EXAMPLE_INTRO = """\
Cameras: replace `cameras: []` above with a list like this one (remove the "# ").
url: rtsp://..., http(s)://... (MJPEG, HLS), a video file, or /dev/videoN (USB).
Polygons (privacy_masks, motion.masks, zones[].polygon) are [x, y] points as fractions of
the frame, 0..1 from its left and top edges, not pixels: divide pixel x by the frame width
and y by the frame height (a point at [700, 150] in 1920x1080 is [0.365, 0.139]).
`vigil config check FILE` reports every error with its line.
"""


@app.command("defaults")
def defaults() -> None:
    """Print a vigil.yaml with every setting at its default value, then (as comments) an
    example of each kind of camera, zone and mask."""
    data = VigilConfig().model_dump(mode="json")
    typer.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
    typer.echo(commented(EXAMPLE_INTRO + "\n" + CAMERA_EXAMPLE), nl=False)


def commented(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.splitlines())
