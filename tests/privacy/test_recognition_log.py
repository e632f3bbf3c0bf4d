"""The recognition log (AI Act Art. 12(3)): a live run of the edge node with recognition on
logs its period and its match; a dead process's period is closed at the next start; the log
is read back by the CLI and the API, exported signed, survives snapshot retention, and the
config refuses an audit retention under six months while recognition is on."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
import yaml
from sqlalchemy import select

from tests.api.helpers import PASSWORD, client_for
from vigil.api import ApiContext, accounts
from vigil.cli import run
from vigil.config import VigilConfig, load_config
from vigil.demo.assets import door_clip
from vigil.errors import ConfigError
from vigil.events.watchlists import add_to_watchlist, create_watchlist
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, check_photos
from vigil.node import EdgeNode
from vigil.privacy.audit import Action, AuditLog
from vigil.privacy.data_retention import run_privacy_retention
from vigil.privacy.recognition_log import RecognitionLog, gallery_state
from vigil.privacy.recognition_report import SNAPSHOT_RETAINED_OUT, recognition_report
from vigil.store.db import Database
from vigil.store.models import (
    AuditRecord,
    Event,
    LegalBasis,
    Person,
    Template,
    WatchAction,
)
from vigil.store.models.recognition import RecognitionPeriod
from vigil.store.models.users import Role

pytestmark = pytest.mark.timeout(180)


@dataclass
class LiveSite:
    config: VigilConfig
    config_path: Path
    db: Database
    data_dir: Path
    model: str
    started: datetime
    stopped: datetime


def _site_yaml(data_dir: Path, clip: Path) -> dict:
    return {
        "site": {"name": "recognition log test"},
        "storage": {"data_dir": str(data_dir)},
        "privacy": {
            "face_recognition_enabled": True,
            "face_recognition_purpose": "test: recognise the enrolled person",
            "legal_basis": "consent",
        },
        "cameras": [
            {
                "name": "door",
                "url": str(clip),
                "loop": True,
                "segment_seconds": 4,
                "purpose": "test: staff entrance",
                "field_of_view": "the door from inside",
                "publicly_accessible": False,
            }
        ],
    }


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, faces_dir: Path, engine: FaceEngine
) -> Iterator[LiveSite]:
    """The edge node run on a door clip with an enrolled, watch-listed face until the face is
    matched, then stopped."""
    root = tmp_path_factory.mktemp("recognition")
    obama = cv2.imread(str(faces_dir / "obama2.jpg"))
    clip = door_clip(root / "door.mp4", obama[100:700, 150:650], None)
    data_dir = root / "var"
    config_path = root / "vigil.yaml"
    config_path.write_text(yaml.safe_dump(_site_yaml(data_dir, clip)))
    cfg = load_config(config_path)
    db = Database(cfg.storage.resolved_database_url())
    gallery = Gallery(db, engine.model_name)
    photos = check_photos(engine, [faces_dir / "obama.jpg"])
    gallery.enroll("obama", photos, legal_basis=LegalBasis.consent, enrolled_by="test")
    create_watchlist(db, "staff", WatchAction.notify)
    add_to_watchlist(db, "staff", gallery.people()[0].id)
    node = EdgeNode(cfg, db, engine)
    node.recognition_heartbeat_s = 0.5
    started = datetime.now(UTC)
    node.start()
    try:
        deadline = time.monotonic() + 60
        found = False
        while time.monotonic() < deadline and not found:
            time.sleep(0.5)
            with db.session() as s:
                found = (
                    s.scalar(
                        select(AuditRecord.seq).where(
                            AuditRecord.action == Action.recognition_match.value
                        )
                    )
                    is not None
                )
        assert found, "no recognition_match record while the enrolled face was in view"
        time.sleep(1.0)  # a heartbeat or two
    finally:
        node.stop()
    yield LiveSite(cfg, config_path, db, data_dir, engine.model_name, started, datetime.now(UTC))
    db.close()


def _records(db: Database, action: Action) -> list[AuditRecord]:
    with db.session() as s:
        q = select(AuditRecord).where(AuditRecord.action == action.value)
        return list(s.scalars(q.order_by(AuditRecord.seq)))


def test_a_live_run_logs_its_period_and_match(live: LiveSite) -> None:
    with live.db.session() as s:
        periods = list(s.scalars(select(RecognitionPeriod)))
        state = gallery_state(s, live.model)
        event = s.scalars(select(Event).where(Event.kind == "known_person")).first()
    assert len(periods) == 1
    p = periods[0]
    assert p.camera == "door" and p.ended_by == "stopped"
    assert live.started <= p.started_at < p.ended_at <= live.stopped
    assert p.last_seen_at > p.started_at  # the heartbeat ran
    assert p.gallery_hash == state.hash and len(p.gallery_hash) == 64
    assert (p.templates, p.people) == (1, 1)
    assert p.watchlists == [{"name": "staff", "action": "notify", "people": 1}]
    assert p.model == live.model and 0 < p.threshold < 1
    start, stop = (
        _records(live.db, Action.recognition_start),
        _records(live.db, Action.recognition_stop),
    )
    assert [r.seq for r in start] == [p.start_seq] and [r.seq for r in stop] == [p.stop_seq]
    assert start[0].details["gallery"]["hash"] == p.gallery_hash
    assert stop[0].details["ended_by"] == "stopped" and stop[0].camera == "door"

    assert event is not None
    matches = _records(live.db, Action.recognition_match)
    assert len(matches) == 1, "one match record per named event"
    m = matches[0]
    d = m.details
    assert m.target_id == event.uid == d["event"] and m.person == str(event.person_id)
    assert d["period"] == p.id and d["gallery_hash"] == p.gallery_hash
    assert d["model"] == live.model and d["threshold"] == p.threshold
    assert d["band"] in ("28-40 px", "40+ px")  # the face-size band that named them (0073)
    assert d["score"] >= d["threshold"] and d["watchlists"] == ["staff"]
    assert d["snapshot"] == event.snapshot
    # the picture at the time of the match (completing the event may store a better one)
    jpeg = (live.data_dir / event.snapshot).read_bytes()
    state = recognition_report(live.db, data_dir=live.data_dir).matches[0].snapshot_state
    same = d["snapshot_sha256"] == hashlib.sha256(jpeg).hexdigest()
    assert len(d["snapshot_sha256"]) == 64 and state == ("kept" if same else "replaced")
    assert AuditLog.from_config(live.config).verify(live.db).ok


def test_restart_closes_a_dangling_period_and_a_gallery_change_starts_a_new_one(
    db: Database, audit: AuditLog, data_dir: Path
) -> None:
    log = RecognitionLog(db, audit, model="m", threshold=0.5)
    log.started("gate")
    first = log.period_of("gate")
    create_watchlist(db, "vip", WatchAction.alert)  # the reference database changed
    log.heartbeat()
    second = log.period_of("gate")
    assert first is not None and second is not None and second != first
    with db.session() as s:
        a, b = s.get(RecognitionPeriod, first), s.get(RecognitionPeriod, second)
        assert a is not None and b is not None
        assert a.ended_by == "gallery_changed" and a.gallery_hash != b.gallery_hash
        assert b.watchlists == [{"name": "vip", "action": "alert", "people": 0}]
    log.reloaded("gate")  # the matcher was rebuilt, but the gallery is the same: no change
    assert log.period_of("gate") == second
    log.heartbeat()
    with db.session() as s:
        beat = s.get(RecognitionPeriod, second)
        assert beat is not None
        last_seen = beat.last_seen_at
    with db.session() as s:  # someone is enrolled: the matcher is rebuilt
        person = Person(name="ada", created_by="test")
        person.templates.append(
            Template(embedding=bytes(512), model="m", image_sha256="0" * 64, quality=0.9,
                     legal_basis=LegalBasis.consent, enrolled_by="test")
        )  # fmt: skip
        s.add(person)
    log.reloaded("gate")
    third = log.period_of("gate")
    assert third not in (None, second)
    with db.session() as s:
        enrolled = s.get(RecognitionPeriod, third)
        assert enrolled is not None and (enrolled.templates, enrolled.people) == (1, 1)
        assert s.get(RecognitionPeriod, second).ended_by == "gallery_changed"
    log.heartbeat()
    second = third
    with db.session() as s:
        last_seen = s.get(RecognitionPeriod, second).last_seen_at
    del log  # the process dies: no stop
    after = RecognitionLog(db, audit, model="m", threshold=0.5)
    assert after.close_dangling() == 1
    with db.session() as s:
        closed = s.get(RecognitionPeriod, second)
        assert closed is not None
        assert closed.ended_by == "restart" and closed.ended_at == last_seen
    stop = _records(db, Action.recognition_stop)[-1]
    assert stop.seq == closed.stop_seq and stop.details["ended_by"] == "restart"
    assert after.close_dangling() == 0
    assert audit.verify(db).ok


def test_cli_and_api_show_periods_and_matches_with_verifiers(
    live: LiveSite, engine: FaceEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = _records(live.db, Action.recognition_match)[0].target_id
    audit = AuditLog.from_config(live.config)
    for who, verdict in (("alice", "confirm"), ("bob", "confirm")):
        audit.record(
            live.db,
            actor=who,
            role="operator",
            action=Action.match_verify,
            target=("event", uid),
            reason="compared with the enrolment photo",
            details={"event": uid, "verdict": verdict},
        )
    code = run(["-c", str(live.config_path), "audit", "show", "--kind", "recognition", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["periods"]) == 1 and len(out["matches"]) == 1
    match = out["matches"][0]
    assert match["event"] == uid and match["person"] == "obama"
    assert [(v["actor"], v["verdict"]) for v in match["verified_by"]] == [
        ("alice", "confirm"),
        ("bob", "confirm"),
    ]
    assert match["snapshot_state"] in ("kept", "replaced")
    # filtered out by camera and by time
    run(["-c", str(live.config_path), "audit", "show", "--kind", "recognition", "--json",
         "--camera", "yard"])  # fmt: skip
    assert json.loads(capsys.readouterr().out) == {
        "camera": "yard", "since": None, "until": None, "periods": [], "matches": []
    }  # fmt: skip
    run(["-c", str(live.config_path), "audit", "show", "--kind", "recognition", "--json",
         "--person", "nobody-enrolled"])  # fmt: skip
    assert json.loads(capsys.readouterr().out)["matches"] == []
    assert run(["-c", str(live.config_path), "audit", "show", "--kind", "recognition",
                "--person", "obama"]) == 0  # fmt: skip
    table = capsys.readouterr().out
    assert "door" in table and "alice: confirm" in table

    ctx = ApiContext(live.config, live.db, engine=engine)
    for role in ("auditor", "operator"):
        accounts.create_user(live.db, role, PASSWORD, Role(role), created_by="test")
    later = (live.stopped + timedelta(hours=1)).isoformat()
    r = client_for(ctx, "auditor").get(
        "/api/v1/audit/recognition", params={"camera": "door", "until": later}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["camera"] for p in body["periods"]] == ["door"]
    assert body["matches"][0]["verified_by"][1]["actor"] == "bob"
    assert body["matches"][0]["threshold"] == body["periods"][0]["threshold"]
    early = client_for(ctx, "auditor").get(
        "/api/v1/audit/recognition", params={"until": live.started.isoformat()}
    )
    assert early.json()["periods"] == [] and early.json()["matches"] == []
    assert client_for(ctx, "operator").get("/api/v1/audit/recognition").status_code == 403
    assert _records(live.db, Action.view_audit)[-1].details["kind"] == "recognition"


def test_export_is_signed_audited_and_a_change_shows(
    live: LiveSite, engine: FaceEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(live.config_path)
    since = (live.started - timedelta(minutes=1)).isoformat()
    until = (live.stopped + timedelta(hours=1)).isoformat()
    reason = "request of the supervisory authority, ref. 2026-7"
    code = run(["-c", cfg, "audit", "export", "--kind", "recognition", "--since", since,
                "--until", until, "-o", str(tmp_path), "--reason", reason, "--json"])  # fmt: skip
    assert code == 0
    doc_path = Path(json.loads(capsys.readouterr().out)["document"])
    doc = json.loads(doc_path.read_text())
    assert doc["format"] == "vigil-recognition-log/1" and len(doc["periods"]) == 1
    assert doc["matches"][0]["score"] >= doc["matches"][0]["threshold"]
    chain = doc["chain"]
    seqs = [r["seq"] for r in doc["audit_records"]]
    assert chain["first_seq"] == seqs[0] and chain["last_seq"] == seqs[-1]
    assert chain["checkpoint"]["covers_export"]
    with live.db.session() as s:  # the exported records are the chain's, hashes and all
        stored = {
            r.seq: r.hash for r in s.scalars(select(AuditRecord).where(AuditRecord.seq.in_(seqs)))
        }
    assert {r["seq"]: r["hash"] for r in doc["audit_records"]} == stored
    exported = _records(live.db, Action.export)[-1]
    assert exported.reason == reason and exported.target_kind == "recognition_log"

    pubkey = tmp_path / "site.pem"
    assert run(["-c", cfg, "audit", "pubkey", "--out", str(pubkey)]) == 0
    assert run(["-c", cfg, "export", "verify", str(doc_path), "--pubkey", str(pubkey)]) == 0
    doc["matches"][0]["score"] = 0.99  # an edited score
    doc_path.write_text(json.dumps(doc, indent=2))
    capsys.readouterr()
    verify = ["-c", cfg, "export", "verify", str(doc_path), "--pubkey", str(pubkey), "--json"]
    assert run(verify) == 4
    problems = json.loads(capsys.readouterr().out)["manifests"][0]["problems"]
    assert any("SHA-256 differs" in p for p in problems)

    # The same export from the API, as a bundle ZIP, for an auditor who states a reason.
    ctx = ApiContext(live.config, live.db, engine=engine)
    accounts.create_user(live.db, "inspector", PASSWORD, Role.auditor, created_by="test")
    api = client_for(ctx, "inspector")
    body = {"since": since, "until": until, "camera": "door", "reason": ""}
    assert api.post("/api/v1/audit/recognition/export", json=body).status_code in (400, 422)
    r = api.post("/api/v1/audit/recognition/export", json={**body, "reason": reason})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    bundle = tmp_path / "from-api.zip"
    bundle.write_bytes(r.content)
    capsys.readouterr()
    assert run(["-c", cfg, "export", "verify", str(bundle), "--json"]) == 0
    assert _records(live.db, Action.export)[-1].actor == "inspector"
    assert AuditLog.from_config(live.config).verify(live.db).ok


def test_match_records_outlive_snapshot_retention(live: LiveSite) -> None:
    later = datetime.now(UTC) + timedelta(days=live.config.privacy.snapshot_retention_days + 1)
    r = run_privacy_retention(live.db, live.config, now=later)
    assert r.events_deleted + r.snapshots_cleared >= 1 and r.recognition_periods_deleted == 0
    report = recognition_report(live.db, data_dir=live.data_dir)
    assert len(report.periods) == 1 and len(report.matches) == 1
    assert report.matches[0].snapshot_state == SNAPSHOT_RETAINED_OUT
    assert report.matches[0].snapshot_sha256  # what the picture was stays provable


def test_periods_go_only_after_the_audit_records_that_log_them(
    db: Database, audit: AuditLog, data_dir: Path
) -> None:
    cfg = VigilConfig.model_validate(
        {"storage": {"data_dir": str(data_dir)}, "privacy": {"audit_checkpoint_every": 10}}
    )
    log = RecognitionLog(db, audit, model="m", threshold=0.5)
    log.started("gate")
    log.stopped("gate")
    audit.checkpoint(db)
    in_200_days = datetime.now(UTC) + timedelta(days=200)
    kept = run_privacy_retention(db, cfg, now=in_200_days, audit=False)
    assert kept.recognition_periods_deleted == 0  # audit retention is 365 days
    gone = run_privacy_retention(db, cfg, now=in_200_days + timedelta(days=365), audit=False)
    assert gone.audit_records_removed >= 2 and gone.recognition_periods_deleted == 1
    # Every record was past retention: the chain goes on after the anchor, not from 1 again.
    report = audit.verify(db)
    assert report.ok and report.records == 1 and report.first_seq == gone.audit_anchor_seq + 1


def test_audit_retention_under_six_months_is_refused_with_recognition(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    privacy = {"face_recognition_enabled": True, "audit_retention_days": 100}
    path.write_text(yaml.safe_dump({"privacy": privacy}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "183" in str(err.value) and "audit_retention_days" in str(err.value)
    path.write_text(yaml.safe_dump({"privacy": {**privacy, "audit_retention_days": 183}}))
    assert load_config(path).privacy.audit_retention_days == 183
    path.write_text(yaml.safe_dump({"privacy": {"audit_retention_days": 100}}))
    assert load_config(path).privacy.audit_retention_days == 100  # recognition off: allowed
