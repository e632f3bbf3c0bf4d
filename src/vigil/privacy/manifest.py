"""Signed manifests for what leaves the system (clips, redacted clips, subject-access archives).

A manifest is a JSON file next to the exported files: what was exported (camera, time range),
by whom and why, the SHA-256 and size of each file (names relative to the manifest's
folder), and for a clip `footage`: what it holds of the range asked for (gaps, damaged and
missing segments, `complete`), so a short clip is never vouched for as the whole range. It is
signed with the site's Ed25519 key (`privacy/keys.py`, the key that signs audit checkpoints)
over the canonical JSON of every field but `signature`.

`verify_manifest` checks the signature (with the site key, or a public key an auditor kept)
and every file's hash; any change to a file or to the manifest shows.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.errors import InputError
from vigil.privacy import keys

FORMAT = "vigil-export-manifest/1"
SUFFIX = ".manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_path(file: Path) -> Path:
    return file.with_name(file.name + SUFFIX)


def write_manifest(
    data_dir: Path,
    files: list[Path],
    *,
    kind: str,
    actor: str,
    reason: str,
    camera: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    details: dict[str, Any] | None = None,
    footage: dict[str, Any] | None = None,
    out: Path | None = None,
) -> Path:
    """Write and sign the manifest of `files` (default: `<first file>.manifest.json`).
    `footage`: a clip's account of the range asked for (`ExportResult.account()`)."""
    if not files:
        raise InputError("a manifest needs at least one file")
    out = out or manifest_path(files[0])
    base = out.parent.resolve()
    entries = []
    for f in files:
        try:
            rel = f.resolve().relative_to(base).as_posix()
        except ValueError as exc:
            raise InputError(f"{f} is not in the manifest's folder {base}") from exc
        entries.append({"name": rel, "sha256": sha256_file(f), "size": f.stat().st_size})
    key = keys.load_or_create(data_dir)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "camera": camera,
        "from": start.astimezone(UTC).isoformat() if start else None,
        "to": end.astimezone(UTC).isoformat() if end else None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "created_by": actor,
        "reason": reason,
        "details": json.loads(json.dumps(details or {}, default=str)),
        "files": entries,
        **({"footage": json.loads(json.dumps(footage, default=str))} if footage else {}),
        "key_id": key.key_id,
    }
    doc["signature"] = base64.b64encode(key.sign(_canonical(doc))).decode()
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return out


@dataclass
class ManifestCheck:
    path: Path
    signature_ok: bool = False
    key_id: str | None = None
    files_ok: int = 0
    problems: list[str] = field(default_factory=list)
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.signature_ok and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "manifest": str(self.path),
            "ok": self.ok,
            "signature_ok": self.signature_ok,
            "key_id": self.key_id,
            "files_ok": self.files_ok,
            "files": len(self.doc.get("files", [])),
            "problems": self.problems,
        }


def verify_manifest(
    path: Path, *, data_dir: Path | None = None, key: keys.VerifyKey | None = None
) -> ManifestCheck:
    """Check the signature (site key from `data_dir`, or `key`) and every file's SHA-256."""
    check = ManifestCheck(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        check.problems.append(f"not a JSON manifest: {exc}")
        return check
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        check.problems.append(f"not a {FORMAT} manifest")
        return check
    check.doc = doc
    if key is None and data_dir is not None:  # a retired key still checks what it signed
        entry = keys.keyring(data_dir).get(str(doc.get("key_id")))
        key = entry.key if entry else keys.load_public(data_dir)
    if key is None:
        check.problems.append("no key to check the signature with (give --pubkey)")
    else:
        check.key_id = key.key_id
        if doc.get("key_id") != key.key_id:
            check.problems.append(
                f"signed with key {doc.get('key_id')}, not with this key {key.key_id}"
            )
        try:
            sig = base64.b64decode(doc.get("signature", ""), validate=True)
        except ValueError:
            sig = b""
        check.signature_ok = key.verify(sig, _canonical(doc))
        if not check.signature_ok:
            check.problems.append("signature does not match: the manifest was changed")
    base = path.parent
    for entry in doc.get("files", []):
        name = str(entry.get("name", ""))
        f = base / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            check.problems.append(f"{name}: a file outside the manifest's folder")
        elif not f.is_file():
            check.problems.append(f"{name}: missing")
        elif sha256_file(f) != entry.get("sha256"):
            check.problems.append(f"{name}: SHA-256 differs: the file was changed")
        else:
            check.files_ok += 1
    return check
