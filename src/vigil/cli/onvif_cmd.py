"""`vigil cameras discover` and `vigil cameras add-onvif`: find ONVIF cameras on the network and
add one, main and sub stream, to vigil.yaml. The password comes from a file, never argv."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from vigil.cli.state import console, print_json, state
from vigil.errors import ConfigError, InputError


def register(cameras: typer.Typer) -> None:
    cameras.command("discover")(discover)
    cameras.command("add-onvif")(add_onvif)


def discover(
    ctx: typer.Context,
    address: str | None = typer.Option(
        None, help="Probe this address instead of onvif.discovery_address (multicast)."
    ),
    port: int | None = typer.Option(None, help="Port to probe (default: onvif.discovery_port)."),
    timeout: float | None = typer.Option(None, min=0.1, max=30, help="Seconds to wait."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find ONVIF cameras on the local network (WS-Discovery) and list them."""
    from vigil.onvif.discovery import discover as probe

    o = state(ctx).config.onvif
    found = probe(
        address or o.discovery_address,
        port or o.discovery_port,
        timeout or o.discovery_timeout_s,
    )
    if as_json:
        print_json([f.as_dict() for f in found])
        return
    if not found:
        console.print("no ONVIF camera answered (is it on this network, with discovery on?)")
        return
    table = Table("name", "hardware", "host", "device service")
    for f in found:
        table.add_row(escape(f.name or "-"), escape(f.hardware or "-"), f.host, f.xaddrs[0])
    console.print(table)
    console.print("add one: vigil cameras add-onvif URL --name NAME --user USER --password-file F")


def _password(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the password file {path}: {exc.strerror}") from exc
    if not lines or not lines[0].strip():
        raise InputError(f"the password file {path} is empty")
    return lines[0].strip()


def add_onvif(
    ctx: typer.Context,
    url: str = typer.Argument(
        ..., help="The device: http://host[:port]/onvif/device_service or host."
    ),
    name: str = typer.Option(
        ..., "--name", help="The camera's name in Vigil (letters, digits, - _)."
    ),
    user: str = typer.Option("", "--user", help="ONVIF user name."),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="File whose first line is the ONVIF password."
    ),
    main: str | None = typer.Option(None, help="Main stream profile token (default: largest)."),
    sub: str | None = typer.Option(None, help="Sub stream profile token (default: smallest)."),
    events: bool = typer.Option(False, "--events", help="Take the camera's motion events."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Read an ONVIF camera's profiles and add it to vigil.yaml with its main and sub stream."""
    from vigil import config_edit
    from vigil.camera.source import redact_url
    from vigil.onvif.adding import camera_entry, choose, inspect
    from vigil.onvif.device import OnvifDevice, profile_summary
    from vigil.privacy.audit import Action

    st = state(ctx)
    path = config_edit.config_file(st.config_path)
    if path is None:
        raise ConfigError(
            "there is no vigil.yaml to add the camera to", hint="create one, or pass --config"
        )
    password = _password(password_file) if password_file else ""
    found = inspect(OnvifDevice.connect(url, user, password))
    entry = camera_entry(found, name, user, password, main=main, sub=sub, events=events)
    saved = config_edit.add_camera(path, entry)
    cam = saved.camera
    st.audit(
        Action.change_config,
        target=("camera", name),
        camera=name,
        details={"added": "onvif", "device": found.url, "model": found.info.model},
    )
    if as_json:
        print_json(
            {
                "name": cam.name,
                "url": redact_url(cam.url),
                "sub_url": redact_url(cam.sub_url) if cam.sub_url else None,
                "ptz": found.ptz,
                "events": events,
            }
        )
        return
    first, second = choose(found.streams, main, sub)
    console.print(f"added camera [bold]{escape(name)}[/] ({escape(found.info.model)}) to {path}")
    console.print(f"  url:     {escape(redact_url(cam.url))}  {profile_summary(first.profile)}")
    if cam.sub_url and second:
        console.print(
            f"  sub_url: {escape(redact_url(cam.sub_url))}  {profile_summary(second.profile)}"
        )
    console.print("restart `vigil serve` to start recording it")
