"""Export bundles: one ZIP with the exported files and their signed `manifest.json`.

A browser downloads one file, and the manifest cannot get separated from the clip it vouches
for. Files are stored uncompressed (video does not compress), so a bundle is written fast.

`verify_export` checks what an export left behind, whatever its shape: a manifest file, a
signed file with its `<file>.manifest.json` beside it (`vigil export`, `vigil privacy sar`), a
folder holding manifests, or a bundle ZIP (unpacked into a temporary folder, then checked
with the same `verify_manifest`; a file in the ZIP that no manifest covers is a problem too).
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from vigil.errors import InputError
from vigil.privacy import keys
from vigil.privacy.manifest import SUFFIX, ManifestCheck, manifest_path, verify_manifest

MANIFEST_NAME = "manifest.json"


def write_bundle(out: Path, files: list[Path], manifest: Path) -> Path:
    """Write `out` (.zip): `files` by their names and `manifest` as `manifest.json`."""
    tmp = out.with_name(f".{out.name}.part")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
            for f in files:
                z.write(f, f.name)
            z.write(manifest, MANIFEST_NAME)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def is_manifest(path: Path) -> bool:
    return path.name == MANIFEST_NAME or path.name.endswith(SUFFIX)


def verify_export(
    path: Path, *, data_dir: Path | None = None, key: keys.VerifyKey | None = None
) -> list[ManifestCheck]:
    """Verify every manifest in `path` (a manifest, a folder or a bundle ZIP)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and is_manifest(p))
        if not found:
            raise InputError(f"no export manifest (*{SUFFIX} or {MANIFEST_NAME}) in {path}")
        return [verify_manifest(m, data_dir=data_dir, key=key) for m in found]
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    beside = manifest_path(path)  # `vigil export`/`privacy sar` sign a file from beside it
    if beside.is_file():
        return [verify_manifest(beside, data_dir=data_dir, key=key)]
    if zipfile.is_zipfile(path) and not is_manifest(path):
        return _verify_zip(path, data_dir=data_dir, key=key)
    return [verify_manifest(path, data_dir=data_dir, key=key)]


def _verify_zip(
    path: Path, *, data_dir: Path | None, key: keys.VerifyKey | None
) -> list[ManifestCheck]:
    try:
        with zipfile.ZipFile(path) as z:
            names = [i.filename for i in z.infolist() if not i.is_dir()]
            for name in names:
                p = PurePosixPath(name)
                if p.is_absolute() or ".." in p.parts:
                    raise InputError(f"{path}: member {name!r} points outside the archive")
            with tempfile.TemporaryDirectory(prefix="vigil-verify-") as tmp:
                root = Path(tmp)
                z.extractall(root)
                manifests = [n for n in names if is_manifest(Path(n))]
                if not manifests:
                    raise InputError(f"{path} holds no export manifest ({MANIFEST_NAME})")
                checks = []
                covered: set[str] = set(manifests)
                for name in manifests:
                    check = verify_manifest(root / name, data_dir=data_dir, key=key)
                    base = PurePosixPath(name).parent
                    for entry in check.doc.get("files", []):
                        covered.add(str(base / str(entry.get("name", ""))))
                    check.path = path / name  # shown as <zip>/manifest.json
                    checks.append(check)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path} is not a readable ZIP: {exc}") from exc
    extra = sorted(set(names) - covered)
    if extra:
        checks[0].problems.append("not covered by any manifest: " + ", ".join(extra))
    return checks
