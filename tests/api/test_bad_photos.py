"""Damaged uploads (cut-off JPEGs, empty files, random bytes) are a clear 422, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.helpers import Client
from tests.faces.test_bad_images import KINDS, MESSAGE, make_bad


@pytest.mark.parametrize("kind", KINDS)
def test_people_and_search_refuse_damaged_photos(
    clients: dict[str, Client], faces_dir: Path, tmp_path: Path, kind: str
) -> None:
    bad = make_bad(tmp_path, faces_dir)[kind]
    upload = (kind, bad.read_bytes(), "image/jpeg")
    good = ("obama.jpg", (faces_dir / "obama.jpg").read_bytes(), "image/jpeg")
    op = clients["operator"]

    r = op.post(
        "/api/v1/people",
        data={"name": "Ada", "legal_basis": "consent"},
        files=[("photos", good), ("photos", upload)],
    )
    assert r.status_code == 422, r.text
    assert f"{kind}: {MESSAGE[kind]}" in r.json()["detail"]
    assert [p["ok"] for p in r.json()["photos"]] == [True, False]
    assert op.get("/api/v1/people").json() == []  # all or nothing

    r = op.post("/api/v1/people/check", data={"reason": "new staff"}, files=[("photos", upload)])
    assert r.status_code == 200, r.text
    verdict = r.json()["photos"][0]
    assert verdict["ok"] is False and MESSAGE[kind] in verdict["problems"][0]

    r = op.post("/api/v1/search/photo", data={"reason": "case 12"}, files={"photo": upload})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{kind}: {MESSAGE[kind]}")
