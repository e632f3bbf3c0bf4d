"""Clips on demand: the hub asks a site (real nats-servers, hub + leaf) for a clip of recorded
footage; the site cuts, redacts, signs and audits it, and the hub downloads it from the site's
object store. Errors: no footage, unknown camera, bad request, site offline."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.api.helpers import Footage, record_footage, site_yaml
from vigil.config import VigilConfig
from vigil.errors import InputError
from vigil.faces.engine import FaceEngine
from vigil.privacy.audit import AuditLog
from vigil.privacy.bundle import verify_export
from vigil.process import free_port
from vigil.store.db import Database
from vigil.sync.clips import (
    BUCKET,
    ClipNotFound,
    ClipRequest,
    SiteUnreachable,
    fetch_clip,
    use_face_engine,
)
from vigil.sync.commands import CommandContext
from vigil.sync.edge_agent import EdgeSync
from vigil.sync.server import NatsServer, ServerSpec, SiteLogin, connect_site, find_binary

from .test_edge_agent import await_leaf

pytestmark = pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
SITE = "north"
REASON = "incident 7: window broken"


@dataclass
class SiteAndHub:
    hub: NatsServer
    edge: EdgeSync
    config: VigilConfig
    db: Database
    footage: Footage


def site_config(data_dir: Path, video: Path, leaf_port: int) -> VigilConfig:
    doc = yaml.safe_load(site_yaml(data_dir, video))
    doc["sync"] = {
        "enabled": True,
        "site_id": SITE,
        "hub_url": f"nats-leaf://127.0.0.1:{leaf_port}",
        "password": "pw-north",
        "port": free_port(),
        "http_port": free_port(),
    }
    return VigilConfig.model_validate(doc)


@pytest.fixture(scope="module")
def recorded(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Footage:
    return record_footage(tmp_path_factory.mktemp("clips"), testdata / "video" / "vtest.avi", 4)


@pytest.fixture
def net(recorded: Footage, tmp_path: Path, engine: FaceEngine) -> Iterator[SiteAndHub]:
    data_dir = tmp_path / "var"
    shutil.copytree(recorded.data_dir, data_dir)
    leaf = free_port()
    hub = NatsServer(
        ServerSpec(
            "hub",
            tmp_path / "hub-js",
            free_port(),
            free_port(),
            "hub",
            leaf_port=leaf,
            sites=[SiteLogin(SITE, "pw-north")],
            hub_secret="hub-secret",
        ),
        tmp_path / "hub",
    )
    hub.start()
    cfg = site_config(data_dir, recorded.video, leaf)
    db = Database(cfg.storage.resolved_database_url())
    use_face_engine(CommandContext(db, cfg, data_dir), engine)
    edge = EdgeSync(cfg, db, data_dir)
    edge.start()
    try:
        assert edge.connected.wait(15) and await_leaf(hub)
        asyncio.run(await_answers(hub, SITE))
        yield SiteAndHub(hub, edge, cfg, db, recorded)
    finally:
        edge.stop()
        hub.stop()
        db.close()


async def await_answers(hub: NatsServer, site: str, timeout: float = 10) -> None:
    """Wait until the site's command subscription is known at the hub (interest crosses the
    leaf link a moment after the site subscribed)."""
    from nats.errors import NoRespondersError

    nc = await connect_site(hub.access, site)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await nc.request(f"vigil.{site}.cmd.ping", b"{}", timeout=2)
                return
            except NoRespondersError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


def _fetch(net: SiteAndHub, req: ClipRequest, dest: Path, timeout: float = 60):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        nc = await connect_site(net.hub.access, SITE)
        try:
            return await fetch_clip(nc, SITE, req, dest, timeout=timeout)
        finally:
            await nc.close()

    return asyncio.run(go())


def _bucket_names(net: SiteAndHub) -> list[str]:
    async def go() -> list[str]:
        import nats

        nc = await nats.connect(net.edge.nats_url)
        try:
            obs = await nc.jetstream().object_store(BUCKET)
            try:
                return [o.name for o in await obs.list(ignore_deletes=True)]
            except Exception:  # nats-py raises when the bucket is empty
                return []
        finally:
            await nc.close()

    return asyncio.run(go())


def test_hub_fetches_a_redacted_signed_clip_audited_at_the_site(
    net: SiteAndHub, tmp_path: Path
) -> None:
    f = net.footage
    req = ClipRequest("lobby", f.start, f.start + timedelta(seconds=2), REASON, "alice")
    clip = _fetch(net, req, tmp_path / "hub-clips")
    assert clip.path.is_file() and clip.redacted and clip.site == SITE
    with zipfile.ZipFile(clip.path) as z:
        names = sorted(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
    assert names[0].startswith("lobby-") and names[0].endswith("-redacted.mp4")
    assert manifest["reason"] == REASON and manifest["created_by"] == "alice via hub"
    assert manifest["details"]["redacted"] is True
    # the signature is the site's: it verifies against the site's key
    checks = verify_export(clip.path, data_dir=Path(net.config.storage.data_dir))
    assert checks and all(c.ok for c in checks)
    # the site audited the export (before cutting it), with the hub user and reason; the
    # object's name ties its record to the hub's
    rec = AuditLog.from_config(net.config).query(net.db, action="export")[0]
    assert rec.actor == "alice via hub" and rec.reason == REASON and rec.camera == "lobby"
    assert rec.details["object"] == clip.object and rec.details["redacted"] is True
    assert clip.audit_details()["object"] == clip.object and clip.sha256
    # fetched, so deleted at the site
    assert _bucket_names(net) == []


def test_clip_errors_are_clear_and_the_site_keeps_serving(net: SiteAndHub, tmp_path: Path) -> None:
    f = net.footage
    later = f.end + timedelta(hours=1)
    with pytest.raises(ClipNotFound, match="no"):
        _fetch(
            net, ClipRequest("lobby", later, later + timedelta(seconds=5), REASON, "al"), tmp_path
        )
    with pytest.raises(ClipNotFound, match="no camera 'attic'"):
        _fetch(net, ClipRequest("attic", f.start, f.end, REASON, "al"), tmp_path)
    with pytest.raises(InputError, match="reason"):
        _fetch(net, ClipRequest("lobby", f.start, f.end, " ", "al"), tmp_path)
    with pytest.raises(InputError, match="at most 15 minutes"):
        _fetch(
            net, ClipRequest("lobby", f.start, f.start + timedelta(hours=1), REASON, "al"), tmp_path
        )
    assert list(tmp_path.glob("*.zip")) == []
    # the site goes offline: a clear error at once, not a hang
    net.edge.stop()
    with pytest.raises(SiteUnreachable, match=f"site {SITE}"):
        _fetch(net, ClipRequest("lobby", f.start, f.end, REASON, "al"), tmp_path, timeout=5)


def test_clip_and_site_link_through_the_hub_api(net: SiteAndHub, tmp_path: Path) -> None:
    from tests.api.helpers import PASSWORD, Client
    from vigil.api import accounts
    from vigil.hub.app import create_hub_app
    from vigil.hub.config import HubConfig
    from vigil.hub.context import HubContext, create_hub_context
    from vigil.store.models.users import Role

    hub_dir = tmp_path / "hub-dir"
    hub_db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    ctx = create_hub_context(HubConfig(hub_dir=hub_dir), hub_db)
    accounts.create_user(hub_db, "op", PASSWORD, Role.operator, created_by="test")
    hub = HubContext(
        hub_dir,
        [SITE],
        connect=lambda site: connect_site(net.hub.access, site),
        monitor=net.hub.monitor,
        request_timeout_s=30,
    )
    op = Client(create_hub_app(ctx, hub, web=False)).login("op")
    try:
        (site,) = op.get("/api/v1/hub/sites").json()
        assert site["link"] == "up" and site["backlog_live"] and site["backlog"] >= 0
        f = net.footage
        url = f"/api/v1/hub/sites/{SITE}/cameras/lobby/clip"
        span = {"start": f.start.isoformat(), "end": (f.start + timedelta(seconds=2)).isoformat()}
        r = op.post(url, json={**span, "reason": REASON, "redact": False})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert r.headers["x-clip-redacted"] == "false" and r.headers["x-clip-site"] == SITE
        got = tmp_path / "got.zip"
        got.write_bytes(r.content)
        checks = verify_export(got, data_dir=Path(net.config.storage.data_dir))
        assert checks and all(c.ok for c in checks)
        assert list((hub_dir / "clips").iterdir()) == []  # handed over, not kept at the hub
        rec = AuditLog(hub_dir).query(hub_db, action="export")[0]  # the hub audits it too
        assert rec.actor == "op" and rec.reason == REASON and rec.camera == "lobby"
        assert rec.details["site"] == SITE and rec.details["redacted"] is False
        assert rec.details["sha256"] == hashlib.sha256(r.content).hexdigest()
        site_rec = AuditLog.from_config(net.config).query(net.db, action="export")[0]
        assert site_rec.actor == "op via hub" and site_rec.details["redacted"] is False

        later = (f.end + timedelta(hours=2)).isoformat()
        r = op.post(url, json={"start": later, "end": later[:-6] + "+01:00", "reason": REASON})
        assert r.status_code == 422  # end before start
        r = op.post(
            url,
            json={
                "start": later,
                "end": (f.end + timedelta(hours=3)).isoformat(),
                "reason": REASON,
            },
        )
        assert r.status_code == 422 and "at most 15 minutes" in r.json()["detail"]
        end = (f.end + timedelta(hours=2, minutes=1)).isoformat()
        r = op.post(url, json={"start": later, "end": end, "reason": REASON})
        assert r.status_code == 404 and "no" in r.json()["detail"]

        net.edge.stop()  # the site goes away: link down, clips refused with a clear error
        deadline = time.monotonic() + 10
        while op.get("/api/v1/hub/sites").json()[0]["link"] != "down":
            assert time.monotonic() < deadline, "the hub still shows the site linked"
            time.sleep(0.2)
        r = op.post(url, json={**span, "reason": REASON})
        assert r.status_code == 504 and f"site {SITE}" in r.json()["detail"]
    finally:
        hub_db.close()


def test_cli_hub_clip(net: SiteAndHub, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from vigil.cli import run

    hub_dir = tmp_path / "hub-cli"
    hub_dir.mkdir()
    (hub_dir / "hub.secret").write_text("hub-secret")  # the test hub's secret
    f = net.footage
    hub_yaml = tmp_path / "hub.yaml"
    hub_yaml.write_text(f"hub_dir: {hub_dir}\nnats:\n  port: {net.hub.spec.port}\n", "utf-8")
    base = ["--data-dir", str(tmp_path / "cli"), "hub", "--hub-config", str(hub_yaml)]
    base += ["clip", SITE, "lobby"]
    span = ["--from", f.start.isoformat(), "--to", (f.start + timedelta(seconds=2)).isoformat()]
    assert run([*base, *span, "--out", str(tmp_path / "out")]) != 0
    assert "reason" in capsys.readouterr().err
    assert (
        run([*base, *span, "--reason", REASON, "--no-redact", "--out", str(tmp_path / "out")]) == 0
    )
    (got,) = (tmp_path / "out").glob("*.zip")
    assert str(got) in capsys.readouterr().out.replace("\n", "")
    assert all(c.ok for c in verify_export(got, data_dir=Path(net.config.storage.data_dir)))
    hub_db = Database(f"sqlite:///{hub_dir / 'hub.db'}")
    try:
        rec = AuditLog(hub_dir).query(hub_db, action="export")[0]
        assert rec.reason == REASON and rec.details["site"] == SITE and rec.source == "cli"
    finally:
        hub_db.close()
    later = (f.end + timedelta(hours=1)).isoformat()
    late = ["--from", later, "--to", (f.end + timedelta(hours=1, seconds=9)).isoformat()]
    assert run([*base, *late, "--reason", REASON]) != 0
    assert "no" in capsys.readouterr().err
