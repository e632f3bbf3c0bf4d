"""The site's Ed25519 signing key: created on first use under `<data_dir>/keys/`, mode 0600.

`audit-ed25519.pem` holds the private key (PKCS#8, unencrypted: the node signs unattended),
`audit-ed25519.pub` the public key that auditors keep a copy of (`vigil audit pubkey`).
A key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vigil.errors import InputError, VigilError

PRIVATE_NAME = "audit-ed25519.pem"
PUBLIC_NAME = "audit-ed25519.pub"
_create_lock = threading.Lock()


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


def load_public(data_dir: Path) -> VerifyKey | None:
    """The site's public key, or None when no key was ever created. Never creates one."""
    private = key_dir(data_dir) / PRIVATE_NAME
    if private.exists():  # the private key is the authority; the .pub file is a convenience
        return _load_private(private)
    public = key_dir(data_dir) / PUBLIC_NAME
    return VerifyKey.load(public) if public.exists() else None


def _load_private(path: Path) -> SiteKey:
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # someone loosened it: a readable signing key is no key
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise VigilError(f"cannot load the site signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise VigilError(f"{path} is not an Ed25519 private key")
    return SiteKey(key.public_key(), key)


def load_or_create(data_dir: Path) -> SiteKey:
    """The site signing key, created (0600, folder 0700) the first time it is needed."""
    folder = key_dir(data_dir)
    private = folder / PRIVATE_NAME
    with _create_lock:
        if not private.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                new = Ed25519PrivateKey.generate()
                pem = new.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                _write_exclusive(private, pem, 0o600)
            except OSError as exc:
                raise VigilError(f"cannot create the site signing key in {folder}: {exc}") from exc
        key = _load_private(private)
        public = folder / PUBLIC_NAME
        if not public.exists():
            _write_exclusive(public, public_pem(key.public).encode(), 0o644)
    return key
