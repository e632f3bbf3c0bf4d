"""`vigil notice`: the HTML and the PDF follow the live configuration, and refuse to mislead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pypdf import PdfReader

from vigil.cli import run


def _config(tmp_path: Path, **privacy: Any) -> dict[str, Any]:
    return {
        "site": {
            "name": "Müller Werkzeugbau – Halle 3",
            "operator": "Müller Werkzeugbau GmbH",
            "contact": "privacy@mueller.example",
        },
        "storage": {"data_dir": str(tmp_path / "var")},
        "privacy": {"face_recognition_enabled": False, **privacy},
        "cameras": [
            {"name": "gate", "url": "rtsp://cam1/s", "analysis": {"recognise": False}},
            {"name": "yard", "url": "rtsp://cam2/s", "analysis": {"enabled": False}},
        ],
    }


def _notice(tmp_path: Path, cfg: dict[str, Any], capsys) -> tuple[int, str, str, str]:  # type: ignore[no-untyped-def]
    """Run `vigil notice`; (exit code, stderr, HTML, PDF text with whitespace collapsed)."""
    path = tmp_path / "vigil.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "notice"
    code = run(["--config", str(path), "notice", "--out", str(out)])
    err = capsys.readouterr().err
    if code != 0:
        return code, err, "", ""
    html = (out / "notice.html").read_text(encoding="utf-8")
    reader = PdfReader(out / "notice.pdf")
    assert len(reader.pages) == 1  # a usual site fits on one A4 page
    pdf = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    return code, err, " ".join(html.split()), pdf


def test_notice_follows_a_configuration_change(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path)
    code, err, html, pdf = _notice(tmp_path, cfg, capsys)
    assert code == 0, err
    for text in (html, pdf):
        assert "Müller Werkzeugbau GmbH operates the cameras" in text
        assert "privacy@mueller.example" in text
        assert "gate: records video; detects people and faces" in text
        assert "Video recordings: 30 days" in text
        # the default keeps no unknown-face template at all, and says so (0063)
        assert "For a face that matches nobody, no face template" in text
        assert "is kept at all" in text and "unknown people:" not in text
        assert "Face recognition is OFF" in text
        assert "loading-dock" not in text
    version = html.split("Notice version ")[1][:12]
    assert f"Notice version {version}" in pdf

    cfg["cameras"].append({"name": "loading-dock", "url": "rtsp://cam3/s", "retention_days": 14})
    cfg["cameras"][-1]["analysis"] = {"recognise": False}
    cfg["privacy"]["unknown_face_retention_days"] = 3
    code, err, _, _ = _notice(tmp_path, cfg, capsys)  # keeping them needs a written purpose
    assert code == 2 and "privacy.unknown_faces_purpose" in err
    cfg["privacy"]["unknown_faces_purpose"] = "Finding a shoplifter seen on two cameras."
    code, err, html2, pdf2 = _notice(tmp_path, cfg, capsys)
    assert code == 0, err
    for text in (html2, pdf2):
        assert "3 cameras in operation" in text
        assert "loading-dock: records video; detects people and faces" in text
        assert "Video recordings: 30 days (loading-dock: 14 days)" in text
        assert "unknown people: 3 days" in text
        assert "Why: Finding a shoplifter seen on two cameras." in text
        assert "no face template" not in text
    assert f"Notice version {version}" not in html2 + pdf2


def test_face_recognition_is_stated_with_purpose_and_legal_basis(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path)
    cfg["cameras"][0]["analysis"] = {"recognise": True}
    code, err, html, _ = _notice(tmp_path, cfg, capsys)  # the site-wide switch is still off
    assert code == 0 and "Face recognition is OFF" in html and "recognises" not in html

    cfg["privacy"]["face_recognition_enabled"] = True
    code, err, _, _ = _notice(tmp_path, cfg, capsys)
    err = " ".join(err.split())
    assert code == 2 and "privacy.face_recognition_purpose is not set" in err
    assert "camera gate does not recognise faces: its record lacks purpose" in err
    assert "legal_basis (here or as privacy.legal_basis)" in err

    cfg["privacy"] |= {
        "face_recognition_purpose": "Staff entrance without a badge, for staff who chose it.",
        "legal_basis": "consent",
        "legal_basis_note": "Art. 9(2)(a) GDPR.",
    }
    cfg["cameras"][0] |= {
        "purpose": "Open the staff door for enrolled staff.",
        "field_of_view": "The staff door from inside.",
        "publicly_accessible": False,
    }
    code, err, html, pdf = _notice(tmp_path, cfg, capsys)
    assert code == 0, err
    for text in (html, pdf):
        assert "CCTV and face recognition in operation" in text
        assert "Face recognition is ON at gate." in text
        assert "Purpose: Staff entrance without a badge" in text
        assert "Legal basis: your consent, which you can withdraw at any time. Art. 9(2)(a)" in text
        assert "gate: records video; detects people and faces; recognises enrolled people" in text
        assert "does not recognise emotions" in text
        # what an objection keeps, and for how long
        assert "You may object to being recognised. We then keep one face template" in text
        assert "not a picture, and no name" in text
        assert "person who objected to recognition: as long as the objection stands" in text


def test_qr_code_only_with_a_url(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, html, _ = _notice(tmp_path, _config(tmp_path), capsys)
    assert code == 0 and "<svg" not in html
    assert not PdfReader(tmp_path / "notice" / "notice.pdf").pages[0].images
    url = "https://mueller.example/cctv"
    code, _, html, pdf = _notice(tmp_path, _config(tmp_path, notice_url=url), capsys)
    assert code == 0 and "<svg" in html and f'href="{url}"' in html
    assert url in pdf
    assert len(PdfReader(tmp_path / "notice" / "notice.pdf").pages[0].images) == 1


def test_notice_needs_operator_and_contact_and_escapes_html(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path)
    cfg["site"]["contact"] = ""
    code, err, _, _ = _notice(tmp_path, cfg, capsys)
    assert code == 2 and "site.contact not set" in err
    cfg["site"] |= {"contact": "a@b.example", "name": "<script>alert(1)</script>"}
    code, _, html, _ = _notice(tmp_path, cfg, capsys)
    assert code == 0 and "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("cameras", [0, 14])
def test_unusual_sites_still_render(tmp_path: Path, capsys, cameras: int) -> None:  # type: ignore[no-untyped-def]
    from vigil.config import VigilConfig
    from vigil.privacy.notice import build_notice, render_pdf

    cfg = _config(tmp_path)
    cfg["cameras"] = [
        {"name": f"camera-{i}", "url": f"rtsp://c{i}/s", "analysis": {"recognise": False}}
        for i in range(cameras)
    ]
    notice = build_notice(VigilConfig.model_validate(cfg))
    data = render_pdf(notice)
    assert data.startswith(b"%PDF")
    if cameras == 0:
        assert "No camera is in operation." in notice.sections[2].paragraphs
