"""Clips on demand: video stays on the edge; the hub asks a site for a clip when a user wants one.

1. The hub sends `vigil.<site>.cmd.clip` (camera, range, reason, who; through `connect_site`).
2. The site audits it in its own audit log as `export` by "<who> via hub" (the same record as
   any export), then cuts it with the export core (`exports.core`, as `vigil export` and the
   site's API do): redacted by default (every face pixelated, privacy masks blacked out), the
   manifest signed by the site key; and puts the ZIP into the JetStream object store
   `VIGIL_CLIPS` in its own domain (a bucket with a TTL, so an unfetched clip does not stay on
   the site). The object's name is in both the site's and the hub's audit records.
3. The hub reads the object through the site's domain (`$JS.<site>.API`), checks its SHA-256
   against the reply, deletes the object at the site and hands the ZIP to the user.

Why an object store rather than chunked request/replies: the clip can be megabytes while one
NATS message is at most 1 MB, and JSON replies would need base64; the object store chunks,
checks a digest, survives a link that drops between the reply and the download (the hub just
asks for the object again), and its TTL cleans up after a hub that never came back for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vigil.errors import InputError, NotFoundError, VigilError
from vigil.sync.commands import CommandContext, register, subject

BUCKET = "VIGIL_CLIPS"
CLIP_TTL_S = 3600.0  # an unfetched clip is dropped by the site's server after this
BUCKET_MAX_BYTES = 2 * 1024**3
MAX_SPAN = timedelta(minutes=15)  # one request; longer footage is asked for in parts
REQUEST_TIMEOUT_S = 120.0  # cutting and redacting a long clip on a small edge box takes a while

_cutting = threading.BoundedSemaphore(2)  # clips cut at once on a site (CPU-bound redaction)
_engines: dict[str, Any] = {}  # the site's face engine for redaction, loaded on first clip
_engine_lock = threading.Lock()


class SiteUnreachable(VigilError):
    """The site did not answer: its link to the hub is down, or it is switched off."""


class ClipNotFound(NotFoundError):
    """The site has no footage of that camera in that range, or no such camera."""


@dataclass(frozen=True)
class ClipRequest:
    camera: str
    start: datetime
    end: datetime
    reason: str
    who: str
    redact: bool = True

    def validated(self) -> ClipRequest:
        if not self.reason.strip():
            raise InputError("a clip needs a reason (it is written to the site's audit log)")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InputError("start and end need a time zone (e.g. 2026-01-01T10:00:00Z)")
        if self.end <= self.start:
            raise InputError("end must be after start")
        if self.end - self.start > MAX_SPAN:
            minutes = int(MAX_SPAN.total_seconds() // 60)
            raise InputError(f"a clip can span at most {minutes} minutes; ask for it in parts")
        return self

    def body(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "reason": self.reason,
            "who": self.who,
            "redact": self.redact,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ClipRequest:
        try:
            req = cls(
                camera=str(body["camera"]),
                start=datetime.fromisoformat(str(body["start"])),
                end=datetime.fromisoformat(str(body["end"])),
                reason=str(body.get("reason") or ""),
                who=str(body.get("who") or ""),
                redact=bool(body.get("redact", True)),
            )
        except KeyError as exc:
            raise InputError(f"clip request without {exc.args[0]!r}") from exc
        except ValueError as exc:
            raise InputError(f"clip request: {exc}") from exc
        if not req.who:
            raise InputError("clip request without the hub user's name ('who')")
        return req.validated()


@dataclass(frozen=True)
class FetchedClip:
    site: str
    path: Path  # the ZIP (clip + manifest.json)
    clip_name: str
    sha256: str
    size: int
    start: datetime
    end: datetime
    redacted: bool
    manifest_sha256: str
    object: str = ""  # its name in the site's object store (in the site's audit record too)

    def audit_details(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "object": self.object,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "redacted": self.redacted,
            "bytes": self.size,
            "sha256": self.sha256,
            "manifest_sha256": self.manifest_sha256,
        }


# --- the site ---


def _face_engine(ctx: CommandContext) -> Any:
    from vigil.faces.engine import FaceEngine

    key = ctx.config.faces.model_dump_json()
    with _engine_lock:
        if key not in _engines:
            _engines[key] = FaceEngine(ctx.config.faces)
        return _engines[key]


def use_face_engine(ctx: CommandContext, engine: Any) -> None:
    """Use an already loaded engine for this site's clips (tests, `vigil serve`)."""
    with _engine_lock:
        _engines[ctx.config.faces.model_dump_json()] = engine


def _local_url(ctx: CommandContext) -> str:
    sync = ctx.config.sync
    return f"nats://{sync.host}:{sync.port}"


async def _put_object(url: str, name: str, path: Path) -> None:
    import nats
    from nats.js.api import ObjectStoreConfig, StorageType

    nc = await nats.connect(url, max_reconnect_attempts=2, connect_timeout=5)
    try:
        js = nc.jetstream()
        try:
            obs = await js.object_store(BUCKET)
        except Exception:  # first clip at this site: make the bucket
            obs = await js.create_object_store(
                BUCKET,
                config=ObjectStoreConfig(
                    description="clips the hub asked for (fetched, then deleted)",
                    ttl=CLIP_TTL_S,
                    max_bytes=BUCKET_MAX_BYTES,
                    storage=StorageType.FILE,
                ),
            )
        with path.open("rb") as f:
            await obs.put(name, f)
    finally:
        await nc.close()


@register("clip")
def handle_clip(ctx: CommandContext, body: dict[str, Any]) -> dict[str, Any]:
    """Audit the clip here, then cut, redact, sign and zip it (the export core, as `vigil
    export` and the API do) and leave it in the site's object store."""
    from vigil.camera.export import NoFootageError
    from vigil.exports.core import ExportRequest, ExportSite, audit_export, export_bundle
    from vigil.privacy.audit import AuditLog
    from vigil.privacy.manifest import sha256_file

    req = ClipRequest.from_body(body)
    cam = next((c for c in ctx.config.cameras if c.name == req.camera), None)
    if cam is None:
        return {"not_found": f"site {ctx.site} has no camera {req.camera!r}"}
    export = ExportRequest.of(
        cam,
        req.start,
        req.end,
        actor=f"{req.who} via hub",
        reason=req.reason,
        redact=req.redact,
        via="hub",
    ).checked()
    name = f"{uuid.uuid4()}.zip"
    # before any footage is cut, like every export; the object names it for the hub's record
    audit_export(
        AuditLog.from_config(ctx.config),
        ctx.db,
        export,
        source="hub",
        role="hub",
        extra={"object": name},
    )
    site = ExportSite(ctx.config, ctx.db, lambda: _face_engine(ctx))
    try:
        with _cutting:
            bundle = export_bundle(site, export)
    except NoFootageError as exc:
        return {"not_found": f"site {ctx.site}: {exc}"}
    try:
        digest = sha256_file(bundle.zip)
        size = bundle.zip.stat().st_size
        asyncio.run(_put_object(_local_url(ctx), name, bundle.zip))
    finally:
        shutil.rmtree(bundle.folder, ignore_errors=True)
    return {
        "bucket": BUCKET,
        "object": name,
        "clip_name": bundle.zip.name,
        "size": size,
        "sha256": digest,
        "start": bundle.result.start.isoformat(),
        "end": bundle.result.end.isoformat(),
        "redacted": bundle.redacted,
        "manifest_sha256": bundle.manifest_sha256,
    }


# --- the hub ---


async def fetch_clip(
    nc: Any, site: str, req: ClipRequest, dest_dir: Path, *, timeout: float = REQUEST_TIMEOUT_S
) -> FetchedClip:
    """Ask `site` (through `nc`, a `connect_site` connection) for a clip and download it into
    `dest_dir`. Raises `SiteUnreachable`, `ClipNotFound`, `InputError`, or `VigilError`."""
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    req = req.validated()
    try:
        msg = await nc.request(subject(site, "clip"), json.dumps(req.body()).encode(), timeout)
    except NoRespondersError as exc:
        raise SiteUnreachable(f"site {site} is offline (nothing answers on its link)") from exc
    except (NatsTimeout, TimeoutError) as exc:
        raise SiteUnreachable(f"site {site} did not answer within {timeout:g} s") from exc
    reply = json.loads(msg.data)
    if not reply.get("ok"):
        raise VigilError(f"site {site} refused the clip: {reply.get('error', 'no reason given')}")
    if "not_found" in reply:
        raise ClipNotFound(reply["not_found"])
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{site}-{reply['clip_name']}"
    obs = await nc.jetstream(domain=site).object_store(reply["bucket"])
    try:
        with path.open("wb") as f:
            await asyncio.wait_for(obs.get(reply["object"], writeinto=f), timeout)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != reply["sha256"]:
            raise VigilError(f"the clip from site {site} arrived damaged (SHA-256 differs)")
    except BaseException as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, (NatsTimeout, TimeoutError)):
            raise SiteUnreachable(f"site {site}: the link dropped while fetching the clip") from exc
        raise
    with contextlib.suppress(Exception):  # the bucket's TTL removes it otherwise
        await obs.delete(reply["object"])
    return FetchedClip(
        site=site,
        path=path,
        clip_name=reply["clip_name"],
        sha256=digest,
        size=path.stat().st_size,
        start=datetime.fromisoformat(reply["start"]).astimezone(UTC),
        end=datetime.fromisoformat(reply["end"]).astimezone(UTC),
        redacted=bool(reply["redacted"]),
        manifest_sha256=reply["manifest_sha256"],
        object=reply["object"],
    )
