"""Wall-clock time codes drawn into video frames, readable back after H.264 and JPEG.

Layout (the camera in `rtsp_camera.py` draws it; the browser page in `bench/live.py` reads
it the same way): 40 big blocks in 4 rows of 10, each BLOCK px square, from (MARGIN, MARGIN);
white = 1, black = 0, most significant bit first. Bits 0-31 are the milliseconds since the
epoch modulo 2**32 (the full time is the one nearest to now), bits 32-39 a checksum. A block
whose centre is neither clearly dark nor clearly light (a frame caught mid-change) or a
checksum that does not match makes the frame unreadable (None), never a wrong time.
"""

from __future__ import annotations

import numpy as np

COLS, ROWS, BLOCK, MARGIN = 10, 4, 40, 8
BITS = COLS * ROWS
WRAP = 1 << 32


def checksum(ms32: int) -> int:
    b = ms32.to_bytes(4, "big")
    return (b[0] * 1 + b[1] * 3 + b[2] * 7 + b[3] * 13 + 0x5A) & 0xFF


def draw(gray: np.ndarray, ms: int) -> None:
    """Draw the time code of `ms` (POSIX milliseconds) into a grey frame, in place."""
    ms32 = ms % WRAP
    code = (ms32 << 8) | checksum(ms32)
    for i in range(BITS):
        r, c = divmod(i, COLS)
        y, x = MARGIN + r * BLOCK, MARGIN + c * BLOCK
        gray[y : y + BLOCK, x : x + BLOCK] = 235 if (code >> (BITS - 1 - i)) & 1 else 16


def read_ms32(image: np.ndarray) -> int | None:
    """The 32-bit millisecond code in a BGR or grey frame, or None when unreadable."""
    gray = image if image.ndim == 2 else image[..., 1]  # green carries most of the luma
    half = BLOCK // 4
    code = 0
    for i in range(BITS):
        r, c = divmod(i, COLS)
        cy = MARGIN + r * BLOCK + BLOCK // 2
        cx = MARGIN + c * BLOCK + BLOCK // 2
        level = float(gray[cy - half : cy + half, cx - half : cx + half].mean())
        if 70 < level < 180:
            return None
        code = (code << 1) | int(level >= 180)
    ms32, check = code >> 8, code & 0xFF
    return ms32 if checksum(ms32) == check else None


def full_ms(ms32: int, now_ms: int) -> int:
    """The POSIX milliseconds whose low 32 bits are `ms32`, nearest to `now_ms`."""
    delta = (now_ms - ms32) % WRAP
    if delta >= WRAP // 2:
        delta -= WRAP
    return now_ms - delta


def read_time(image: np.ndarray, now: float) -> float | None:
    """The POSIX time (seconds) written in the frame, or None when unreadable."""
    ms32 = read_ms32(image)
    return None if ms32 is None else full_ms(ms32, int(now * 1000)) / 1000.0
