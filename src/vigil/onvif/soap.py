"""SOAP 1.2 over HTTP for ONVIF: an envelope with a WS-Security UsernameToken (password digest),
and HTTP Digest as well for a device that asks for it with a 401,
posted with httpx (never through a proxy from the environment: cameras are on the local network);
the answer's body element, or a clear error.

Answers are read by local element names (`child`, `descendants`), because cameras differ in the
prefixes and schema versions they use. A response is capped at `MAX_RESPONSE` bytes and parsed by
ElementTree, which fetches no external entities (expat also refuses entity expansion bombs).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import httpx

from vigil.errors import InputError, VigilError

MAX_RESPONSE = 2 * 1024 * 1024

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "tt": "http://www.onvif.org/ver10/schema",
}
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
XMLNS = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every call (making one costs ~0.1 s: httpx's default per client)."""
    return ssl.create_default_context()


class OnvifError(VigilError):
    """The device could not be reached, or answered with a fault."""


class OnvifAuthError(InputError):
    """The device refused the user name or password."""


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def child(el: ET.Element | None, *names: str) -> ET.Element | None:
    """The first element down the path of local `names` (direct children at each step)."""
    for name in names:
        if el is None:
            return None
        el = next((c for c in el if local(c.tag) == name), None)
    return el


def descendants(el: ET.Element, name: str) -> Iterator[ET.Element]:
    return (e for e in el.iter() if local(e.tag) == name)


def text(el: ET.Element | None, *names: str) -> str:
    found = child(el, *names)
    return (found.text or "").strip() if found is not None else ""


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + created + password)), the UsernameToken profile's digest."""
    raw = hashlib.sha1(nonce + created.encode() + password.encode(), usedforsecurity=False)
    return base64.b64encode(raw.digest()).decode()


def security_header(username: str, password: str, now: datetime) -> str:
    nonce = os.urandom(16)
    created = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return (
        '<wsse:Security s:mustUnderstand="1"><wsse:UsernameToken>'
        f"<wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_DIGEST}">'
        f"{password_digest(nonce, created, password)}</wsse:Password>"
        f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}'
        f"</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, header: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {XMLNS}>'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def parse(data: bytes) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise OnvifError(f"the device answered with XML that cannot be read: {exc}") from exc


def fault_of(root: ET.Element) -> tuple[str, str] | None:
    """(innermost subcode, reason) of a SOAP fault, or None."""
    fault = next(descendants(root, "Fault"), None)
    if fault is None:
        return None
    codes = [(v.text or "").strip() for v in descendants(fault, "Value")]
    reason = next((t.text or "" for t in descendants(fault, "Text")), "") or text(
        fault, "faultstring"
    )
    return (codes[-1].rpartition(":")[2] if codes else ""), reason.strip()


class SoapClient:
    """Calls one device's services as one user. `clock_offset` (device time minus ours) is
    added to the token's time: devices refuse tokens created too far from their clock."""

    def __init__(
        self,
        username: str = "",
        password: str = "",
        *,
        timeout_s: float = 5.0,
        clock_offset: timedelta = timedelta(0),
    ) -> None:
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.clock_offset = clock_offset
        self.http_digest = False  # the device asked for HTTP Digest too (some do)

    def call(
        self,
        url: str,
        body: str,
        *,
        auth: bool = True,
        header: str = "",
        timeout_s: float | None = None,
    ) -> ET.Element:
        """POST one operation; return the Body's first element. A fault that says the
        credentials were refused raises OnvifAuthError; any other, OnvifError."""
        if auth and self.username:
            header = security_header(self.username, self.password, self.now()) + header
        data = self._post(url, envelope(body, header), timeout_s or self.timeout_s)
        root = parse(data)
        fault = fault_of(root)
        if fault is not None:
            code, reason = fault
            if code in ("NotAuthorized", "FailedAuthentication", "InvalidSecurity"):
                raise OnvifAuthError(
                    f"the camera at {url} refused the user name or password",
                    hint="check the camera's ONVIF user (often not the web login) and password",
                )
            raise OnvifError(f"the camera at {url} answered with a fault: {code} {reason}".strip())
        answer = child(root, "Body")
        if answer is None or len(answer) == 0:
            raise OnvifError(f"the camera at {url} answered without a SOAP body")
        return answer[0]

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def _post(self, url: str, payload: bytes, timeout_s: float) -> bytes:
        headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
        digest = self.http_digest and self.username
        auth = httpx.DigestAuth(self.username, self.password) if digest else None
        try:
            with (
                httpx.Client(
                    timeout=timeout_s, verify=_tls(), follow_redirects=False, trust_env=False
                ) as http,
                http.stream("POST", url, content=payload, headers=headers, auth=auth) as r,
            ):
                challenge = r.headers.get("WWW-Authenticate", "")
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE:
                        raise OnvifError(f"the answer from {url} is over {MAX_RESPONSE} bytes")
                    chunks.append(chunk)
                status = r.status_code
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: bad IDNA
            raise OnvifError(f"cannot reach the camera at {url}: {exc}") from exc
        data = b"".join(chunks)
        asks_digest = challenge.lower().startswith("digest")
        if status == 401 and asks_digest and not digest and self.username:
            self.http_digest = True
            return self._post(url, payload, timeout_s)
        if status == 401 and not data.strip().startswith(b"<"):
            raise OnvifAuthError(
                f"the camera at {url} refused the user name or password (HTTP 401)",
                hint="check the camera's ONVIF user (often not the web login) and password",
            )
        if status >= 400 and b"Fault" not in data:
            raise OnvifError(f"the camera at {url} answered HTTP {status}")
        return data
