"""WS-Discovery: find ONVIF cameras by sending a Probe for NetworkVideoTransmitter and collecting
the ProbeMatches that answer it, for `timeout_s`.

By default the Probe goes to the multicast group 239.255.255.250:3702 (the local network); any
other address is probed directly (a camera in another subnet, or the test simulator on loopback).
Answers are matched to our Probe by RelatesTo and merged by endpoint address.
"""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from vigil.onvif.soap import OnvifError, child, descendants, parse, text

MULTICAST = "239.255.255.250"
PORT = 3702
MAX_DATAGRAM = 65535

WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
PROBE_ACTION = f"{WSD}/Probe"
MATCHES_ACTION = f"{WSD}/ProbeMatches"


@dataclass(frozen=True)
class Found:
    """One camera that answered: its endpoint id, service addresses and what its scopes say."""

    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]
    types: tuple[str, ...]

    def scope(self, kind: str) -> str:
        """The value of an `onvif://www.onvif.org/<kind>/<value>` scope ('' if none)."""
        prefix = f"onvif://www.onvif.org/{kind}/"
        return next((unquote(s[len(prefix) :]) for s in self.scopes if s.startswith(prefix)), "")

    @property
    def name(self) -> str:
        return self.scope("name")

    @property
    def hardware(self) -> str:
        return self.scope("hardware")

    @property
    def host(self) -> str:
        return (urlsplit(self.xaddrs[0]).hostname or "") if self.xaddrs else ""

    def as_dict(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "name": self.name,
            "hardware": self.hardware,
            "host": self.host,
            "xaddrs": list(self.xaddrs),
            "scopes": list(self.scopes),
        }


def probe_message(message_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:a="{WSA}" xmlns:d="{WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f"<s:Header><a:Action>{PROBE_ACTION}</a:Action><a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{WSA}/role/anonymous</a:Address></a:ReplyTo>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def parse_matches(data: bytes, message_id: str) -> list[Found]:
    """The ProbeMatch entries of one answer to our Probe (none if it answers another)."""
    try:
        root = parse(data)
    except OnvifError:
        return []  # someone else's noise on the group
    header = child(root, "Header")
    if text(header, "RelatesTo") != message_id:
        return []
    out = []
    for m in descendants(root, "ProbeMatch"):
        endpoint = text(m, "EndpointReference", "Address")
        # IPv4 addresses first: a camera often lists its IPv6 link-local address too
        xaddrs = tuple(sorted(text(m, "XAddrs").split(), key=lambda a: "[" in a))
        if not xaddrs:
            continue
        out.append(
            Found(
                endpoint or xaddrs[0],
                xaddrs,
                tuple(text(m, "Scopes").split()),
                tuple(t.rpartition(":")[2] for t in text(m, "Types").split()),
            )
        )
    return out


def discover(address: str = MULTICAST, port: int = PORT, timeout_s: float = 2.0) -> list[Found]:
    """Cameras that answer a Probe within `timeout_s`, in the order they answered."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    found: dict[str, Found] = {}
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
            sock.bind(("", 0))
            sock.sendto(probe_message(message_id), (address, port))
            deadline = time.monotonic() + timeout_s
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data, _ = sock.recvfrom(MAX_DATAGRAM)
                except TimeoutError:
                    break
                for f in parse_matches(data, message_id):
                    found.setdefault(f.endpoint, f)
    except OSError as exc:
        raise OnvifError(f"cannot send a WS-Discovery probe to {address}:{port}: {exc}") from exc
    return list(found.values())
