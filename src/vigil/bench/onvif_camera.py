"""A simulated ONVIF camera for tests and manual checks: SOAP over HTTP on loopback and a
WS-Discovery responder over UDP.

It answers GetSystemDateAndTime (without a login, as devices do), GetCapabilities,
GetDeviceInformation, GetProfiles (a 1920x1080 main and a 640x360 sub profile, with PTZ),
GetStreamUri, ContinuousMove, Stop, GetPresets, GotoPreset, CreatePullPointSubscription,
PullMessages and Unsubscribe, each requiring a WS-Security UsernameToken whose digest matches the
password and whose time is within a minute of its clock (`clock_skew` sets it off; a
`NotAuthorized` fault otherwise), or with `http_digest=True` HTTP Digest instead (a 401).
`motion(True/False)` queues a motion message on every pull point; the PTZ calls it received are
in `ptz_calls`. The stream URIs are the ones it
is given (e.g. our RTSP test camera, `vigil.bench.rtsp_camera`).

`python -m vigil.bench.onvif_camera --port 8080 [--multicast]` runs one until Ctrl-C; with
`--multicast` it also answers probes on 239.255.255.250:3702, so `vigil cameras discover` finds it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import socket
import struct
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from vigil.onvif import discovery
from vigil.onvif.soap import NS, child, descendants, envelope, local, password_digest, text

TOPICS = "http://www.onvif.org/ver10/topics"
MOTION_TOPIC = "tns1:RuleEngine/CellMotionDetector/Motion"
WAIT_CAP_S = 30.0
TOKEN_AGE = timedelta(seconds=60)


@dataclass
class SimProfile:
    token: str
    name: str
    width: int
    height: int
    uri: str


@dataclass
class PullQueue:
    messages: list[str] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)


def _seconds(duration: str, default: float) -> float:
    m = re.fullmatch(r"PT(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?", duration.strip())
    if not m or not any(m.groups()):
        return default
    return float(m.group(1) or 0) * 60 + float(m.group(2) or 0)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fault(code: str, reason: str) -> bytes:
    return envelope(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value xmlns:ter="
        f'"http://www.onvif.org/ver10/error">ter:{code}</s:Value></s:Subcode></s:Code>'
        f'<s:Reason><s:Text xml:lang="en">{escape(reason)}</s:Text></s:Reason></s:Fault>'
    )


class SimulatedCamera:
    def __init__(
        self,
        username: str = "admin",
        password: str = "secret",
        *,
        main_uri: str = "rtsp://127.0.0.1:8554/main",
        sub_uri: str = "rtsp://127.0.0.1:8554/sub",
        name: str = "Vigil Sim",
        ptz: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        discovery_port: int | None = 0,
        multicast: bool = False,
        clock_skew: timedelta = timedelta(0),
        http_digest: bool = False,
    ) -> None:
        self.username, self.password, self.name, self.has_ptz = username, password, name, ptz
        self.profiles = [
            SimProfile("main", "MainStream", 1920, 1080, main_uri),
            SimProfile("sub", "SubStream", 640, 360, sub_uri),
        ]
        self.presets = {"1": "Gate", "2": "Car park"}
        self.endpoint = f"urn:uuid:{uuid.uuid4()}"
        self.ptz_calls: list[tuple[str, dict[str, str]]] = []
        self.refused = 0  # requests refused for bad credentials
        self.clock_skew = clock_skew  # its clock minus the real time
        self.http_digest = http_digest  # HTTP Digest instead of WS-Security, as some devices
        self._nonce = uuid.uuid4().hex
        self._queues: dict[str, PullQueue] = {}
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer((host, port), self._handler())
        self._http.daemon_threads = True
        self._udp: socket.socket | None = None
        self.discovery_port: int | None = None
        if discovery_port is not None or multicast:
            self._udp = self._discovery_socket(host, discovery_port or 0, multicast)
            self.discovery_port = self._udp.getsockname()[1]
        self._threads: list[threading.Thread] = []

    # --- life ------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base}/onvif/device_service"

    def start(self) -> SimulatedCamera:
        runs: list[Any] = [self._http.serve_forever]
        if self._udp is not None:
            runs.append(self._answer_probes)
        for run in runs:
            t = threading.Thread(target=run, name="onvif-sim", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        if self._threads:  # shutdown() waits for serve_forever, which must have started
            self._http.shutdown()
        self._http.server_close()
        if self._udp is not None:
            self._udp.close()
        with self._lock:
            for q in self._queues.values():
                with q.cond:
                    q.cond.notify_all()

    def __enter__(self) -> SimulatedCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what a test drives ------------------------------------------------------------------

    def motion(self, on: bool, rule: str = "MyMotionDetectorRule") -> None:
        """Queue a motion message (started or stopped) on every pull point."""
        msg = (
            "<wsnt:NotificationMessage><wsnt:Topic Dialect="
            '"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
            f"{MOTION_TOPIC}</wsnt:Topic><wsnt:Message>"
            f'<tt:Message UtcTime="{_iso(self.now())}" PropertyOperation="Changed">'
            '<tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="vsc"/>'
            f'<tt:SimpleItem Name="Rule" Value="{escape(rule)}"/></tt:Source>'
            f'<tt:Data><tt:SimpleItem Name="IsMotion" Value="{str(on).lower()}"/></tt:Data>'
            "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
        )
        with self._lock:
            queues = list(self._queues.values())
        for q in queues:
            with q.cond:
                q.messages.append(msg)
                q.cond.notify_all()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_skew

    @property
    def subscriptions(self) -> int:
        with self._lock:
            return len(self._queues)

    # --- SOAP ---------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(size)
                login = self.headers.get("Authorization", "")
                if (
                    sim.http_digest
                    and b"GetSystemDateAndTime" not in data
                    and not sim.digest_ok(login, self.path)
                ):
                    sim.refused += 1
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate",
                        f'Digest realm="vigil-sim", qop="auth", nonce="{sim._nonce}"',
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body = sim.answer(self.path, data)
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def authorised(self, root: ET.Element) -> bool:
        token = next(descendants(root, "UsernameToken"), None)
        if token is None or text(token, "Username") != self.username:
            return False
        try:
            nonce = base64.b64decode(text(token, "Nonce"), validate=True)
            created = datetime.fromisoformat(text(token, "Created").replace("Z", "+00:00"))
        except ValueError:
            return False
        if abs(created - self.now()) > TOKEN_AGE:  # as devices do: a stale or future token
            return False
        expected = password_digest(nonce, text(token, "Created"), self.password)
        return hmac.compare_digest(expected, text(token, "Password"))

    def digest_ok(self, header: str, path: str) -> bool:
        """An HTTP Digest (RFC 7616, MD5, qop=auth) Authorization header for this user."""
        if not header.startswith("Digest "):
            return False
        f = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header)}
        if f.get("username") != self.username or f.get("nonce") != self._nonce:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

        ha1 = md5(f"{self.username}:{f.get('realm', '')}:{self.password}")
        ha2 = md5(f"POST:{f.get('uri', path)}")
        want = md5(f"{ha1}:{self._nonce}:{f.get('nc', '')}:{f.get('cnonce', '')}:auth:{ha2}")
        return hmac.compare_digest(want, f.get("response", ""))

    def answer(self, path: str, data: bytes) -> tuple[int, bytes]:
        try:
            root = ET.fromstring(data)
            op = child(root, "Body")[0]  # type: ignore[index]
        except (ET.ParseError, IndexError, TypeError):
            return 400, _fault("InvalidArgs", "not a SOAP request")
        name = local(op.tag)
        if name != "GetSystemDateAndTime" and not self.http_digest and not self.authorised(root):
            self.refused += 1
            return 400, _fault("NotAuthorized", "Sender not Authorized")
        handler = getattr(self, f"op_{name}", None)
        if handler is None:
            return 400, _fault("ActionNotSupported", f"{name} is not supported")
        try:
            return 200, envelope(handler(op, path))
        except LookupError as exc:
            return 400, _fault("InvalidArgVal", str(exc))

    def op_GetSystemDateAndTime(self, op: ET.Element, path: str) -> str:
        t = self.now()
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            f"<tt:UTCDateTime><tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}"
            f"</tt:Minute><tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}"
            f"</tt:Year><tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date>"
            "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def op_GetCapabilities(self, op: ET.Element, path: str) -> str:
        ptz = f"<tt:PTZ><tt:XAddr>{self.base}/onvif/ptz_service</tt:XAddr></tt:PTZ>"
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{self.url}</tt:XAddr></tt:Device>"
            f"<tt:Events><tt:XAddr>{self.base}/onvif/event_service</tt:XAddr>"
            "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
            "<tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events>"
            f"<tt:Media><tt:XAddr>{self.base}/onvif/media_service</tt:XAddr></tt:Media>"
            f"{ptz if self.has_ptz else ''}</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def op_GetDeviceInformation(self, op: ET.Element, path: str) -> str:
        return (
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>Vigil</tds:Manufacturer>"
            f"<tds:Model>{escape(self.name)}</tds:Model><tds:FirmwareVersion>1.0"
            "</tds:FirmwareVersion><tds:SerialNumber>SIM-0001</tds:SerialNumber>"
            "<tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>"
        )

    def op_GetProfiles(self, op: ET.Element, path: str) -> str:
        ptz = (
            '<tt:PTZConfiguration token="ptz0"><tt:Name>PTZ</tt:Name>'
            "<tt:NodeToken>node0</tt:NodeToken></tt:PTZConfiguration>"
        )
        body = "".join(
            f'<trt:Profiles token="{p.token}" fixed="true"><tt:Name>{p.name}</tt:Name>'
            f'<tt:VideoEncoderConfiguration token="vec-{p.token}"><tt:Name>{p.name}</tt:Name>'
            f"<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{p.width}</tt:Width>"
            f"<tt:Height>{p.height}</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration>"
            f"{ptz if self.has_ptz else ''}</trt:Profiles>"
            for p in self.profiles
        )
        return f"<trt:GetProfilesResponse>{body}</trt:GetProfilesResponse>"

    def _profile(self, op: ET.Element) -> SimProfile:
        token = text(op, "ProfileToken")
        found = next((p for p in self.profiles if p.token == token), None)
        if found is None:
            raise LookupError(f"no profile {token!r}")
        return found

    def op_GetStreamUri(self, op: ET.Element, path: str) -> str:
        uri = escape(self._profile(op).uri)
        return (
            f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{uri}</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false"
            "</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>"
            "</trt:GetStreamUriResponse>"
        )

    def _ptz_call(self, op: ET.Element, **args: str) -> None:
        self._profile(op)
        self.ptz_calls.append((local(op.tag), args))

    def op_ContinuousMove(self, op: ET.Element, path: str) -> str:
        pan_tilt, zoom = child(op, "Velocity", "PanTilt"), child(op, "Velocity", "Zoom")
        self._ptz_call(
            op,
            pan=pan_tilt.get("x", "0") if pan_tilt is not None else "0",
            tilt=pan_tilt.get("y", "0") if pan_tilt is not None else "0",
            zoom=zoom.get("x", "0") if zoom is not None else "0",
            timeout=text(op, "Timeout"),
        )
        return "<tptz:ContinuousMoveResponse/>"

    def op_Stop(self, op: ET.Element, path: str) -> str:
        self._ptz_call(op)
        return "<tptz:StopResponse/>"

    def op_GetPresets(self, op: ET.Element, path: str) -> str:
        self._profile(op)
        body = "".join(
            f'<tptz:Preset token="{t}"><tt:Name>{escape(n)}</tt:Name></tptz:Preset>'
            for t, n in self.presets.items()
        )
        return f"<tptz:GetPresetsResponse>{body}</tptz:GetPresetsResponse>"

    def op_GotoPreset(self, op: ET.Element, path: str) -> str:
        preset = text(op, "PresetToken")
        if preset not in self.presets:
            raise LookupError(f"no preset {preset!r}")
        self._ptz_call(op, preset=preset)
        return "<tptz:GotoPresetResponse/>"

    def op_CreatePullPointSubscription(self, op: ET.Element, path: str) -> str:
        sub = uuid.uuid4().hex[:12]
        with self._lock:
            self._queues[sub] = PullQueue()
        now = self.now()
        ends = now + timedelta(seconds=_seconds(text(op, "InitialTerminationTime"), 60))
        return (
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{self.base}/onvif/pullpoint/{sub}</wsa:Address>"
            f"</tev:SubscriptionReference><wsnt:CurrentTime>{_iso(now)}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{_iso(ends)}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>"
        )

    def _queue(self, path: str) -> PullQueue:
        with self._lock:
            q = self._queues.get(path.rpartition("/")[2])
        if q is None:
            raise LookupError("no such subscription")
        return q

    def op_PullMessages(self, op: ET.Element, path: str) -> str:
        q = self._queue(path)
        wait = min(_seconds(text(op, "Timeout"), 1), WAIT_CAP_S)
        with q.cond:
            q.cond.wait_for(lambda: bool(q.messages), timeout=wait)
            got, q.messages[:] = list(q.messages), []
        now = self.now()
        return (
            f"<tev:PullMessagesResponse><tev:CurrentTime>{_iso(now)}</tev:CurrentTime>"
            f"<tev:TerminationTime>{_iso(now + timedelta(seconds=60))}</tev:TerminationTime>"
            f"{''.join(got)}</tev:PullMessagesResponse>"
        )

    def op_Unsubscribe(self, op: ET.Element, path: str) -> str:
        self._queue(path)
        with self._lock:
            self._queues.pop(path.rpartition("/")[2], None)
        return "<wsnt:UnsubscribeResponse/>"

    # --- WS-Discovery -------------------------------------------------------------------------

    @staticmethod
    def _discovery_socket(host: str, port: int, multicast: bool) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if multicast:
            sock.bind(("", discovery.PORT))
            group = struct.pack("4s4s", socket.inet_aton(discovery.MULTICAST), bytes(4))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
        else:
            sock.bind((host, port))
        return sock

    def probe_matches(self, relates_to: str) -> bytes:
        scopes = " ".join(
            [
                "onvif://www.onvif.org/type/video_encoder",
                "onvif://www.onvif.org/Profile/Streaming",
                f"onvif://www.onvif.org/name/{self.name.replace(' ', '%20')}",
                "onvif://www.onvif.org/hardware/sim",
            ]
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{discovery.WSA}" '
            f'xmlns:d="{discovery.WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
            f"<s:Header><a:Action>{discovery.MATCHES_ACTION}</a:Action>"
            f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
            f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
            "<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference>"
            f"<a:Address>{self.endpoint}</a:Address></a:EndpointReference>"
            "<d:Types>dn:NetworkVideoTransmitter</d:Types>"
            f"<d:Scopes>{escape(scopes)}</d:Scopes><d:XAddrs>{self.url}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches>"
            "</s:Body></s:Envelope>"
        ).encode()

    def _answer_probes(self) -> None:
        assert self._udp is not None
        while True:
            try:
                data, sender = self._udp.recvfrom(discovery.MAX_DATAGRAM)
            except OSError:
                return  # closed
            try:
                root = ET.fromstring(data)
            except ET.ParseError:
                continue
            body = child(root, "Body")
            probe = child(body, "Probe")
            if probe is None:
                continue
            types = text(probe, "Types")
            if types and "NetworkVideoTransmitter" not in types:
                continue
            message_id = text(child(root, "Header"), "MessageID")
            try:
                self._udp.sendto(self.probe_matches(message_id), sender)
            except OSError:
                return


def main() -> None:
    import argparse
    import time

    ap = argparse.ArgumentParser(description="A simulated ONVIF camera (tests, manual checks).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="secret", help="a test password, never a real one")
    ap.add_argument("--main-uri", default="rtsp://127.0.0.1:8554/main")
    ap.add_argument("--sub-uri", default="rtsp://127.0.0.1:8554/sub")
    ap.add_argument("--multicast", action="store_true", help="answer probes on 239.255.255.250")
    ap.add_argument("--motion-every", type=float, default=0, help="toggle motion every N s")
    args = ap.parse_args()
    sim = SimulatedCamera(
        args.user,
        args.password,
        main_uri=args.main_uri,
        sub_uri=args.sub_uri,
        host=args.host,
        port=args.port,
        multicast=args.multicast,
    ).start()
    print(f"READY {sim.url} discovery port {sim.discovery_port}", flush=True)
    on = False
    try:
        while True:
            time.sleep(args.motion_every or 3600)
            if args.motion_every:
                on = not on
                sim.motion(on)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
