"""From an ONVIF device to a `cameras:` entry in vigil.yaml: its profiles read, the main stream
(the largest picture) and the sub stream (the smallest other one) chosen, their RTSP URIs with the
credentials in them (as Vigil's other camera URLs), and an `onvif:` section for PTZ and events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import ValidationError

from vigil.camera.source import redact_url
from vigil.config import CameraConfig
from vigil.errors import InputError
from vigil.onvif.device import DeviceInfo, OnvifDevice, Profile


@dataclass(frozen=True)
class ProfileStream:
    profile: Profile
    uri: str  # as the device gave it, without credentials


@dataclass(frozen=True)
class Inspected:
    """What a device offers: who it is, and each profile with its stream URI."""

    url: str
    info: DeviceInfo
    streams: list[ProfileStream]
    ptz: bool
    events: bool

    def as_dict(self) -> dict[str, Any]:
        main, sub = choose(self.streams)
        return {
            "url": self.url,
            "info": asdict(self.info),
            "ptz": self.ptz,
            "events": self.events,
            "profiles": [{**asdict(s.profile), "uri": redact_url(s.uri)} for s in self.streams],
            "main": main.profile.token,
            "sub": sub.profile.token if sub else None,
        }


def inspect(device: OnvifDevice) -> Inspected:
    streams = [ProfileStream(p, device.stream_uri(p.token)) for p in device.profiles()]
    if not streams:
        raise InputError(f"the camera at {device.url} has no media profiles")
    return Inspected(
        device.url,
        device.information(),
        streams,
        ptz=device.services.ptz is not None and any(s.profile.ptz for s in streams),
        events=device.services.events is not None,
    )


def choose(
    streams: list[ProfileStream], main: str | None = None, sub: str | None = None
) -> tuple[ProfileStream, ProfileStream | None]:
    """The main stream (named, or the largest picture) and the sub stream (named, or the
    smallest picture other than the main one; none if there is no other)."""
    by_token = {s.profile.token: s for s in streams}
    for token in (main, sub):
        if token is not None and token not in by_token:
            raise InputError(
                f"the camera has no profile {token!r}", hint="profiles: " + ", ".join(by_token)
            )
    first = by_token[main] if main else max(streams, key=lambda s: s.profile.pixels)
    others = [s for s in streams if s.profile.token != first.profile.token]
    second = by_token[sub] if sub else min(others, key=lambda s: s.profile.pixels, default=None)
    if second is not None and second.profile.token == first.profile.token:
        second = None
    return first, second


def with_credentials(uri: str, username: str, password: str) -> str:
    """The stream URI with the user and password in it (unless it carries its own)."""
    parts = urlsplit(uri)
    if not username or parts.username:
        return uri
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def camera_entry(
    found: Inspected,
    name: str,
    username: str,
    password: str,
    *,
    main: str | None = None,
    sub: str | None = None,
    events: bool = False,
) -> dict[str, Any]:
    first, second = choose(found.streams, main, sub)
    entry: dict[str, Any] = {"name": name, "url": with_credentials(first.uri, username, password)}
    if second is not None:
        entry["sub_url"] = with_credentials(second.uri, username, password)
    onvif: dict[str, Any] = {"url": found.url, "username": username, "password": password}
    if events:
        onvif["events"] = True
    entry["onvif"] = onvif
    try:  # a bad name fails here, before the file is read
        CameraConfig.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"this camera cannot be added: {problems}") from exc
    return entry
