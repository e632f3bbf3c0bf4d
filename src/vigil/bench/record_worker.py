"""The recorder process of `vigil bench record`: Vigil's `RecordingService` on N cameras.

Run as `python -m vigil.bench.record_worker DATA_DIR URL N [tcp|udp] [copy|burn] [PER_WORKER]
[auto|python]` (burn: every camera has a privacy mask burned into its recording; PER_WORKER:
cameras per recorder worker process, 0 for all in this process, default the recorder's own;
then the recorder's `copy_loop`). It runs in
its own process so the benchmark measures the recorder's CPU and memory alone, with live feeds
attached as `vigil serve` has them (nobody watches). Protocol on
stdin/stdout:
prints `LOADED` (imports done, database open: the idle footprint), waits for a `GO` line,
starts recording, prints `ONLINE` once every camera records (or `TIMEOUT`), waits for a
`STOP` line, stops, and prints one JSON line with every camera's status.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

from vigil.camera.live_feed import LiveFeeds
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.config import CameraConfig
from vigil.store.db import Database

# A neighbour's window in the upper right, about 8% of the picture.
BURN_MASK = [(0.70, 0.05), (0.95, 0.05), (0.95, 0.35), (0.70, 0.35)]


def main(argv: list[str]) -> int:
    data_dir, url, n = Path(argv[0]), argv[1], int(argv[2])
    transport = argv[3] if len(argv) > 3 else "tcp"
    burn = len(argv) > 4 and argv[4] == "burn"
    options = RecorderOptions()
    if len(argv) > 5:
        options = replace(options, cameras_per_worker=int(argv[5]) or None)
    if len(argv) > 6:
        options = replace(options, copy_loop="python" if argv[6] == "python" else "auto")
    # Count the recorder's warnings instead of printing 64 cameras' worth of them.
    warnings: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage().split(": ", 1)[-1].split(" (")[0])

    logging.basicConfig(level=logging.WARNING, handlers=[Count()])
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cams = [
        CameraConfig(
            name=f"c{i:02d}",
            url=url,
            rtsp_transport=transport,
            privacy_masks=[BURN_MASK] if burn else [],
            privacy_masks_burn_in=burn,
        )
        for i in range(n)
    ]
    service = RecordingService(cams, data_dir, db, options, live=LiveFeeds())
    print("LOADED", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return 1
    service.start(repair=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(s.recording for s in service.statuses()):
            print("ONLINE", flush=True)
            break
        time.sleep(0.2)
    else:
        print("TIMEOUT", flush=True)
    sys.stdin.readline()  # STOP (or the parent went away)
    statuses = service.statuses()
    service.stop()
    kinds = sorted({w for w in warnings})
    summary = {k: warnings.count(k) for k in kinds}
    print(json.dumps({"cameras": [s.as_dict() for s in statuses], "warnings": summary}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
