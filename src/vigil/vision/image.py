"""Loading images from files or bytes, robustly and with bounded memory.

Returns BGR uint8 arrays (OpenCV's layout) whatever came in: EXIF rotation applied, alpha
dropped, 16-bit and grayscale converted. Huge images are reduced while decoding (JPEG) or
refused before decoding, never decoded at full size.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vigil.errors import InputError

# We check the size ourselves before decoding (below), so Pillow's own bomb check is redundant.
Image.MAX_IMAGE_PIXELS = None
MAX_DECODE_PIXELS = 50_000_000  # ~150 MB as BGR
MAX_SIDE = 4096  # larger images are downscaled after decoding; faces stay well above 20 px


def read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a folder, not an image") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    return data


def load_image(source: Path | bytes, *, label: str | None = None) -> np.ndarray:
    """Decode an image file (or its bytes) to a BGR uint8 array, or raise InputError."""
    name = label or (str(source) if isinstance(source, Path) else "image")
    data = read_bytes(source) if isinstance(source, Path) else source
    if not data:
        raise InputError(f"{name}: empty file")
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise InputError(
            f"{name}: not an image, or a format Vigil cannot read",
            hint="use JPEG, PNG, WebP, BMP or TIFF",
        ) from exc
    except Exception as exc:  # a damaged header fails inside one of Pillow's parsers
        # (OSError "Truncated File Read" for a JPEG cut inside its EXIF block, SyntaxError,
        # struct.error, ValueError, EOFError, ...): all of them mean the same to the caller.
        raise _damaged(name, exc) from exc
    w, h = im.size
    if w * h > MAX_DECODE_PIXELS:
        if im.format == "JPEG":
            # JPEG decodes at 1/2, 1/4 or 1/8 size in the DCT domain: never at full size.
            for s in (2, 4, 8):
                if (w // s) * (h // s) <= MAX_DECODE_PIXELS:
                    im.draft("RGB", (-(-w // s), -(-h // s)))
                    break
        if im.size[0] * im.size[1] > MAX_DECODE_PIXELS:
            raise InputError(
                f"{name}: image is {w}x{h} ({w * h / 1e6:.0f} MP); Vigil decodes at most "
                f"{MAX_DECODE_PIXELS / 1e6:.0f} MP",
                hint="downscale it first (faces need only ~100 px)",
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im.load()
            im = ImageOps.exif_transpose(im)
    except Exception as exc:  # as above, for the pixel data and the EXIF rotation
        raise _damaged(name, exc) from exc
    return _to_bgr(im)


def _damaged(name: str, exc: Exception) -> InputError:
    why = str(exc).strip() or type(exc).__name__
    return InputError(
        f"{name}: truncated or corrupt image ({why})",
        hint="copy the file again in full, or use another photo",
    )


def _to_bgr(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        gray = ((a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)).astype(np.uint8)
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
    else:
        rgb = np.asarray(im.convert("RGB"))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = bgr.shape[:2]
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        bgr = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return bgr


def encode_jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:

    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InputError("could not encode JPEG")
    return buf.tobytes()
