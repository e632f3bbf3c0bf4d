"""The site's Ed25519 signing key: created on first use under `<data_dir>/keys/` (0600, in 0700).

`audit-ed25519.pem` holds the private key (PKCS#8). It is encrypted at rest
(`BestAvailableEncryption`) when a passphrase is configured: the environment variable
`VIGIL_SIGNING_KEY_PASSPHRASE`, else the file named by `privacy.signing_key_passphrase_file`
(registered here by `configure`, which `AuditLog.from_config` calls). Without either the key
is stored unencrypted, so the node can sign unattended (`vigil privacy status` warns).
`audit-ed25519.pub` is the public key that auditors keep a copy of (`vigil audit pubkey`).
A key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key.

`rotate` replaces the key: the old private key is destroyed, its public key is kept in
`retired-keys.json` with the time it stopped signing, so older checkpoints, anchors and export
manifests still verify (`keyring`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vigil.errors import InputError, VigilError
from vigil.files import write_atomic

PRIVATE_NAME = "audit-ed25519.pem"
PUBLIC_NAME = "audit-ed25519.pub"
RETIRED_NAME = "retired-keys.json"
PASSPHRASE_ENV = "VIGIL_SIGNING_KEY_PASSPHRASE"
_ENCRYPTED_HEADER = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
_create_lock = threading.Lock()
_passphrase_files: dict[Path, Path] = {}


def key_dir(data_dir: Path) -> Path:
    return data_dir / "keys"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class VerifyKey:
    """A public key that checks signatures (the site's, or a copy an auditor kept)."""

    public: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def from_pem(cls, data: bytes, where: str = "public key") -> VerifyKey:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise InputError(f"{where} is not a PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InputError(f"{where} is not an Ed25519 public key")
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> VerifyKey:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        return cls.from_pem(data, str(path))


@dataclass(frozen=True)
class SiteKey(VerifyKey):
    private: Ed25519PrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


@dataclass(frozen=True)
class KeyEntry:
    """A public key and when it signed: None = no bound (the current key has no end)."""

    key: VerifyKey
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def covers(self, t: datetime) -> bool:
        return (self.valid_from is None or t >= self.valid_from) and (
            self.valid_until is None or t <= self.valid_until
        )


class PassphraseError(VigilError):
    """The encrypted signing key cannot be unlocked (passphrase missing or wrong)."""


def _write_exclusive(path: Path, data: bytes, mode: int) -> bool:
    """Write a new file with `mode` from the start; False when it already exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic, and fails if another process created it first
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def configure(data_dir: Path, passphrase_file: Path | None) -> None:
    """Register where the passphrase of `data_dir`'s key is (from `privacy.*` config)."""
    if passphrase_file is None:
        _passphrase_files.pop(data_dir.resolve(), None)
    else:
        _passphrase_files[data_dir.resolve()] = passphrase_file


def read_passphrase_file(path: Path) -> bytes:
    try:
        text = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise PassphraseError(
            f"cannot read the signing key passphrase file {path}: {exc.strerror or exc}",
            hint="check privacy.signing_key_passphrase_file in vigil.yaml",
        ) from exc
    if not text:
        raise PassphraseError(f"the signing key passphrase file {path} is empty")
    return text


def passphrase_source(data_dir: Path) -> str | None:
    """Where the passphrase comes from, in words (None: no passphrase configured)."""
    if os.environ.get(PASSPHRASE_ENV):
        return f"environment variable {PASSPHRASE_ENV}"
    file = _passphrase_files.get(data_dir.resolve())
    return f"file {file}" if file else None


def passphrase(data_dir: Path) -> bytes | None:
    """The configured passphrase: the environment variable first, then the file."""
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env.encode()
    file = _passphrase_files.get(data_dir.resolve())
    return read_passphrase_file(file) if file else None


def is_encrypted(data_dir: Path) -> bool | None:
    """Whether the private key file is encrypted (None when there is no key yet)."""
    path = key_dir(data_dir) / PRIVATE_NAME
    try:
        return path.read_bytes().lstrip().startswith(_ENCRYPTED_HEADER)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VigilError(f"cannot read the site signing key {path}: {exc.strerror}") from exc


def _pem(key: Ed25519PrivateKey, secret: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _tighten(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # someone loosened it: a readable signing key is no key
    folder = path.parent
    if folder.stat().st_mode & 0o077:
        os.chmod(folder, 0o700)


def _load_private(path: Path, secret: bytes | None) -> SiteKey:
    _tighten(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VigilError(f"cannot load the site signing key {path}: {exc.strerror}") from exc
    encrypted = data.lstrip().startswith(_ENCRYPTED_HEADER)
    if encrypted and not secret:
        raise PassphraseError(
            f"the site signing key {path} is encrypted and no passphrase is configured",
            hint=f"set {PASSPHRASE_ENV} or privacy.signing_key_passphrase_file",
        )
    try:
        key = serialization.load_pem_private_key(data, password=secret if encrypted else None)
    except ValueError as exc:
        if encrypted:
            raise PassphraseError(
                f"wrong passphrase for the site signing key {path}",
                hint=f"check {PASSPHRASE_ENV} or privacy.signing_key_passphrase_file",
            ) from exc
        raise VigilError(f"cannot load the site signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise VigilError(f"{path} is not an Ed25519 private key")
    return SiteKey(key.public_key(), key)


def load_public(data_dir: Path) -> VerifyKey | None:
    """The site's current public key, or None when no key was ever created. Never creates one.

    The private key is the authority when it can be read; an encrypted one without its
    passphrase falls back to the .pub file (verifying needs no secret).
    """
    folder = key_dir(data_dir)
    private = folder / PRIVATE_NAME
    public = folder / PUBLIC_NAME
    if private.exists():
        secret = passphrase(data_dir) if is_encrypted(data_dir) else None
        if secret is not None or not is_encrypted(data_dir):
            key = _load_private(private, secret)
            return VerifyKey(key.public)
    return VerifyKey.load(public) if public.exists() else None


def retired(data_dir: Path) -> list[KeyEntry]:
    """Keys that signed before a rotation, oldest first."""
    path = key_dir(data_dir) / RETIRED_NAME
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise VigilError(f"cannot read the retired keys {path}: {exc}") from exc
    out = []
    for item in doc.get("keys", []):
        since = item.get("valid_from")
        out.append(
            KeyEntry(
                VerifyKey.from_pem(item["public_key"].encode(), f"{path} ({item.get('key_id')})"),
                datetime.fromisoformat(since) if since else None,
                datetime.fromisoformat(item["valid_until"]),
            )
        )
    return out


def _current_since(data_dir: Path) -> datetime | None:
    path = key_dir(data_dir) / RETIRED_NAME
    try:
        since = json.loads(path.read_text()).get("current_since")
    except (OSError, ValueError):
        return None
    return datetime.fromisoformat(since) if since else None


def keyring(data_dir: Path) -> dict[str, KeyEntry]:
    """Every public key of the site by key id: the retired ones and the current one."""
    ring = {e.key.key_id: e for e in retired(data_dir)}
    current = load_public(data_dir)
    if current is not None:
        ring[current.key_id] = KeyEntry(current, _current_since(data_dir), None)
    return ring


def file_stamp(data_dir: Path) -> tuple[int, int] | None:
    """(inode, mtime ns) of the private key file: changes when the key is replaced."""
    try:
        st = (key_dir(data_dir) / PRIVATE_NAME).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def load_or_create(data_dir: Path) -> SiteKey:
    """The site signing key, created (0600, folder 0700) the first time it is needed."""
    folder = key_dir(data_dir)
    private = folder / PRIVATE_NAME
    with _create_lock:
        if not private.exists():
            secret = passphrase(data_dir)
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                _write_exclusive(private, _pem(Ed25519PrivateKey.generate(), secret), 0o600)
            except OSError as exc:
                raise VigilError(f"cannot create the site signing key in {folder}: {exc}") from exc
        key = _load_private(private, passphrase(data_dir) if is_encrypted(data_dir) else None)
        public = folder / PUBLIC_NAME
        if not public.exists():
            _write_exclusive(public, public_pem(key.public).encode(), 0o644)
    return key


def encrypt(data_dir: Path, new_secret: bytes, *, current_secret: bytes | None = None) -> SiteKey:
    """Store the key encrypted with `new_secret` (re-encrypts an encrypted one: a new passphrase).

    `current_secret` unlocks an already encrypted key (default: the configured passphrase).
    """
    if not new_secret:
        raise InputError("the new passphrase is empty")
    private = key_dir(data_dir) / PRIVATE_NAME
    with _create_lock:
        if not private.exists():
            raise VigilError(f"no site signing key in {private.parent} yet: nothing to encrypt")
        if is_encrypted(data_dir):
            current_secret = current_secret or passphrase(data_dir)
        key = _load_private(private, current_secret)
        write_atomic(private, _pem(key.private, new_secret), 0o600)
    return key


def rotate(data_dir: Path, *, now: datetime | None = None) -> tuple[VerifyKey, SiteKey]:
    """A new key replaces the current one (encrypted if a passphrase is configured).

    The old private key file is overwritten; its public key goes to `retired-keys.json`,
    valid until `now`. Returns (old public key, new key).
    """
    now = now or datetime.now(UTC)
    folder = key_dir(data_dir)
    old = load_or_create(data_dir)
    secret = passphrase(data_dir)
    new = Ed25519PrivateKey.generate()
    with _create_lock:
        path = folder / RETIRED_NAME
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            doc = {"keys": []}
        except (OSError, ValueError) as exc:
            raise VigilError(f"cannot read the retired keys {path}: {exc}") from exc
        since = doc.get("current_since")
        doc["keys"].append(
            {
                "key_id": old.key_id,
                "public_key": public_pem(old.public),
                "valid_from": since,
                "valid_until": now.isoformat(),
            }
        )
        doc["current_since"] = now.isoformat()
        # The retired public key is saved before the private key it belongs to is destroyed.
        write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode(), 0o644)
        write_atomic(folder / PRIVATE_NAME, _pem(new, secret), 0o600)
        write_atomic(folder / PUBLIC_NAME, public_pem(new.public_key()).encode(), 0o644)
    return VerifyKey(old.public), SiteKey(new.public_key(), new)
