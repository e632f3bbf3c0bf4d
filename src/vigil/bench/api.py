"""`vigil bench api`: the events list over a million stored events, and the live view with
20 simultaneous viewers of one camera.

Events: 1,000,000 rows go into a temporary SQLite database (Core executemany in batches),
then the first page and each filter are timed through the real API (FastAPI TestClient, so
routing, auth, validation and serialisation are all counted). Baselines in the same run:
the same requests with the composite (column, start) indexes dropped, and keyset paging
beside OFFSET paging at the same depth.

Live view: a uvicorn server on 127.0.0.1, one publisher thread (the one "decoder") feeding
`LiveFrames` at a fixed rate, N MJPEG viewers; each JPEG carries its publish time in a
comment segment, so a viewer measures the age of each frame it receives.
"""

from __future__ import annotations

import random
import statistics
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from sqlalchemy import Table, insert, select, text

from vigil.bench.report import Figure
from vigil.process import free_port
from vigil.store.db import Database
from vigil.store.models.events import Event, EventKind
from vigil.store.models.faces import Person

CAMERAS = [f"cam{i}" for i in range(8)]
PEOPLE = 50
KINDS = (
    [EventKind.motion] * 50
    + [EventKind.person] * 25
    + [EventKind.face] * 10
    + [EventKind.known_person] * 10
    + [EventKind.zone_change] * 5
)
ADMIN_PASSWORD = "bench admin password"
COMPOSITE = ("ix_events_camera_start", "ix_events_kind_start", "ix_events_person_start")
PROPOSED = "CREATE INDEX IF NOT EXISTS ix_events_start_id ON events (start, id)"


def site_config(data_dir: Path):
    from vigil.config import VigilConfig

    return VigilConfig.model_validate(
        {
            "site": {"name": "bench"},
            "storage": {"data_dir": str(data_dir)},
            "cameras": [{"name": c, "url": f"rtsp://127.0.0.1/{c}"} for c in CAMERAS],
        }
    )


def fill_events(
    db: Database, n: int, *, batch: int = 20_000, seed: int = 1
) -> tuple[datetime, float]:
    """Insert `n` events spread over 30 days (newest now); returns (first start, seconds)."""
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0)
    first = end - timedelta(days=30)
    step = (end - first).total_seconds() / n
    with db.session() as s:
        s.execute(
            insert(Person),
            [{"name": f"person {i}", "created_by": "bench", "notes": ""} for i in range(PEOPLE)],
        )
    t0 = time.perf_counter()
    # Declarative models type `__table__` as a FromClause; a mapped class's is always a Table.
    table = cast(Table, Event.__table__)
    with (
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        ) as progress,
        db.engine.begin() as conn,
    ):
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        task = progress.add_task("inserting events", total=n)
        for lo in range(0, n, batch):
            rows = []
            for i in range(lo, min(n, lo + batch)):
                kind = rng.choice(KINDS)
                start = first + timedelta(seconds=i * step + rng.random() * step)
                rows.append(
                    {
                        "uid": f"00000000-0000-7000-8000-{i:012x}",
                        "camera": rng.choice(CAMERAS),
                        "kind": kind,
                        "start": start,
                        "end": start + timedelta(seconds=rng.uniform(1, 60)),
                        "person_id": rng.randint(1, PEOPLE)
                        if kind is EventKind.known_person
                        else None,
                        "score": round(rng.uniform(0.4, 0.9), 3)
                        if kind is EventKind.known_person
                        else None,
                        "zone": "press 1" if kind is EventKind.zone_change else None,
                        "details": {},
                        "created_at": start,
                    }
                )
            conn.execute(insert(table), rows)
            progress.advance(task, len(rows))
    return first, time.perf_counter() - t0


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (page cache, statement cache)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def events_figures(n: int, repeat: int = 5) -> list[Figure]:
    from fastapi.testclient import TestClient

    from vigil.api import ApiContext, accounts, create_app
    from vigil.api.auditing import MemoryAudit
    from vigil.store.models.users import Role

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-api-") as tmp:
        data_dir = Path(tmp)
        cfg = site_config(data_dir)
        db = Database(cfg.storage.resolved_database_url())
        first, took = fill_events(db, n)
        figures.append(Figure(f"insert {n:,} events (Core executemany)", n / took, "events/s"))
        ctx = ApiContext(cfg, db, audit=MemoryAudit())
        accounts.create_user(db, "admin", ADMIN_PASSWORD, Role.admin, created_by="bench")
        client = TestClient(create_app(ctx, web=False))
        r = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        r.raise_for_status()

        mid = first + timedelta(days=15)
        day = {"since": mid.isoformat(), "until": (mid + timedelta(days=1)).isoformat()}
        queries: dict[str, dict] = {
            "first page (no filter)": {},
            "camera": {"camera": "cam3"},
            "kind": {"kind": "known_person", "reason": "bench"},  # by identity: a reason
            "person": {"person_id": 17, "reason": "bench"},
            "time range (1 day)": day,
            "camera + kind + time range": {"camera": "cam3", "kind": "person", **day},
            "two kinds": {"kind": ["face", "known_person"], "reason": "bench"},
        }

        def get(params: dict):
            def call() -> None:
                resp = client.get("/api/v1/events", params={"limit": 50, **params})
                resp.raise_for_status()
                assert resp.json()["events"]

            return call

        def measure() -> dict[str, float]:
            return {name: _median_ms(get(p), repeat) for name, p in queries.items()}

        shipped = measure()
        # Keyset page 10,000 rows deep beside OFFSET at the same depth.
        depth = min(10_000, n // 2)
        with db.engine.connect() as conn:
            row = conn.execute(
                select(Event.start, Event.id)
                .order_by(Event.start.desc(), Event.id.desc())
                .offset(depth)
                .limit(1)
            ).one()
        cursor = f"{row[0].replace(tzinfo=UTC).isoformat()}|{row[1]}"

        def by_offset() -> None:
            with db.session() as s:
                rows = list(
                    s.scalars(
                        select(Event)
                        .order_by(Event.start.desc(), Event.id.desc())
                        .offset(depth)
                        .limit(51)
                    )
                )
            assert rows

        keyset_ms = _median_ms(get({"cursor": cursor}), repeat)
        offset_ms = _median_ms(by_offset, repeat)

        with db.engine.begin() as conn:
            conn.execute(text(PROPOSED))
            conn.execute(text("ANALYZE"))
        proposed = measure()
        proposed_keyset = _median_ms(get({"cursor": cursor}), repeat)
        with db.engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_events_start_id"))
            for ix in COMPOSITE:
                conn.execute(text(f"DROP INDEX {ix}"))
        baseline = measure()
        client.close()
        db.close()

    for name in queries:
        target = 50.0 if name.startswith("first page") else 200.0
        figures.append(
            Figure(
                f"events: {name}, as shipped",
                shipped[name],
                "ms",
                target,
                higher_is_better=False,
                baseline=baseline[name],
                baseline_name="no composite indexes",
            )
        )
    for name in queries:
        target = 50.0 if name.startswith("first page") else 200.0
        figures.append(
            Figure(
                f"events: {name}, + index (start, id)",
                proposed[name],
                "ms",
                target,
                higher_is_better=False,
                baseline=shipped[name],
                baseline_name="as shipped",
            )
        )
    figures.append(
        Figure(
            f"events: keyset page {depth:,} deep, as shipped",
            keyset_ms,
            "ms",
            200.0,
            higher_is_better=False,
            baseline=offset_ms,
            baseline_name="OFFSET (SQL only)",
        )
    )
    figures.append(
        Figure(
            f"events: keyset page {depth:,} deep, + index (start, id)",
            proposed_keyset,
            "ms",
            200.0,
            higher_is_better=False,
            baseline=offset_ms,
            baseline_name="OFFSET (SQL only)",
        )
    )
    return figures


# --- live view ---------------------------------------------------------------------------


def stamped_jpeg(jpeg: bytes, at: float) -> bytes:
    """The JPEG with a COM segment holding `at` (a valid JPEG; viewers ignore comments)."""
    payload = f"vigil-at={at:.6f}".encode()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def stamp_of(jpeg: bytes) -> float | None:
    i = jpeg.find(b"vigil-at=")
    if i < 0:
        return None
    return float(jpeg[i + 9 : i + 9 + 17].split(b"\xff")[0])


@dataclass
class ViewerResult:
    frames: int = 0
    ages_ms: list[float] | None = None
    error: str = ""


def _viewer(url: str, token: str, seconds: float, out: ViewerResult) -> None:
    import httpx

    from vigil.bench.live import MjpegParts

    out.ages_ms = []
    parts = MjpegParts()
    try:
        with (
            httpx.Client(timeout=10) as c,
            c.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            r.raise_for_status()
            deadline = time.monotonic() + seconds
            for chunk in r.iter_bytes():
                for jpeg in parts.feed(chunk):
                    at = stamp_of(jpeg)
                    out.frames += 1
                    if at is not None:
                        out.ages_ms.append((time.time() - at) * 1000)
                if time.monotonic() > deadline:
                    return
    except Exception as exc:  # reported in the figures
        out.error = f"{type(exc).__name__}: {exc}"


def live_figures(viewers: int = 20, fps: float = 10.0, seconds: float = 5.0) -> list[Figure]:
    import uvicorn

    from vigil.api import ApiContext, accounts, create_app
    from vigil.api.auditing import MemoryAudit
    from vigil.store.models.users import Role
    from vigil.vision.image import encode_jpeg

    with tempfile.TemporaryDirectory(prefix="vigil-bench-live-") as tmp:
        cfg = site_config(Path(tmp))
        db = Database(cfg.storage.resolved_database_url())
        ctx = ApiContext(cfg, db, audit=MemoryAudit())
        user = accounts.create_user(db, "admin", ADMIN_PASSWORD, Role.admin, created_by="bench")
        token, _ = accounts.create_token(db, user.id, "bench")
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(ctx, web=False), host="127.0.0.1", port=port, log_level="warning"
            )
        )
        st = threading.Thread(target=server.run, daemon=True)
        st.start()
        while not server.started:
            time.sleep(0.02)

        stop = threading.Event()
        published = [0]

        def decoder() -> None:  # the one "decoder": makes, encodes and publishes each frame
            rng = np.random.default_rng(0)
            base = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                frame = np.roll(base, i * 4, axis=1)
                at = time.time()
                ctx.live.publish("cam0", stamped_jpeg(encode_jpeg(frame, 80), at), at)
                published[0] += 1
                i += 1
                stop.wait(max(0.0, 1 / fps - (time.monotonic() - t0)))

        threading.Thread(target=decoder, name="live-cam0", daemon=True).start()
        url = f"http://127.0.0.1:{port}/api/v1/cameras/cam0/live.mjpeg?max_fps=30"

        def run(n: int) -> tuple[list[ViewerResult], float, int]:
            results = [ViewerResult() for _ in range(n)]
            before = published[0]
            t0 = time.monotonic()
            threads = [
                threading.Thread(target=_viewer, args=(url, token, seconds, r)) for r in results
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(seconds + 15)
            took = time.monotonic() - t0
            decoders = sum(1 for t in threading.enumerate() if t.name.startswith("live-"))
            return results, (published[0] - before) / took, decoders

        one, pub_one, _ = run(1)
        many, pub_many, decoders = run(viewers)
        stop.set()
        ctx.live.close()
        server.should_exit = True
        st.join(10)
        db.close()

    errors = [r.error for r in one + many if r.error]
    if errors:
        raise RuntimeError(f"viewers failed: {errors[0]}")

    def fps_of(rs: list[ViewerResult]) -> float:
        return min(r.frames for r in rs) / seconds

    def age(rs: list[ViewerResult], q: float) -> float:
        ages = sorted(a for r in rs for a in (r.ages_ms or []))
        return ages[min(len(ages) - 1, int(q * len(ages)))] if ages else float("nan")

    return [
        Figure(
            f"live: fps of the slowest of {viewers} viewers (source {fps:g} fps)",
            fps_of(many),
            "fps",
            fps * 0.9,
            baseline=fps_of(one),
            baseline_name="1 viewer",
        ),
        Figure(
            f"live: frame age p50, {viewers} viewers",
            age(many, 0.5),
            "ms",
            1000.0,
            higher_is_better=False,
            baseline=age(one, 0.5),
            baseline_name="1 viewer",
        ),
        Figure(
            f"live: frame age p95, {viewers} viewers",
            age(many, 0.95),
            "ms",
            1000.0,
            higher_is_better=False,
            baseline=age(one, 0.95),
            baseline_name="1 viewer",
        ),
        Figure(
            f"live: decoder threads with {viewers} viewers",
            decoders,
            "",
            1.0,
            higher_is_better=False,
            baseline=1,
            baseline_name="1 viewer",
        ),
        Figure(
            f"live: frames published/s with {viewers} viewers",
            pub_many,
            "fps",
            baseline=pub_one,
            baseline_name="1 viewer",
        ),
    ]


def run(events: int = 1_000_000, viewers: int = 20) -> list[Figure]:
    return events_figures(events) + live_figures(viewers)
