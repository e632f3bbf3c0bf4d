"""`vigil demo`: a site with three sample cameras, built offline from packaged footage, photos."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.serve_cmd import run_site
from vigil.cli.state import AppState, console, state
from vigil.store.enums import LegalBasis, Role

# PyAV, the face engine and the web app's accounts are imported when the demo runs.


def demo(
    ctx: typer.Context,
    folder: Path = typer.Option(Path("var/demo"), "--folder", help="Where the demo site lives."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Run the site when set up."),
    port: int = typer.Option(8080, help="Web UI port."),
) -> None:
    """Set up a demo site (three sample cameras, an enrolled person) and serve its web UI."""
    import av
    import yaml

    from vigil.api import accounts
    from vigil.api.security import one_time_password
    from vigil.cli.faces_cmd import embedding
    from vigil.demo.assets import KNOWN_NAME, factory_video, prepare
    from vigil.demo.scenes import FactoryScene
    from vigil.faces.calibration import confidence_text
    from vigil.faces.gallery import check_photos

    st = state(ctx)
    st.data_dir_override = folder
    with console.status("getting sample footage (Debian opencv-doc, scikit-image)..."):
        assets = prepare(folder / "assets")
    console.print(f"street camera footage: {assets.street_source}")
    console.print(
        "door camera footage: generated from photos that scikit-image and opencv-doc ship"
    )
    with console.status("generating the factory scene (once, a few seconds)..."):
        factory = factory_video(folder / "assets")
    if factory is not None:
        console.print(
            "factory camera footage: generated (a machine that runs and stops, a worker from"
            " vtest.avi crossing a doorway); zones: press (machine), door (doorway)"
        )
    else:
        console.print("factory camera left out: its worker is cut from opencv-doc's vtest.avi")

    photos = check_photos(st.face_engine, [assets.known_photo])
    st.gallery().enroll(
        KNOWN_NAME,
        photos,
        legal_basis=LegalBasis.consent,
        legal_basis_note="demo: sample photo shipped with scikit-image",
        enrolled_by="demo",
    )
    console.print(f"enrolled [bold]{KNOWN_NAME}[/] (legal basis: consent); nobody else is enrolled")

    matcher = st.gallery().matcher(st.calibration())
    seen: dict[str | None, tuple[float, float]] = {}  # who -> (best score, time in clip)
    with av.open(str(assets.door_video)) as clip:
        stream = clip.streams.video[0]
        for frame in clip.decode(stream):
            t = float(frame.time or 0)
            if round(t * 10) % 5:  # 2 analysed frames a second
                continue
            obs = st.face_engine.analyze(frame.to_ndarray(format="bgr24"))
            sizes = [o.face.short_side for o in obs]
            for m in matcher.identify([embedding(o) for o in obs], sizes):
                who = m.name if m.known else "unknown face"
                if who not in seen or m.score > seen[who][0]:
                    seen[who] = (m.score, t)
    table = Table("who the door camera saw", "best score", "confidence", "at (s)")
    cal = matcher.calibration
    for who, (score, t) in seen.items():
        table.add_row(who, f"{score:.3f}", confidence_text(cal.confidence(score)), f"{t:.1f}")
    console.print(table)

    # Each camera's record (decision 0064): without it a camera does not recognise faces.
    cameras: list[dict[str, object]] = [
        {
            "name": "street",
            "url": str(assets.street_video.resolve()),
            "loop": True,
            "purpose": "Demo: people and vehicles passing in the street.",
            "field_of_view": "A public street, from a sample clip.",
            "publicly_accessible": True,
            "analysis": {"recognise": False},  # a public street: no recognition
        },
        {
            "name": "door",
            "url": str(assets.door_video.resolve()),
            "loop": True,
            "purpose": "Demo: recognise the enrolled sample person at the door.",
            "field_of_view": "A door, from a sample clip.",
            "publicly_accessible": False,
        },
    ]
    if factory is not None:  # its running/idle time line and crossings fill in within a minute
        cameras.append(
            {
                "name": "factory",
                "url": str(factory.resolve()),
                "loop": True,
                "zones": FactoryScene.zones(),
                "purpose": "Demo: machine running time and doorway counts.",
                "field_of_view": "A generated factory floor.",
                "publicly_accessible": False,
                "analysis": {"recognise": False},
            }
        )
    config = {
        "site": {
            "name": "Vigil demo site",
            "operator": "Demo operator",
            "contact": "privacy@example.org",
        },
        "storage": {"data_dir": str(folder.resolve())},
        "privacy": {
            "face_recognition_enabled": True,
            "face_recognition_purpose": "Demo: recognise the one enrolled sample person.",
            "legal_basis": "consent",
            "legal_basis_note": "Demo data: a public sample photo shipped with scikit-image.",
        },
        "cameras": cameras,
    }
    cfg_path = folder / "vigil.yaml"
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    console.print(f"\nconfiguration written: {cfg_path}")
    site = AppState(config_path=cfg_path)
    if not accounts.admin_exists(site.db()):
        password = one_time_password()
        accounts.create_user(
            site.db(), "admin", password, Role.admin, created_by="demo", must_change_password=True
        )
        console.print(f"web UI admin: [bold]admin[/], one-time password: [bold]{password}[/]")
    if serve:
        console.print(f"open [bold]http://127.0.0.1:{port}/[/] (Ctrl-C stops the demo)")
        run_site(site, port=port)
    else:
        console.print(f"run it: vigil -c {cfg_path} serve")
