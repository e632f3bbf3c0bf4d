"""The site signing key at rest: encrypted with a passphrase, clear errors, rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from vigil.privacy import keys
from vigil.privacy.audit import Action, AuditLog, checkpoint_message
from vigil.privacy.manifest import verify_manifest, write_manifest
from vigil.store.base import utcnow
from vigil.store.db import Database
from vigil.store.models import AuditCheckpoint, AuditRecord


@pytest.fixture(autouse=True)
def _no_env_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keys.PASSPHRASE_ENV, raising=False)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "key-passphrase"
    path.parent.mkdir()
    path.write_text("correct horse battery staple\n")
    path.chmod(0o600)
    return path


def _config(tmp_path: Path, data_dir: Path, secret: Path | None, name: str = "vigil.yaml") -> Path:
    path = tmp_path / name
    extra = f"  signing_key_passphrase_file: {secret}\n" if secret else ""
    path.write_text(
        f"storage:\n  data_dir: {data_dir}\nprivacy:\n  audit_checkpoint_every: 5\n{extra}"
    )
    return path


def _records(audit: AuditLog, db: Database, n: int) -> None:
    for i in range(n):
        audit.record(db, actor="alice", action=Action.view_recording, details={"i": i})


def _count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count(AuditRecord.seq))) or 0)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_unencrypted_key_is_warned_about(cli, data_dir: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, data_dir, None)
    assert cli("--config", cfg, "audit", "checkpoint")[0] == 1  # empty log, but key made
    assert cli("--config", cfg, "audit", "pubkey")[0] == 0
    pem = data_dir / "keys" / keys.PRIVATE_NAME
    assert _mode(pem) == 0o600 and _mode(pem.parent) == 0o700
    code, out, _ = cli("--config", cfg, "privacy", "status")
    assert code == 0 and "NOT encrypted" in out
    assert "warning: the site signing key is stored unencrypted" in " ".join(out.split())


def test_encrypt_then_sign_with_the_configured_passphrase(
    cli, data_dir: Path, tmp_path: Path, secret_file: Path, db: Database
) -> None:
    plain = _config(tmp_path, data_dir, None, "plain.yaml")
    cfg = _config(tmp_path, data_dir, secret_file)
    assert cli("--config", plain, "audit", "pubkey")[0] == 0  # an unencrypted key exists
    key_id = keys.load_public(data_dir).key_id  # type: ignore[union-attr]
    code, out, err = cli("--config", cfg, "privacy", "key", "encrypt")
    assert code == 0, err
    pem = data_dir / "keys" / keys.PRIVATE_NAME
    assert pem.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert _mode(pem) == 0o600 and _mode(pem.parent) == 0o700
    with pytest.raises(TypeError):  # really encrypted: no password, no key
        serialization.load_pem_private_key(pem.read_bytes(), password=None)
    # The same key, unlocked by the configured passphrase, signs checkpoints.
    _records(AuditLog(data_dir, checkpoint_every=0), db, 3)
    code, out, err = cli("--config", cfg, "audit", "checkpoint")
    assert code == 0 and key_id in out, err
    code, out, _ = cli("--config", cfg, "audit", "verify")
    assert code == 0 and "chain intact" in out
    code, out, _ = cli("--config", cfg, "privacy", "key", "status", "--json")
    info = json.loads(out)
    assert info["encrypted"] and info["key_id"] == key_id and info["warning"] is None
    assert str(secret_file) in info["passphrase_from"]


def test_wrong_or_missing_passphrase_is_a_clear_error_and_loses_nothing(
    cli, data_dir: Path, tmp_path: Path, secret_file: Path, db: Database
) -> None:
    cfg = _config(tmp_path, data_dir, secret_file)
    assert cli("--config", cfg, "privacy", "key", "encrypt")[0] == 0  # created encrypted
    assert (data_dir / "keys" / keys.PRIVATE_NAME).read_bytes().startswith(b"-----BEGIN ENC")
    _records(AuditLog(data_dir, checkpoint_every=0), db, 4)
    stored = _count(db)

    secret_file.write_text("wrong\n")
    code, _, err = cli("--config", cfg, "audit", "checkpoint")
    assert code == 1 and "wrong passphrase for the site signing key" in " ".join(err.split())

    no_secret = _config(tmp_path, data_dir, None, "nosecret.yaml")
    code, _, err = cli("--config", no_secret, "audit", "checkpoint")
    flat = " ".join(err.split())
    assert code == 1 and "is encrypted and no passphrase is configured" in flat

    missing = _config(tmp_path, data_dir, tmp_path / "nope", "missing.yaml")
    code, _, err = cli("--config", missing, "audit", "checkpoint")
    assert code == 1 and "cannot read the signing key passphrase file" in " ".join(err.split())

    # Nothing was signed or lost, and verifying needs no passphrase (the .pub file).
    with db.session() as s:
        assert s.scalar(select(func.count(AuditCheckpoint.id))) == 0
    assert _count(db) == stored
    code, out, _ = cli("--config", no_secret, "audit", "verify")
    assert code == 0 and "chain intact" in out
    code, out, _ = cli("--config", no_secret, "privacy", "status")
    assert "no passphrase is configured" in " ".join(out.split())


def test_passphrase_from_the_environment_and_a_new_passphrase(
    cli, data_dir: Path, tmp_path: Path, secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, data_dir, secret_file)
    no_secret = _config(tmp_path, data_dir, None, "nosecret.yaml")
    assert cli("--config", cfg, "privacy", "key", "encrypt")[0] == 0
    # A new passphrase: the environment variable wins over the file.
    monkeypatch.setenv(keys.PASSPHRASE_ENV, "a much longer new passphrase")
    code, out, err = cli(
        "--config", cfg, "privacy", "key", "encrypt", "--current-passphrase-file", secret_file
    )
    assert code == 0 and keys.PASSPHRASE_ENV in out, err
    assert cli("--config", no_secret, "audit", "pubkey")[0] == 0  # env alone unlocks it
    monkeypatch.delenv(keys.PASSPHRASE_ENV)
    code, _, err = cli("--config", cfg, "audit", "pubkey")  # the old passphrase no longer does
    assert code == 1 and "wrong passphrase" in err
    code, _, err = cli("--config", no_secret, "privacy", "key", "encrypt")
    assert code == 2 and "no passphrase configured" in err


def test_rotation_keeps_old_signatures_verifiable(
    cli, data_dir: Path, tmp_path: Path, secret_file: Path, db: Database
) -> None:
    cfg = _config(tmp_path, data_dir, secret_file)
    keys.configure(data_dir, secret_file)
    audit = AuditLog(data_dir, checkpoint_every=5)
    _records(audit, db, 7)  # checkpoint 5 by the first key
    old = keys.load_or_create(data_dir)
    old_pem = tmp_path / "old.pub"
    old_pem.write_text(keys.public_pem(old.public))
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a video")
    manifest = write_manifest(data_dir, [clip], kind="clip", actor="alice", reason="test")

    code, out, err = cli("--config", cfg, "privacy", "key", "rotate")
    assert code == 0, err
    new = keys.load_or_create(data_dir)
    assert new.key_id != old.key_id and new.key_id in out
    pem = data_dir / "keys" / keys.PRIVATE_NAME
    assert pem.read_bytes().startswith(b"-----BEGIN ENCRYPTED") and _mode(pem) == 0o600
    assert old.key_id not in (data_dir / "keys" / keys.PUBLIC_NAME).read_text()
    _records(audit, db, 6)  # the long-lived AuditLog picks up the new key by itself
    with db.session() as s:
        signers = dict(s.execute(select(AuditCheckpoint.seq, AuditCheckpoint.key_id)).all())
    assert signers[5] == old.key_id and old.key_id in signers.values()
    assert new.key_id in signers.values()
    rotation = audit.query(db, action=Action.rotate_key)
    assert rotation and rotation[0].details["old_key_id"] == old.key_id

    report = audit.verify(db)
    assert report.ok, report.problems
    assert report.key_id == new.key_id and report.checkpoints_ok == report.checkpoints >= 3
    assert verify_manifest(manifest, data_dir=data_dir).ok  # signed by the retired key
    new_pem = tmp_path / "new.pub"
    assert cli("--config", cfg, "audit", "pubkey", "--out", new_pem)[0] == 0
    code, out, _ = cli("--config", cfg, "audit", "verify", "--pubkey", old_pem, "--pubkey", new_pem)
    assert code == 0, out
    code, out, _ = cli("--config", cfg, "audit", "verify", "--pubkey", new_pem)
    assert code == 4 and f"signed by key {old.key_id}" in out
    code, out, _ = cli("--config", cfg, "privacy", "key", "status")
    assert f"retired key {old.key_id}" in out

    # The retired private key, if someone kept a copy, cannot sign anything new.
    with db.session() as s:
        head = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert head is not None
        AuditLog(data_dir).record(s, actor="mallory", action=Action.view_live)
        s.flush()
        head = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert head is not None
        t = utcnow()
        s.add(
            AuditCheckpoint(
                seq=head.seq,
                hash=head.hash,
                time=t,
                signature=old.sign(checkpoint_message(head.seq, head.hash, t)).hex(),
                key_id=old.key_id,
            )
        )
    problems = audit.verify(db).problems
    assert [p.kind for p in problems] == ["checkpoint_key_expired"], problems
