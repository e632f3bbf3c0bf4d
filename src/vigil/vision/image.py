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
from PIL import Image, UnidentifiedImageError

from vigil.errors import InputError

# We check the size ourselves before decoding (below), so Pillow's own bomb check is redundant.
Image.MAX_IMAGE_PIXELS = None
MAX_DECODE_PIXELS = 50_000_000  # whatever the bytes: ~150 MB as BGR
MAX_DECODE_BYTES = 100_000_000  # peak memory of decoding one image (`decode_cost`), ~24 MP RGB
MAX_SIDE = 4096  # larger images are downscaled after decoding; faces stay well above 20 px

# Bytes per pixel that decoding and converting an image of each Pillow mode holds at full size
# (Pillow keeps 1 byte a pixel for 1/L/P, 2 for I;16, 4 for everything else): RGB/RGBA/L are
# downscaled as decoded; 16- and 32-bit images need a NumPy copy and an 8-bit result; other
# modes (palette, CMYK, ...) a full-size RGB copy.
_COST = {"L": 1, "RGB": 4, "RGBA": 4, "RGBX": 4, "LA": 4, "1": 5, "P": 5, "I": 9, "F": 9}
_DEEP = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_TRANSPOSE = {  # EXIF orientation -> the transpose that shows the picture upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def decode_cost(mode: str, width: int, height: int) -> int:
    """Peak bytes `load_image` holds to decode a `width` x `height` image of Pillow `mode`."""
    per_pixel = 5 if mode.startswith("I;16") else _COST.get(mode, 8)
    return width * height * per_pixel


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
    """Decode an image file (or its bytes) to a BGR uint8 array, or raise InputError.

    The header is read first (Pillow opens lazily); an image whose decoding would take more
    than `MAX_DECODE_BYTES` (or `MAX_DECODE_PIXELS`) is refused before any pixel is decoded,
    except a JPEG, which is decoded at 1/2, 1/4 or 1/8 size instead."""
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
    if im.format == "JPEG":
        # JPEG decodes at 1/2, 1/4 or 1/8 size in the DCT domain: never larger than needed.
        s = 1
        while s < 8 and (
            max(w, h) // (2 * s) >= MAX_SIDE
            or decode_cost(im.mode, -(-w // s), -(-h // s)) > MAX_DECODE_BYTES
            or -(-w // s) * -(-h // s) > MAX_DECODE_PIXELS
        ):
            s *= 2
        if s > 1:
            im.draft(im.mode, (max(1, w // s), max(1, h // s)))
    dw, dh = im.size
    cost = decode_cost(im.mode, dw, dh)
    if dw * dh > MAX_DECODE_PIXELS or cost > MAX_DECODE_BYTES:
        raise InputError(
            f"{name}: image is {w}x{h} ({w * h / 1e6:.0f} MP, {_describe(im.mode)}); decoding "
            f"it would take ~{cost / 1e6:.0f} MB, Vigil decodes at most "
            f"{MAX_DECODE_BYTES / 1e6:.0f} MB ({MAX_DECODE_PIXELS / 1e6:.0f} MP) per image",
            hint="downscale it or save it as an 8-bit JPEG first (faces need only ~100 px)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            orientation = im.getexif().get(0x0112, 1)
            im.load()
            small = _reduce(im)
            del im
            if orientation in _TRANSPOSE:
                small = small.transpose(_TRANSPOSE[orientation])
    except Exception as exc:  # as above, for the pixel data and the EXIF rotation
        raise _damaged(name, exc) from exc
    return _to_bgr(small)


def _describe(mode: str) -> str:
    if mode.startswith("I;16"):
        return "16-bit"
    return {"I": "32-bit", "F": "32-bit float", "P": "palette", "1": "1-bit"}.get(mode, mode)


def _damaged(name: str, exc: Exception) -> InputError:
    why = str(exc).strip() or type(exc).__name__
    return InputError(
        f"{name}: truncated or corrupt image ({why})",
        hint="copy the file again in full, or use another photo",
    )


def _fit(w: int, h: int) -> tuple[int, int]:
    if max(w, h) <= MAX_SIDE:
        return w, h
    s = MAX_SIDE / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def _reduce(im: Image.Image) -> Image.Image:
    """The decoded image as 8-bit L, RGB or RGBA, at most MAX_SIDE a side, without a second
    full-size colour copy: 16/32-bit images are scaled to 8 bits first (min..max)."""
    if im.mode in _DEEP:
        a = np.asarray(im)
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        # the stubs want a dst array; OpenCV allocates one for None
        gray = cv2.normalize(a, None, 0, 255, cv2.NORM_MINMAX, dtype=cv2.CV_8U)  # type: ignore[call-overload]
        del a
        im = Image.fromarray(gray, "L")
    elif im.mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    size = _fit(*im.size)
    if size != im.size:
        im = im.resize(size, Image.Resampling.BOX)
    return im


def _to_bgr(im: Image.Image) -> np.ndarray:
    if im.mode == "L":
        return cv2.cvtColor(np.asarray(im), cv2.COLOR_GRAY2BGR)
    rgb = np.asarray(im.convert("RGB") if im.mode != "RGB" else im)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def encode_jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:

    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InputError("could not encode JPEG")
    return buf.tobytes()
