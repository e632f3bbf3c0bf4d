"""`verify_export` on untrusted ZIPs: zip bombs, oversized and escaping members are refused
before anything is unpacked, with a clear message and the exit code of a failed check (4)."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.privacy.bundle import MANIFEST_NAME, UnsafeArchive, verify_export


@pytest.fixture
def unpack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where verification unpacks (TMPDIR), to check that nothing was written there."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    yield d


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_zip_bomb_is_refused_before_unpacking(
    tmp_path: Path,
    unpack_dir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("clip.mp4", "w") as f:
            for _ in range(64):
                f.write(bytes(2**20))  # 64 MiB of zeros -> ~64 KiB stored
        z.writestr(MANIFEST_NAME, "{}")
    assert bomb.stat().st_size < 2**20
    with pytest.raises(UnsafeArchive, match="zip bomb"):
        verify_export(bomb)
    assert not any(unpack_dir.iterdir())
    code, out, err = cli("export", "verify", bomb)
    assert code == 4 and "zip bomb" in out + err


def test_declared_size_cap_and_path_traversal(tmp_path: Path, unpack_dir: Path) -> None:
    members = {"clip.mp4": bytes(3 * 2**20), MANIFEST_NAME: b"{}"}
    big = _zip(tmp_path / "big.zip", members, zipfile.ZIP_STORED)
    with pytest.raises(UnsafeArchive, match=r"more than the 1\.0 MiB allowed"):
        verify_export(big, max_bytes=2**20)
    escape = _zip(tmp_path / "escape.zip", {MANIFEST_NAME: b"{}", "../evil.txt": b"owned"})
    with pytest.raises(UnsafeArchive, match="outside the archive"):
        verify_export(escape)
    twice = tmp_path / "twice.zip"
    with zipfile.ZipFile(twice, "w") as z, pytest.warns(UserWarning):
        z.writestr(MANIFEST_NAME, b"{}")
        z.writestr(MANIFEST_NAME, b"{}")
    with pytest.raises(UnsafeArchive, match="twice"):
        verify_export(twice)
    assert not (tmp_path / "evil.txt").exists() and not (unpack_dir.parent / "evil.txt").exists()
    assert not any(unpack_dir.iterdir())
