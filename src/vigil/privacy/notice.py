"""The public transparency notice, written from the live configuration (HTML and PDF).

`build_notice(config)` turns `VigilConfig` into plain-language `Notice` sections; `render_html`
and `render_pdf` lay out the same sections, so the two files always say the same thing.
What the notice claims is derived from what the system is set to do (which cameras record,
analyse, recognise; the retention periods), read through `vigil.privacy.facts` like the other
privacy documents, and it refuses to be written when it could not say what it must, e.g.
recognition asked for without a stated purpose or a camera's record (legal basis included). A
camera recognises faces only by `VigilConfig.recognises`, as the pipeline does.
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

from vigil.config import VigilConfig
from vigil.errors import ConfigError
from vigil.privacy.facts import (
    LEGAL_BASIS_WORDS,
    NO_EMOTION_OR_ATTRIBUTES,
    OBJECTION_WORDS,
    SiteFacts,
    site_facts,
)

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class NoticeSection:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # paragraphs after the bullets
    # What a person must write here (a draft's unwritten part), shown in a marked box.
    to_write: list[str] = field(default_factory=list)


TO_WRITE = "TO BE WRITTEN BY A PERSON"


@dataclass(frozen=True)
class Notice:
    """A document written from the live settings: the public notice, and with `kind` and
    `one_page` changed the workers' notice, the DPIA draft and the record of processing
    (`vigil.privacy.records`), all laid out by `render_html` and `render_pdf`."""

    headline: str
    site: str
    sections: list[NoticeSection]
    notice_url: str | None
    generated_at: datetime
    kind: str = "Notice"  # names the version in the footer
    one_page: bool = True  # shrink the type a little to fit one A4 page

    @property
    def version(self) -> str:
        """A short fingerprint of the content: a posted copy can be checked against the system."""
        content = json.dumps([asdict(s) for s in self.sections], sort_keys=True)
        return hashlib.sha256(f"{self.headline}{self.site}{content}".encode()).hexdigest()[:12]

    @property
    def footer(self) -> str:
        return (
            f"Written by Vigil from this system's settings on "
            f"{self.generated_at:%d %B %Y}. {self.kind} version {self.version}."
        )


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
    # A camera asked to recognise without its record does not (`VigilConfig.recognises`), but a
    # notice saying "off" there would be wrong as soon as the record is filled in: refuse.
    requested = [c for c in config.cameras if config.recognition_requested(c)]
    problems = [] if p.face_recognition_purpose else ["privacy.face_recognition_purpose is not set"]
    problems += [config.recognition_note(c) for c in requested if config.record_gaps(c)]
    if requested and problems:
        raise ConfigError(
            "face recognition is on but " + "; ".join(problems),
            hint="the public notice must say why faces are recognised and on what legal basis, "
            "camera by camera (`vigil config check FILE` lists what is missing)",
        )


def build_notice(config: VigilConfig, now: datetime | None = None) -> Notice:
    """The notice's content in plain words; ConfigError when the settings contradict it."""
    _check(config)
    return notice_from_facts(site_facts(config), now)


def basis_lines(facts: SiteFacts) -> list[str]:
    """'Legal basis: ...' for the recognising cameras: one line, or one per basis used."""
    by_basis: dict[str, list[str]] = {}
    for c in facts.recognising:
        by_basis.setdefault(c.legal_basis or "", []).append(c.name)
    note = f" {facts.legal_basis_note}" if facts.legal_basis_note else ""
    if len(by_basis) == 1:
        return [f"Legal basis: {LEGAL_BASIS_WORDS[next(iter(by_basis))]}.{note}"]
    return [
        f"Legal basis at {', '.join(names)}: {LEGAL_BASIS_WORDS[basis]}."
        for basis, names in by_basis.items()
    ] + ([note.strip()] if note else [])


def public_ground_lines(facts: SiteFacts) -> list[str]:
    """For each camera recognising faces in a publicly accessible area, its legal ground."""
    return [
        f"{c.name} sees a publicly accessible area. Faces are recognised there on this specific "
        f"legal ground: {c.public_recognition_ground}"
        for c in facts.recognising
        if c.publicly_accessible
    ]


def notice_from_facts(facts: SiteFacts, now: datetime | None = None) -> Notice:
    cams, recognising = facts.cameras, facts.recognising
    detecting, recording = facts.detecting, facts.recording
    sections: list[NoticeSection] = []

    sections.append(
        NoticeSection(
            "Who is responsible",
            [
                f"{facts.operator} operates the cameras at {facts.site}.",
                f"Contact: {facts.contact}",
            ],
        )
    )
    sections.append(NoticeSection("Why", [facts.purpose]))
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
        face = [
            "Face recognition is ON at "
            + ", ".join(c.name for c in recognising)
            + ". Faces are compared with a list of people who were enrolled on purpose.",
            f"Purpose: {facts.recognition_purpose}",
            *basis_lines(facts),
            *public_ground_lines(facts),
            "If you are not on the list you are never named: the system only shows "
            "'unknown person'. Nobody is added to the list from camera footage.",
            OBJECTION_WORDS,
        ]
    else:
        face = ["Face recognition is OFF: nobody is identified by their face."]
    if detecting:
        face.append(facts.unknown_faces)
    face.append(NO_EMOTION_OR_ATTRIBUTES)
    sections.append(NoticeSection("Face recognition", face))

    sections.append(
        NoticeSection(
            "How long it is kept",
            ["Everything is deleted automatically after:"],
            list(facts.retention),
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
        f"Write to {facts.contact}. Give the date, time and place you were here, so we can "
        "find you.",
    ]
    if facts.request_info:
        request.append(facts.request_info)
    request.append("You may also complain to your data protection authority.")
    sections.append(NoticeSection("Your rights and how to make a request", request))

    headline = "CCTV and face recognition in operation" if recognising else "CCTV in operation"
    return Notice(
        headline=headline,
        site=facts.site,
        sections=sections,
        notice_url=facts.notice_url,
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
    return env.get_template("notice.html.j2").render(notice=notice, qr_svg=qr, to_write=TO_WRITE)


def write_notice(config: VigilConfig, out_dir: Path, kinds: tuple[str, ...]) -> list[Path]:
    """Write notice.html and/or notice.pdf into out_dir; return the paths written."""
    return write_document(build_notice(config), out_dir, "notice", kinds)


def write_document(doc: Notice, out_dir: Path, stem: str, kinds: tuple[str, ...]) -> list[Path]:
    """Write <stem>.html and/or <stem>.pdf into out_dir; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if "html" in kinds:
        path = out_dir / f"{stem}.html"
        path.write_text(render_html(doc), encoding="utf-8")
        written.append(path)
    if "pdf" in kinds:
        path = out_dir / f"{stem}.pdf"
        path.write_bytes(render_pdf(doc))
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
    """A4: one page, shrinking the type a little if that makes it fit, else more pages
    (a document that is not `one_page` is laid out once, at full size)."""
    for scale in (1.0, 0.94, 0.88) if notice.one_page else ():
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
        if section.to_write:  # a framed box: the unwritten part of a draft
            pdf.set_y(pdf.get_y() + 1)
            pdf.set_draw_color(200, 60, 0)
            pdf.set_line_width(0.5)
            pdf.set_font(family, "B", 10 * k)
            lines = [f"[{TO_WRITE}]", *section.to_write]
            pdf.multi_cell(width, 5 * k, text("\n".join(lines)), border=1, padding=2)
            pdf.set_draw_color(0)
            pdf.set_font(family, "", 10 * k)
        pdf.set_y(pdf.get_y() + 1.5 * k)

    pdf.set_font(family, "", 7.5)
    pdf.set_text_color(90)
    para(notice.footer, width, h=3.6)
    return pdf.pages_count, bytes(pdf.output())
