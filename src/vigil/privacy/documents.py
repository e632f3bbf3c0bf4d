"""The documents written from the live system, by name, for the CLI and the API alike.

`public-notice` (to post at the site), `workers-notice` (AI Act Art. 26(7)), `dpia` (the
GDPR Art. 35 draft) and `records` (Art. 30). All but the public notice read the database
(gallery counts) and the saved accuracy; the public notice refuses to be written when the
settings contradict it (`build_notice`), the drafts show what is missing instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from vigil.config import VigilConfig
from vigil.faces.measured import MeasuredAccuracy
from vigil.privacy.facts import (
    GalleryCounts,
    SiteFacts,
    active_model,
    gallery_counts,
    measured_accuracy,
    site_facts,
)
from vigil.privacy.notice import Notice, build_notice, write_document
from vigil.privacy.records import build_dpia, build_records
from vigil.privacy.workers_notice import build_workers_notice
from vigil.store.db import Database

DocumentName = Literal["public-notice", "workers-notice", "dpia", "records"]
Builder = Callable[[SiteFacts, GalleryCounts, MeasuredAccuracy | None, datetime | None], Notice]
BUILDERS: dict[str, Builder] = {
    "workers-notice": build_workers_notice,
    "dpia": build_dpia,
    "records": build_records,
}
FILE_STEM: dict[DocumentName, str] = {
    "public-notice": "notice",
    "workers-notice": "notice-workers",
    "dpia": "dpia",
    "records": "records",
}


def build_document(
    name: DocumentName,
    config: VigilConfig,
    db: Database | None,
    data_dir: Path,
    now: datetime | None = None,
) -> Notice:
    """The document `name`; `db` may be None for the public notice only."""
    if name == "public-notice":
        return build_notice(config, now)
    assert db is not None, name
    return BUILDERS[name](
        site_facts(config),
        gallery_counts(db, active_model(config)),
        measured_accuracy(config, data_dir),
        now,
    )


def write(
    name: DocumentName,
    config: VigilConfig,
    db: Database | None,
    data_dir: Path,
    out_dir: Path,
    kinds: tuple[str, ...],
) -> list[Path]:
    doc = build_document(name, config, db, data_dir)
    return write_document(doc, out_dir, FILE_STEM[name], kinds)
