"""The public transparency notice, written from the live configuration (HTML and PDF).

`build_notice(config)` turns `VigilConfig` into plain-language `Notice` sections; `render_html`
and `render_pdf` lay out the same sections, so the two files always say the same thing.
What the notice claims is derived from what the system is set to do (which cameras record,
analyse, recognise; the retention periods), and it refuses to be written when it could not say
what it must, e.g. recognition on without a stated purpose and legal basis. A camera recognises
faces only while the site-wide switch is on (`VigilConfig.recognises`), as the pipeline does.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape

from vigil.config import PrivacyConfig, VigilConfig
from vigil.errors import ConfigError

TEMPLATES = Path(__file__).parent / "templates"

LEGAL_BASIS_WORDS = {
    "consent": "your consent, which you can withdraw at any time",
    "contract": "a contract with you",
    "legal_obligation": "a legal obligation of the operator",
    "vital_interest": "protecting someone's life or health",
    "public_task": "a task carried out in the public interest",
    "legitimate_interest": "the operator's legitimate interest, weighed against your rights",
}


@dataclass(frozen=True)
class CameraLine:
    name: str
    records: bool
    retention_days: float
    detects_faces: bool
    recognises: bool
    masks_burned_in: bool = False  # privacy masks blacked out before recording

    @property
    def does(self) -> str:
        parts = ["records video" if self.records else "live view only, nothing recorded"]
        if self.records and self.masks_burned_in:
            parts.append("masked areas are blacked out before recording and never recorded")
        if self.detects_faces:
            parts.append("detects people and faces")
        if self.recognises:
            parts.append("recognises enrolled people")
        return "; ".join(parts)


@dataclass(frozen=True)
class NoticeSection:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # paragraphs after the bullets


@dataclass(frozen=True)
class Notice:
    headline: str
    site: str
    sections: list[NoticeSection]
    notice_url: str | None
    generated_at: datetime

    @property
    def version(self) -> str:
        """A short fingerprint of the content: a posted copy can be checked against the system."""
        content = json.dumps([asdict(s) for s in self.sections], sort_keys=True)
        return hashlib.sha256(f"{self.headline}{self.site}{content}".encode()).hexdigest()[:12]

    @property
    def footer(self) -> str:
        return (
            f"Written by Vigil from this system's settings on "
            f"{self.generated_at:%d %B %Y}. Notice version {self.version}."
        )


def _days(d: float) -> str:
    if d == 1:
        return "1 day"
    return f"{d:g} days"


OBJECTION_WORDS = (
    "You may object to being recognised. We then keep one face template of you (numbers "
    "describing your face, not a picture, and no name), who recorded the objection, when and "
    "why, only so that your face is never identified here or at the other sites of this "
    "network; it is kept as long as the objection stands. If you were enrolled, you are "
    "removed when you withdraw your consent."
)


def unknown_faces_words(p: PrivacyConfig) -> str:
    """What the notice says about faces that match nobody: whether anything is kept, why, and
    for how long (the same words the subject-access report uses)."""
    if not p.keeps_unknown_faces:
        return (
            "Faces are detected to create events. For a face that matches nobody, no face "
            "template (numbers describing a face) is kept at all."
        )
    return (
        "Faces are detected to create events. A face template (numbers describing a face, not "
        f"a picture, no name) of each face that matches nobody is kept for "
        f"{_days(p.unknown_face_days)}, then deleted. Why: {p.unknown_faces_purpose.strip()}"
    )


def _footage_line(recording: list[CameraLine]) -> str:
    """'Video recordings: 30 days (staff-entrance: 14 days)': the usual period, then exceptions."""
    days = [c.retention_days for c in recording]
    usual = max(sorted(set(days)), key=days.count)
    others = [
        f"{c.name}: {_days(c.retention_days)}" for c in recording if c.retention_days != usual
    ]
    return f"Video recordings: {_days(usual)}" + (f" ({'; '.join(others)})" if others else "")


def _camera_lines(config: VigilConfig) -> list[CameraLine]:
    return [
        CameraLine(
            name=c.name,
            records=c.record,
            retention_days=float(c.retention_days),
            detects_faces=c.analysis.enabled,
            recognises=config.recognises(c),
            masks_burned_in=c.privacy_masks_burn_in,
        )
        for c in config.cameras
        if c.enabled
    ]


def _check(config: VigilConfig) -> None:
    p, site = config.privacy, config.site
    missing = [
        name for name, v in (("operator", site.operator), ("contact", site.contact)) if not v
    ]
    if missing:
        raise ConfigError(
            f"the notice must say who operates the cameras and how to reach them: "
            f"site.{' and site.'.join(missing)} not set",
            hint="set site.operator (the legal entity) and site.contact (email or address)",
        )
    recognising = [c.name for c in config.cameras if config.recognises(c)]
    if p.face_recognition_enabled and recognising:
        stated = {
            "face_recognition_purpose": p.face_recognition_purpose,
            "legal_basis": p.legal_basis,
        }
        gaps = [f"privacy.{name}" for name, value in stated.items() if not value]
        if gaps:
            raise ConfigError(
                f"face recognition is on but {' and '.join(gaps)} is not set",
                hint="the public notice must say why faces are recognised and on what legal basis",
            )


def build_notice(config: VigilConfig, now: datetime | None = None) -> Notice:
    """The notice's content in plain words; ConfigError when the settings contradict it."""
    _check(config)
    p, site = config.privacy, config.site
    cams = _camera_lines(config)
    recognising = [c for c in cams if c.recognises]
    detecting = [c for c in cams if c.detects_faces]
    recording = [c for c in cams if c.records]
    sections: list[NoticeSection] = []

    sections.append(
        NoticeSection(
            "Who is responsible",
            [
                f"{site.operator} operates the cameras at {site.name}.",
                f"Contact: {site.contact}",
            ],
        )
    )
    sections.append(NoticeSection("Why", [p.purpose]))
    if cams:
        sections.append(
            NoticeSection(
                "Where the cameras are",
                [f"{len(cams)} camera{'s' if len(cams) > 1 else ''} in operation:"],
                [f"{c.name}: {c.does}" for c in cams],
            )
        )
    else:
        sections.append(NoticeSection("Where the cameras are", ["No camera is in operation."]))

    what = []
    if recording:
        what.append("Video pictures, day and night, without sound.")
    if detecting:
        what.append(
            "When a person is seen: the time, the camera and a still picture of the moment "
            "(an event)."
        )
    sections.append(NoticeSection("What is recorded", what or ["Nothing is recorded."]))

    if recognising:
        basis = LEGAL_BASIS_WORDS[p.legal_basis or ""]
        face = [
            "Face recognition is ON at "
            + ", ".join(c.name for c in recognising)
            + ". Faces are compared with a list of people who were enrolled on purpose.",
            f"Purpose: {p.face_recognition_purpose}",
            f"Legal basis: {basis}." + (f" {p.legal_basis_note}" if p.legal_basis_note else ""),
            "If you are not on the list you are never named: the system only shows "
            "'unknown person'. Nobody is added to the list from camera footage.",
            OBJECTION_WORDS,
        ]
    else:
        face = ["Face recognition is OFF: nobody is identified by their face."]
    if detecting:
        face.append(unknown_faces_words(p))
    sections.append(NoticeSection("Face recognition", face))

    keep = []
    if recording:
        keep.append(_footage_line(recording))
    if detecting:
        keep.append(f"Still pictures of events: {_days(p.snapshot_retention_days)}")
        if p.keeps_unknown_faces:
            keep.append(f"Face templates of unknown people: {_days(p.unknown_face_days)}")
    if recognising:
        keep.append("Face templates of enrolled people: until they are removed from the list")
        keep.append(
            "The face template of a person who objected to recognition: as long as the "
            "objection stands"
        )
    keep.append(f"The log of who viewed or searched what: {_days(p.audit_retention_days)}")
    sections.append(
        NoticeSection(
            "How long it is kept",
            ["Everything is deleted automatically after:"],
            keep,
            [
                "Footage needed as evidence of an incident is kept longer, only while needed, "
                "with a recorded reason."
            ],
        )
    )
    sections.append(
        NoticeSection(
            "Who can look at it",
            [
                "Only authorised staff. Every viewing, search and export of footage is written "
                "to a tamper-evident log, with who did it and why; searches and exports need a "
                "stated reason."
            ],
        )
    )
    request = [
        "You can ask whether we hold pictures or data about you, get a copy, have it "
        "corrected or deleted, and object to face recognition.",
        f"Write to {site.contact}. Give the date, time and place you were here, so we can "
        "find you.",
    ]
    if p.request_info:
        request.append(p.request_info)
    request.append("You may also complain to your data protection authority.")
    sections.append(NoticeSection("Your rights and how to make a request", request))

    headline = "CCTV and face recognition in operation" if recognising else "CCTV in operation"
    return Notice(
        headline=headline,
        site=site.name,
        sections=sections,
        notice_url=p.notice_url,
        generated_at=now or datetime.now(UTC),
    )


def qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=4, title="QR code: " + url)


def qr_png(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=10, border=2)
    return buf.getvalue()


def render_html(notice: Notice) -> str:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    qr = qr_svg(notice.notice_url) if notice.notice_url else None
    return env.get_template("notice.html.j2").render(notice=notice, qr_svg=qr)


def write_notice(config: VigilConfig, out_dir: Path, kinds: tuple[str, ...]) -> list[Path]:
    """Write notice.html and/or notice.pdf into out_dir; return the paths written."""
    notice = build_notice(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if "html" in kinds:
        path = out_dir / "notice.html"
        path.write_text(render_html(notice), encoding="utf-8")
        written.append(path)
    if "pdf" in kinds:
        path = out_dir / "notice.pdf"
        path.write_bytes(render_pdf(notice))
        written.append(path)
    return written


def _fonts() -> tuple[Path, Path] | None:
    """DejaVu Sans (any script a site name may use) as shipped inside matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    return (regular, bold) if regular.exists() and bold.exists() else None


def render_pdf(notice: Notice) -> bytes:
    """A4: one page, shrinking the type a little if that makes it fit, else more pages."""
    for scale in (1.0, 0.94, 0.88):
        pages, data = _layout_pdf(notice, scale)
        if pages == 1:
            return data
    return _layout_pdf(notice, 1.0)[1]


def _layout_pdf(notice: Notice, k: float) -> tuple[int, bytes]:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(18, 15, 18)
    pdf.set_auto_page_break(True, margin=14)
    fonts = _fonts()
    family = "DejaVu" if fonts else "Helvetica"
    if fonts:
        pdf.add_font(family, "", str(fonts[0]))
        pdf.add_font(family, "B", str(fonts[1]))

    def text(t: str) -> str:  # the core font has Latin-1 glyphs only
        return t if fonts else t.encode("latin-1", "replace").decode("latin-1")

    def para(t: str, w: float, h: float = 4.7 * k, indent: float = 0.0) -> None:
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(w - indent, h, text(t), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(pdf.get_y() + 0.8 * k)

    pdf.set_title(f"{notice.headline}: {notice.site}")
    pdf.set_creator("Vigil")
    pdf.set_creation_date(notice.generated_at)
    pdf.add_page()
    width = pdf.epw
    qr = 32.0 if notice.notice_url else 0.0
    top = pdf.get_y()
    head_w = width - (qr + 8 if qr else 0)
    pdf.set_font(family, "B", 22 * k)
    pdf.multi_cell(head_w, 9.5 * k, text(notice.headline), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "B", 14 * k)
    pdf.set_y(pdf.get_y() + 1)
    pdf.multi_cell(head_w, 7 * k, text(notice.site), align="L", new_x="LMARGIN", new_y="NEXT")
    if notice.notice_url:
        pdf.set_font(family, "", 9 * k)
        pdf.set_y(pdf.get_y() + 1)
        pdf.multi_cell(
            head_w,
            4.5 * k,
            text(f"This notice online: {notice.notice_url}"),
            align="L",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.image(
            io.BytesIO(qr_png(notice.notice_url)),
            x=pdf.l_margin + width - qr,
            y=top - 2,
            w=qr,
            h=qr,
        )
    bottom = max(pdf.get_y(), top + qr - 2)
    pdf.set_y(bottom + 2)
    pdf.set_line_width(0.7)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.set_y(pdf.get_y() + 2.5)

    bullet = "\u2022" if fonts else "-"
    for section in notice.sections:
        pdf.set_font(family, "B", 12 * k)
        pdf.multi_cell(width, 6.5 * k, text(section.title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 10 * k)
        for t in section.paragraphs:
            para(t, width)
        for t in section.bullets:
            pdf.set_x(pdf.l_margin + 2)
            pdf.cell(4, 4.7 * k, bullet)
            para(t, width, indent=6)
        for t in section.after:
            para(t, width)
        pdf.set_y(pdf.get_y() + 1.5 * k)

    pdf.set_font(family, "", 7.5)
    pdf.set_text_color(90)
    para(notice.footer, width, h=3.6)
    return pdf.pages_count, bytes(pdf.output())
