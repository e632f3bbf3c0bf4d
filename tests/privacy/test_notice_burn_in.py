"""The public notice says when a camera's masked areas are never recorded (burn-in)."""

from __future__ import annotations

from pathlib import Path

from tests.privacy.test_notice import _config, _notice

NEVER_RECORDED = "masked areas are blacked out before recording and never recorded"


def test_notice_says_masked_areas_are_never_recorded(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path)
    mask = [[0.0, 0.0], [0.4, 0.0], [0.4, 0.3]]
    cfg["cameras"][0]["privacy_masks"] = [mask]  # masks without burn-in: recorded as seen
    code, err, html, pdf = _notice(tmp_path, cfg, capsys)
    assert code == 0, err
    assert NEVER_RECORDED not in html + pdf

    cfg["cameras"][1] |= {"privacy_masks": [mask], "privacy_masks_burn_in": True}
    code, err, html, pdf = _notice(tmp_path, cfg, capsys)
    assert code == 0, err
    for text in (html, pdf):
        assert f"yard: records video; {NEVER_RECORDED}" in text
        assert f"gate: records video; {NEVER_RECORDED}" not in text
