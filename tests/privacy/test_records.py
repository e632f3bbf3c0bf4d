"""Records from the live configuration (decision 0064): each camera's record is required for it
to recognise faces, a public camera needs its legal ground, and the DPIA draft, the record of
processing and the workers' notice state the live facts (read back from the PDFs)."""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pypdf import PdfReader

from vigil.cli import run
from vigil.config import VigilConfig, config_errors
from vigil.faces.calibration import Calibration
from vigil.faces.evaluation import PairsReport, measured_at
from vigil.faces.measured import MeasuredAccuracy, Rates, load_measured, save_measured
from vigil.store.db import Database
from vigil.store.enums import LegalBasis, WatchAction
from vigil.store.models.events import Watchlist, WatchlistMember
from vigil.store.models.faces import Person, Template
from vigil.vision.models import SFACE

TO_WRITE = "[TO BE WRITTEN BY A PERSON]"


def _config(tmp_path: Path) -> dict[str, Any]:
    return {
        "site": {
            "name": "Halle 3",
            "operator": "Müller Werkzeugbau GmbH",
            "contact": "privacy@mueller.example",
        },
        "storage": {"data_dir": str(tmp_path / "var")},
        "privacy": {
            "face_recognition_enabled": True,
            "face_recognition_purpose": "Keep people under a site ban out of the workshop.",
            "legal_basis": "legitimate_interest",
            "audit_retention_days": 400,
        },
        "cameras": [
            {
                "name": "staff-door",
                "url": "rtsp://cam1/s",
                "retention_days": 14,
                "purpose": "Recognise banned people at the staff door.",
                "field_of_view": "The staff door from inside, 3 m of corridor.",
                "publicly_accessible": False,
                "legal_basis": "consent",
            },
            {
                "name": "shop-floor",
                "url": "rtsp://cam2/s",
                "retention_days": 3,
                "purpose": "Spot banned people in the shop.",
                "field_of_view": "The shop floor seen from the till.",
                "publicly_accessible": True,
                "public_recognition_ground": "Art. 9(2)(g) GDPR with the Ladenschutzgesetz § 7",
            },
            {
                "name": "yard",
                "url": "rtsp://cam3/s",
                "analysis": {"recognise": False},
            },
        ],
    }


def _write(tmp_path: Path, cfg: dict[str, Any]) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _pdf_text(path: Path) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(path).pages).split())


def _gallery(url: str) -> None:
    """3 people (4 templates of the active model, 1 of another), 2 watchlists naming 2 people."""
    db = Database(url)
    with db.session() as s:
        people = [Person(name=n, created_by="test") for n in ("Ann", "Ben", "Cem")]
        s.add_all(people)
        s.flush()
        for person, model in [(0, SFACE.name), (0, SFACE.name), (1, SFACE.name), (2, SFACE.name)]:
            s.add(_template(people[person].id, model))
        s.add(_template(people[2].id, "onnx:other"))
        lists = [
            Watchlist(name="banned", action=WatchAction.alert),
            Watchlist(name="vip", action=WatchAction.notify),
        ]
        s.add_all(lists)
        s.flush()
        s.add(WatchlistMember(watchlist_id=lists[0].id, person_id=people[0].id))
        s.add(WatchlistMember(watchlist_id=lists[1].id, person_id=people[0].id))
        s.add(WatchlistMember(watchlist_id=lists[1].id, person_id=people[1].id))
    db.close()


def _template(person_id: int, model: str) -> Template:
    return Template(
        person_id=person_id,
        embedding=np.zeros(128, np.float32).tobytes(),
        model=model,
        image_sha256="0" * 64,
        quality=1.0,
        legal_basis=LegalBasis.consent,
        enrolled_by="test",
    )


def _measured(groups: bool) -> MeasuredAccuracy:
    return MeasuredAccuracy(
        model=SFACE.name,
        measured_at="2026-11-20T09:15:00+00:00",
        source="site-pairs.csv",
        threshold=0.412,
        overall=Rates(800, 0.9675, 0.0125, 0.0525),
        roc_auc=0.9931,
        groups={"darker": Rates(400, 0.955, 0.02, 0.07), "lighter": Rates(400, 0.98, 0.005, 0.035)}
        if groups
        else {},
        widest_gap={"accuracy": 0.025} if groups else {},
    )


def test_config_check_lists_each_missing_record_field(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path)
    for key in ("purpose", "field_of_view", "publicly_accessible", "legal_basis"):
        cfg["cameras"][0].pop(key)
    cfg["privacy"].pop("legal_basis")  # the site's default would fill the camera's in
    cfg["cameras"][1]["legal_basis"] = "legitimate_interest"
    path = _write(tmp_path, cfg)
    assert run(["config", "check", str(path)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    for field in ("purpose", "field_of_view", "publicly_accessible", "legal_basis"):
        assert f"cameras[0].{field}" in out
    assert "cameras[1]" not in out and "cameras[2]" not in out  # complete; not recognising
    assert "required because camera staff-door is set to recognise faces" in out

    config = VigilConfig.model_validate(cfg)
    door = config.cameras[0]
    assert config.recognition_requested(door) and not config.recognises(door)
    assert "staff-door does not recognise faces" in config.recognition_note(door)
    # ...and the notice refuses to say "off" where the configuration asks for recognition
    assert run(["--config", str(path), "notice", "--out", str(tmp_path / "n")]) == 2
    assert "camera staff-door does not recognise faces" in " ".join(capsys.readouterr().err.split())

    cfg["privacy"]["legal_basis"] = "consent"  # the site's legal basis is the camera's default
    cfg["cameras"][0] |= {"purpose": "p", "field_of_view": "f", "publicly_accessible": False}
    assert run(["config", "check", str(_write(tmp_path, cfg))]) == 0
    config = VigilConfig.model_validate(cfg)
    assert (
        config.recognises(config.cameras[0]) and config.legal_basis(config.cameras[0]) == "consent"
    )


def test_recognition_on_a_public_camera_needs_its_legal_ground(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path)
    del cfg["cameras"][1]["public_recognition_ground"]
    problems = config_errors(yaml.safe_dump(cfg))
    assert len(problems) == 1
    assert "cameras[1] (shop-floor) recognises faces in a publicly accessible area" in problems[0]
    assert "public_recognition_ground" in problems[0]
    cfg["cameras"][1]["analysis"] = {"recognise": False}  # or no recognition there
    assert config_errors(yaml.safe_dump(cfg)) == []

    cfg = _config(tmp_path)
    assert config_errors(yaml.safe_dump(cfg)) == []
    out = tmp_path / "notice"
    assert run(["--config", str(_write(tmp_path, cfg)), "notice", "--out", str(out)]) == 0
    pdf = _pdf_text(out / "notice.pdf")
    page = " ".join(html.unescape((out / "notice.html").read_text("utf-8")).split())
    for text in (pdf, page):
        assert "shop-floor sees a publicly accessible area" in text
        assert "legal ground: Art. 9(2)(g) GDPR with the Ladenschutzgesetz § 7" in text
        assert "Legal basis at staff-door: your consent" in text  # per camera when they differ
        assert "does not recognise emotions" in text


def test_dpia_and_records_state_the_live_facts(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path)
    path = _write(tmp_path, cfg)
    data = tmp_path / "var"
    data.mkdir()
    _gallery(f"sqlite:///{data / 'vigil.db'}")
    save_measured(data, _measured(groups=True))
    out = tmp_path / "docs"
    assert run(["--config", str(path), "dpia", "--out", str(out)]) == 0
    assert run(["--config", str(path), "records", "--out", str(out)]) == 0
    dpia, records = _pdf_text(out / "dpia.pdf"), _pdf_text(out / "records.pdf")
    assert (out / "dpia.html").is_file() and (out / "records.html").is_file()

    for text in (dpia, records):
        assert "Müller Werkzeugbau GmbH" in text and "privacy@mueller.example" in text
        assert "Keep people under a site ban out of the workshop." in text
        assert "3 people enrolled; 4 face templates" in text  # the other model's not counted
        assert "2 watchlists naming 2 people" in text
        assert "Measured on 2026-11-20" in text and "site-pairs.csv" in text
        assert "threshold 0.412, accuracy 96.75%, false match rate 1.25%" in text
        assert "Group darker: 400 pairs, accuracy 95.50%" in text
        assert "Widest gap between groups in accuracy: 2.50%" in text
        assert "shop-floor sees a publicly accessible area" in text
        assert "does not recognise emotions" in text
        assert TO_WRITE in text
    for camera in ("staff-door", "shop-floor", "yard"):
        assert camera in dpia and camera in records
    assert "purpose: Recognise banned people at the staff door." in dpia
    assert "field of view: The shop floor seen from the till." in dpia
    assert "legal basis: consent, Art. 6(1)(a) GDPR" in dpia
    assert "legal basis: legitimate interests, Art. 6(1)(f) GDPR" in dpia  # the site's default
    assert "staff-door: records video" in dpia and "footage kept 14 days" in dpia
    assert "Video recordings: 3 days (staff-door: 14 days; yard: 30 days)" in dpia
    assert "The log of who viewed or searched what: 400 days" in dpia
    assert "Annex III 1(a)" in dpia
    assert dpia.count(TO_WRITE) == 6  # DPO, necessity, risks, measures, consultation, sign-off
    for part in ("Necessity and proportionality", "Risks to the rights", "Consultation"):
        assert part in dpia
    for part in ("Activity: video recording", "Activity: face recognition", "Activity: audit"):
        assert part in records
    assert "Time limits for erasure: 400 days" in records
    assert "Draft version" in dpia and "Record version" in records


def test_documents_say_plainly_what_was_not_measured(tmp_path: Path) -> None:
    path = _write(tmp_path, _config(tmp_path))
    data = tmp_path / "var"
    out = tmp_path / "docs"
    assert run(["--config", str(path), "dpia", "--out", str(out), "--format", "pdf"]) == 0
    text = _pdf_text(out / "dpia.pdf")
    assert "Accuracy not measured on this site" in text and "Measured on" not in text
    assert "0 people enrolled; 0 face templates" in text

    save_measured(data, _measured(groups=False))
    assert run(["--config", str(path), "records", "--out", str(out), "--format", "pdf"]) == 0
    text = _pdf_text(out / "records.pdf")
    assert "Measured on 2026-11-20" in text
    assert "Per-group error rates were not measured" in text


def test_workers_notice(tmp_path: Path) -> None:
    path = _write(tmp_path, _config(tmp_path))
    out = tmp_path / "docs"
    assert run(["--config", str(path), "notice", "--for", "workers", "--out", str(out)]) == 0
    assert not (out / "notice.pdf").exists()  # the public notice is another file
    for text in (
        _pdf_text(out / "notice-workers.pdf"),
        " ".join(html.unescape((out / "notice-workers.html").read_text("utf-8")).split()),
    ):
        assert "Information for workers' representatives: face recognition at work" in text
        assert "Art. 26(7)" in text and "Annex III 1(a)" in text
        assert (
            "Vigil, a camera system with face recognition, is in use at staff-door, shop-floor"
            in text
        )
        assert "Accuracy not measured on this site" in text
        assert "0 people enrolled" in text
        assert "does not recognise emotions" in text
        assert "yard: records video; detects people and faces; purpose: not stated" in text


def test_eval_save_keeps_the_figures_at_the_adopted_threshold(tmp_path: Path) -> None:
    scores = np.array([0.9, 0.6, 0.35, 0.1, 0.8, 0.45, 0.5, 0.2])
    same = np.array([True, True, True, False, True, False, False, False])
    groups: list[str | None] = ["a", "a", "a", "a", "b", "b", "b", "b"]
    report = PairsReport(
        8, 4, 4, {}, 0, 0.5, 0.0, 0.4, 0.0, 0.9, {}, scores=scores, labels=same, group_of=groups
    )
    cal = replace(
        Calibration.default(SFACE.name), threshold=0.4, created_at="2026-12-01T10:00:00+00:00"
    )
    m = measured_at(report, cal, "pairs.csv")  # no face sizes: the size-free threshold
    # at 0.4: group a accepts 0.9, 0.6 (0.35 rejected: one false non-match of 3)
    assert m.groups["a"] == Rates(4, 0.75, 0.0, pytest.approx(1 / 3))
    # group b accepts 0.8, 0.45, 0.5: two false matches of 3
    assert m.groups["b"] == Rates(4, 0.5, pytest.approx(2 / 3), 0.0)
    assert m.widest_gap["accuracy"] == pytest.approx(0.25)
    assert m.overall.pairs == 8 and m.overall.accuracy == pytest.approx(0.625)
    save_measured(tmp_path, m)
    assert load_measured(tmp_path, SFACE.name) == m
    assert load_measured(tmp_path, "onnx:other") is None
