"""The site's VAPID key pair (RFC 8292): who signs the pushes this site sends.

Made on first use and kept in `<data_dir>/vapid.pem` (PKCS#8, mode 0600); every browser
subscribed with its public key, so it is never replaced by a running site: losing the file
means every device must enable notifications again. Two processes starting at once (the API
and the node) agree on one key: the file is created exclusively, the loser reads the winner's.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vigil.errors import VigilError

KEY_FILE = "vapid.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class VapidKeys:
    private: ec.EllipticCurvePrivateKey

    @property
    def public_raw(self) -> bytes:
        """The uncompressed P-256 point, as `PushManager.subscribe` wants it."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def public_b64(self) -> str:
        """`public_raw` in base64url without padding: the page's `applicationServerKey`."""
        return b64url(self.public_raw)

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _read(path: Path) -> VapidKeys:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise VigilError(
            f"{path} is not a P-256 private key", hint="move it away to make a new one"
        )
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # someone loosened it: a readable signing key is no key
    return VapidKeys(key)


def load_or_create(data_dir: Path) -> VapidKeys:
    """The site's key pair, made (0600) when there is none."""
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = VapidKeys(ec.generate_private_key(ec.SECP256R1()))
    fd, tmp = tempfile.mkstemp(prefix=f".{KEY_FILE}.", dir=path.parent)  # 0600 from the start
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(keys.pem())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails when another process made it first
        except FileExistsError:
            return _read(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return keys
