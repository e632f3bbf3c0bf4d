"""`vigil report ...`: reports people would rather look at than read."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.state import console, state
from vigil.errors import InputError, NotFoundError

app = typer.Typer(help="Reports: zone time lines and counts.", no_args_is_help=True)


@app.command()
def zones(
    ctx: typer.Context,
    camera: str = typer.Argument(..., help="Camera name."),
    day: str = typer.Option(date.today().isoformat(), "--day", help="The day, YYYY-MM-DD."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Folder for the PNG and CSV."),
) -> None:
    """Machine running / idle time line (PNG) and minutes per zone (CSV) for one day, with
    the most people inside each zone at once (from the stored occupancy)."""
    from vigil.pipeline.zone_report import write_csv, write_png, zone_day

    st = state(ctx)
    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise InputError(f"--day {day!r} is not a date (YYYY-MM-DD)") from exc
    names = {c.name: c for c in st.config.cameras}
    if names and camera not in names:
        raise NotFoundError(f"no camera named {camera!r} in the configuration")
    zones = names[camera].zones if camera in names else None
    report = zone_day(st.db(), camera, when, zones)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"zones-{camera}-{when.isoformat()}"
    png = write_png(report, stem.with_suffix(".png"))
    csv_path = write_csv(report, stem.with_suffix(".csv"))
    t = Table("zone", "running min", "idle min", "no data min", "in", "out", "max people")
    for zone in report.zones():
        m = report.minutes(zone) if zone in report.machines else {}
        door = report.doorways.get(zone)
        t.add_row(
            zone,
            *(f"{m.get(k, 0):.0f}" if m else "" for k in ("running", "idle", "no data")),
            "" if door is None else str(door.get("in", 0)),
            "" if door is None else str(door.get("out", 0)),
            str(report.max_people.get(zone, "")),
        )
    console.print(t)
    console.print(f"time line: {png}\nminutes: {csv_path}")
