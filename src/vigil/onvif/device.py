"""One ONVIF device: its information, services, media profiles and stream URIs (Device and
Media services), PTZ moves and presets (PTZ service), and pull-point event subscriptions (Events
service), each a SOAP call through `soap.SoapClient`.

`OnvifDevice.connect` reads the device's clock first (unauthenticated) so the tokens it sends are
dated in the device's time, then its service addresses; a wrong password fails there, clearly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from vigil.onvif.soap import OnvifError, SoapClient, child, descendants, local, text

DEVICE_PATH = "/onvif/device_service"


def device_url(address: str) -> str:
    """The device service URL for what an operator types: a URL, `host` or `host:port`."""
    address = address.strip()
    if not address:
        raise OnvifError("no camera address given")
    if "://" not in address:
        address = f"http://{address}"
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OnvifError(f"not an ONVIF device address: {address!r} (http://host[:port][/path])")
    return (
        address if parts.path not in ("", "/") else f"{parts.scheme}://{parts.netloc}{DEVICE_PATH}"
    )


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclass(frozen=True)
class Services:
    media: str
    ptz: str | None = None
    events: str | None = None


@dataclass(frozen=True)
class Profile:
    token: str
    name: str
    encoding: str
    width: int
    height: int
    ptz: bool  # the profile has a PTZ configuration

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Preset:
    token: str
    name: str


@dataclass(frozen=True)
class PullPoint:
    address: str
    terminates: datetime


@dataclass(frozen=True)
class Notification:
    """One event message: topic (prefix dropped, e.g. `RuleEngine/CellMotionDetector/Motion`),
    what happened to its property (`Initialized`, `Changed`, `Deleted`), source and data items."""

    topic: str
    time: datetime
    operation: str
    source: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)


def _duration(seconds: float) -> str:
    return f"PT{max(seconds, 0.001):.3f}S"


def _iso_time(value: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _int(value: str) -> int:
    return int(value) if value.isdigit() else 0


def _items(el: ET.Element | None) -> dict[str, str]:
    if el is None:
        return {}
    return {i.get("Name", ""): i.get("Value", "") for i in descendants(el, "SimpleItem")}


def parse_notifications(answer: ET.Element, now: datetime) -> list[Notification]:
    out = []
    for msg in descendants(answer, "NotificationMessage"):
        topic = text(msg, "Topic")
        if ":" in topic.split("/")[0]:  # "tns1:RuleEngine/...": the prefix names a namespace
            topic = topic.split(":", 1)[1]
        inner = child(msg, "Message", "Message")
        if inner is None:
            continue
        out.append(
            Notification(
                topic=topic.strip("/"),
                time=_iso_time(inner.get("UtcTime", "")) or now,
                operation=inner.get("PropertyOperation", ""),
                source=_items(child(inner, "Source")),
                data=_items(child(inner, "Data")),
            )
        )
    return out


class OnvifDevice:
    """A connected device. Calls raise `OnvifError` (unreachable, fault) or `OnvifAuthError`."""

    def __init__(self, url: str, soap: SoapClient, services: Services) -> None:
        self.url, self.soap, self.services = url, soap, services

    @classmethod
    def connect(
        cls, address: str, username: str = "", password: str = "", *, timeout_s: float = 5.0
    ) -> OnvifDevice:
        url = device_url(address)
        soap = SoapClient(username, password, timeout_s=timeout_s)
        soap.clock_offset = clock_offset(soap, url)
        answer = soap.call(
            url, "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>"
        )
        caps = child(answer, "Capabilities")

        def xaddr(name: str) -> str | None:
            return text(caps, name, "XAddr") or None

        media = xaddr("Media")
        if media is None:
            raise OnvifError(f"the device at {url} has no media service (not a camera?)")
        return cls(url, soap, Services(media, xaddr("PTZ"), xaddr("Events")))

    # --- device and media ---------------------------------------------------------------

    def information(self) -> DeviceInfo:
        a = self.soap.call(self.url, "<tds:GetDeviceInformation/>")
        return DeviceInfo(
            text(a, "Manufacturer"),
            text(a, "Model"),
            text(a, "FirmwareVersion"),
            text(a, "SerialNumber"),
            text(a, "HardwareId"),
        )

    def profiles(self) -> list[Profile]:
        a = self.soap.call(self.services.media, "<trt:GetProfiles/>")
        out = []
        for p in (e for e in a if local(e.tag) == "Profiles"):
            enc = child(p, "VideoEncoderConfiguration")
            out.append(
                Profile(
                    token=p.get("token", ""),
                    name=text(p, "Name"),
                    encoding=text(enc, "Encoding"),
                    width=_int(text(enc, "Resolution", "Width")),
                    height=_int(text(enc, "Resolution", "Height")),
                    ptz=child(p, "PTZConfiguration") is not None,
                )
            )
        return out

    def stream_uri(self, profile: str) -> str:
        a = self.soap.call(
            self.services.media,
            "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
            "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
            f"<trt:ProfileToken>{escape(profile)}</trt:ProfileToken></trt:GetStreamUri>",
        )
        uri = text(a, "MediaUri", "Uri")
        if not uri:
            raise OnvifError(f"the device gave no stream URI for profile {profile!r}")
        return uri

    # --- PTZ ------------------------------------------------------------------------------

    def _ptz(self) -> str:
        if self.services.ptz is None:
            raise OnvifError("this camera has no PTZ service")
        return self.services.ptz

    def ptz_profile(self) -> Profile:
        found = next((p for p in self.profiles() if p.ptz), None)
        if found is None or self.services.ptz is None:
            raise OnvifError("this camera offers no pan, tilt or zoom")
        return found

    def move(self, profile: str, pan: float, tilt: float, zoom: float, timeout_s: float) -> None:
        """Move at the given speeds (-1..1 each) until `stop` or `timeout_s` passes."""
        self.soap.call(
            self._ptz(),
            f"<tptz:ContinuousMove><tptz:ProfileToken>{escape(profile)}</tptz:ProfileToken>"
            f'<tptz:Velocity><tt:PanTilt x="{pan:.3f}" y="{tilt:.3f}"/>'
            f'<tt:Zoom x="{zoom:.3f}"/></tptz:Velocity>'
            f"<tptz:Timeout>{_duration(timeout_s)}</tptz:Timeout></tptz:ContinuousMove>",
        )

    def stop(self, profile: str) -> None:
        self.soap.call(
            self._ptz(),
            f"<tptz:Stop><tptz:ProfileToken>{escape(profile)}</tptz:ProfileToken>"
            "<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>",
        )

    def presets(self, profile: str) -> list[Preset]:
        a = self.soap.call(
            self._ptz(),
            f"<tptz:GetPresets><tptz:ProfileToken>{escape(profile)}</tptz:ProfileToken>"
            "</tptz:GetPresets>",
        )
        return [
            Preset(p.get("token", ""), text(p, "Name") or p.get("token", ""))
            for p in a
            if local(p.tag) == "Preset"
        ]

    def goto_preset(self, profile: str, preset: str) -> None:
        self.soap.call(
            self._ptz(),
            f"<tptz:GotoPreset><tptz:ProfileToken>{escape(profile)}</tptz:ProfileToken>"
            f"<tptz:PresetToken>{escape(preset)}</tptz:PresetToken></tptz:GotoPreset>",
        )

    # --- events ---------------------------------------------------------------------------

    def subscribe(self, keep_s: float) -> PullPoint:
        """A pull-point subscription that lives `keep_s` unless renewed."""
        if self.services.events is None:
            raise OnvifError("this camera has no event service")
        a = self.soap.call(
            self.services.events,
            "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>"
            f"{_duration(keep_s)}</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
        )
        address = text(a, "SubscriptionReference", "Address")
        if not address:
            raise OnvifError("the camera made a subscription without an address")
        ends = _iso_time(text(a, "TerminationTime")) or self.soap.now() + timedelta(seconds=keep_s)
        return PullPoint(address, ends)

    def _wsa(self, pp: PullPoint, action: str) -> str:
        return f"<wsa:Action>{action}</wsa:Action><wsa:To>{escape(pp.address)}</wsa:To>"

    def pull(self, pp: PullPoint, wait_s: float, limit: int = 32) -> list[Notification]:
        """Messages the camera has for this subscription, waiting up to `wait_s` for one."""
        a = self.soap.call(
            pp.address,
            f"<tev:PullMessages><tev:Timeout>{_duration(wait_s)}</tev:Timeout>"
            f"<tev:MessageLimit>{limit}</tev:MessageLimit></tev:PullMessages>",
            header=self._wsa(pp, f"{NS_EVENTS}/PullPointSubscription/PullMessagesRequest"),
            timeout_s=self.soap.timeout_s + wait_s,
        )
        # message times are the device's clock: put them on ours
        off = self.soap.clock_offset
        return [replace(n, time=n.time - off) for n in parse_notifications(a, self.soap.now())]

    def unsubscribe(self, pp: PullPoint) -> None:
        self.soap.call(
            pp.address,
            "<wsnt:Unsubscribe/>",
            header=self._wsa(
                pp, "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
            ),
        )


NS_EVENTS = "http://www.onvif.org/ver10/events/wsdl"


def clock_offset(soap: SoapClient, url: str) -> timedelta:
    """The device's UTC clock minus ours (0 when it does not tell)."""
    try:
        a = soap.call(url, "<tds:GetSystemDateAndTime/>", auth=False)
    except OnvifError:
        return timedelta(0)
    utc = child(a, "SystemDateAndTime", "UTCDateTime")
    try:
        d = {k: int(text(utc, "Date", k)) for k in ("Year", "Month", "Day")}
        t = {k: int(text(utc, "Time", k)) for k in ("Hour", "Minute", "Second")}
        then = datetime(
            d["Year"], d["Month"], d["Day"], t["Hour"], t["Minute"], t["Second"], tzinfo=UTC
        )
    except ValueError:
        return timedelta(0)
    offset = then - datetime.now(UTC)
    return offset if abs(offset) > timedelta(seconds=5) else timedelta(0)


def profile_summary(p: Profile) -> str:
    return f"{p.name or p.token} ({p.encoding} {p.width}x{p.height})"
