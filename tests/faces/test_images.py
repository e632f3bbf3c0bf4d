"""Bad and unusual images: each gets a clear message, or is read correctly."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vigil.errors import InputError
from vigil.faces.engine import FaceEngine
from vigil.vision.image import MAX_SIDE, load_image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but carries almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"this is not an image at all\n", "not an image"),
        (png_header_only(20000, 20000), "20000x20000"),
    ],
)
def test_refused_with_clear_message(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "bad.png"
    f.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_image(f)


def test_truncated_jpeg(tmp_path: Path, faces_dir: Path) -> None:
    data = (faces_dir / "obama.jpg").read_bytes()
    f = tmp_path / "cut.jpg"
    f.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(f)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="folder"):
        load_image(tmp_path)


def test_huge_jpeg_is_reduced_while_decoding(tmp_path: Path) -> None:
    f = tmp_path / "huge.jpg"
    Image.new("L", (12000, 6000), 128).save(f, quality=50)  # 72 MP: over the decode limit
    img = load_image(f)
    assert max(img.shape[:2]) <= MAX_SIDE and img.shape[2] == 3


def test_modes_all_become_bgr(tmp_path: Path, faces_dir: Path, engine: FaceEngine) -> None:
    rgb = Image.open(faces_dir / "obama.jpg").convert("RGB")
    variants = {
        "gray.png": rgb.convert("L"),
        "rgba.png": rgb.convert("RGBA"),
        "palette.png": rgb.convert("P"),
        "sixteen.png": Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257),
    }
    for name, im in variants.items():
        im.save(tmp_path / name)
        img = load_image(tmp_path / name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert len(engine.detect(img)) == 1, f"{name}: face not found"
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")


def test_32bit_png_from_shared(faces_dir: Path, engine: FaceEngine) -> None:
    img = load_image(faces_dir / "32bit.png")
    assert len(engine.detect(img)) == 1


def test_exif_rotation_is_applied(tmp_path: Path, faces_dir: Path, engine: FaceEngine) -> None:
    upright = Image.open(faces_dir / "obama.jpg").convert("RGB")
    # Store the pixels turned on their side with EXIF orientation 6 ("rotate 90 CW to view").
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    sideways.save(buf, "JPEG", exif=exif.tobytes())
    img = load_image(buf.getvalue())
    assert img.shape[:2] == (upright.height, upright.width)
    faces = engine.detect(img)
    assert len(faces) == 1
    eyes_y = faces[0].landmarks[:2, 1]
    mouth_y = faces[0].landmarks[3:, 1]
    assert eyes_y.max() < mouth_y.min(), "face should be upright after EXIF rotation"


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    """A 16-bit 7000x7000 PNG of zeros is ~100 KB but took ~1 GB to decode: refused from its
    header, by pixels x bytes per pixel, with what it would cost."""
    import tracemalloc

    f = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((7000, 7000), np.uint16)).save(f, compress_level=9)
    assert f.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"7000x7000 \(49 MP, 16-bit\).*~245 MB"):
            load_image(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000
