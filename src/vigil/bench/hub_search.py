"""`vigil bench hub --search`: search by photo across N templates at the hub, PostgreSQL +
pgvector HNSW (embedded pgserver), beside an exact search (sequential scan) in the same run.

Templates are random unit-norm 128-d vectors, loaded by binary COPY into the hub's own tables
(the migration's `vec vector(128)` column and HNSW index, m=16, ef_construction=64), the
index dropped during the load and rebuilt after it with `maintenance_work_mem` raised and
parallel workers. Probes are stored templates plus noise (cosine ~0.75 to their source, like
a new photo of an enrolled person): random probes have no true neighbour to find. i.i.d.
random vectors are HNSW's worst case (no neighbourhood structure); `clustered` instead puts
each person's templates near their own centre (cosine ~0.9), as real face templates are, and
probes near the centre. Queries go
through `vigil.hub.search.nearest_templates`, the function `search_across_sites` uses. recall@1 is
checked against numpy's exact answer over every vector.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vigil.bench.report import Figure
from vigil.hub.search import nearest_templates
from vigil.store.db import Database

MODEL = "bench"
DIM = 128


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _load(uri: str, vectors: np.ndarray, per_person: int, log: Callable[[str], None]) -> None:
    """People and templates by binary COPY (one person per `per_person` templates)."""
    import psycopg
    from pgvector.psycopg import register_vector

    n = len(vectors)
    people = (n + per_person - 1) // per_person
    with psycopg.connect(uri, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("DROP INDEX IF EXISTS ix_hub_templates_vec")
        with conn.cursor() as cur:
            with cur.copy(
                "COPY hub_people (id, uid, name, legal_basis, legal_basis_note, enrolled_by, "
                "enrolled_at) FROM STDIN"
            ) as cp:
                for i in range(people):
                    cp.write_row((i + 1, str(uuid.uuid4()), f"p{i}", "consent", "", "bench", "now"))
            with cur.copy(
                "COPY hub_templates (id, person_id, embedding, model, image_sha256, quality, "
                "enrolled_at, vec) FROM STDIN WITH (FORMAT BINARY)"
            ) as cp:
                cp.set_types(
                    ["int4", "int4", "bytea", "text", "text", "float8", "timestamp", "vector"]
                )
                import datetime as _dt

                now = _dt.datetime.now()
                for i in range(n):
                    v = vectors[i]
                    cp.write_row(
                        (i + 1, i // per_person + 1, v.tobytes(), MODEL, f"{i:064d}", 0.9, now, v)
                    )
                    if i and i % 200_000 == 0:
                        log(f"  loaded {i:,}")
        conn.execute("SELECT setval('hub_people_id_seq', %s)", (people,))
        conn.execute("SELECT setval('hub_templates_id_seq', %s)", (n,))
        conn.execute("VACUUM ANALYZE hub_templates")


def _build(uri: str, maintenance_mem: str, workers: int) -> float:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"SET maintenance_work_mem = '{maintenance_mem}'")
        conn.execute(f"SET max_parallel_maintenance_workers = {int(workers)}")
        t0 = time.monotonic()
        conn.execute(
            "CREATE INDEX ix_hub_templates_vec ON hub_templates "
            "USING hnsw (vec vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        return time.monotonic() - t0


def _exact_ms(db: Database, probes: np.ndarray) -> list[float]:
    """The same query with index scans off: a sequential scan over every template."""
    from sqlalchemy import text

    out = []
    for q in probes:
        with db.session() as s:
            s.execute(text("SET LOCAL enable_indexscan = off"))
            t0 = time.perf_counter()
            s.execute(
                text(
                    "SELECT person_id FROM hub_templates WHERE model = :m AND vec IS NOT NULL "
                    "ORDER BY vec <=> CAST(:q AS vector) LIMIT 10"
                ),
                {"q": str(q.tolist()), "m": MODEL},
            ).all()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def run(
    templates: int = 1_000_000,
    queries: int = 200,
    ef_search: Sequence[int] = (100, 200, 400),
    per_person: int = 5,
    maintenance_mem: str = "2GB",
    workers: int = 2,
    clustered: bool = False,
    log: Callable[[str], None] = print,
) -> list[Figure]:
    from vigil.hub.pg import embedded_postgres_url

    rng = np.random.default_rng(2026)
    with tempfile.TemporaryDirectory(prefix="vbs", dir="/tmp") as tmp:
        url = embedded_postgres_url(Path(tmp) / "pg")
        db = Database(url)
        uri = url.replace("postgresql+psycopg://", "postgresql://", 1)
        log(
            f"generating {templates:,} {'clustered' if clustered else 'random'} unit-norm templates"
        )
        if clustered:  # each person's templates near their own centre (cosine ~0.9 to it)
            centres = _unit(rng.normal(size=(-(-templates // per_person), DIM)))
            idx = np.arange(templates) // per_person
            vectors = np.empty((templates, DIM), np.float32)
            for k in range(0, templates, 100_000):
                part = _unit(rng.normal(size=(min(100_000, templates - k), DIM)))
                vectors[k : k + len(part)] = _unit(
                    centres[idx[k : k + len(part)]] * 0.9 + part * 0.44
                )
        else:
            vectors = _unit(rng.normal(size=(templates, DIM)).astype(np.float32))
        t0 = time.monotonic()
        _load(uri, vectors, per_person, log)
        load_s = time.monotonic() - t0
        log(f"loaded by COPY in {load_s:.1f} s; building HNSW ({maintenance_mem}, {workers} w.)")
        build_s = _build(uri, maintenance_mem, workers)
        log(f"HNSW built in {build_s:.1f} s")

        src = rng.integers(0, templates, size=queries)
        noise = _unit(rng.normal(size=(queries, DIM)).astype(np.float32))
        if clustered:  # a new photo of an enrolled person: near their centre
            probes = _unit(centres[src // per_person] * 0.85 + noise * 0.53)
        else:  # a stored template plus noise (cosine ~0.75 to it)
            probes = _unit(vectors[src] * 0.75 + noise * 0.66)
        best = np.concatenate(
            [np.argmax(vectors @ probes[k : k + 16].T, axis=0) for k in range(0, queries, 16)]
        )
        truth = best // per_person + 1  # the person of the exact nearest template

        exact = _exact_ms(db, probes[: min(20, queries)])
        per_ef = []
        for ef in ef_search:
            hnsw_ms, hits = [], 0
            for q, want in zip(probes, truth, strict=True):
                with db.session() as s:
                    t1 = time.perf_counter()
                    found, method = nearest_templates(s, q, model=MODEL, k=10, ef_search=ef)
                    hnsw_ms.append((time.perf_counter() - t1) * 1000)
                assert method == "hnsw"
                hits += bool(found) and found[0][0] == want
            p50, p95 = np.percentile(hnsw_ms, [50, 95])
            per_ef.append((ef, float(p50), float(p95), hits / queries))
            log(
                f"ef_search={ef}: p50 {p50:.2f} ms, p95 {p95:.2f} ms, recall@1 {hits / queries:.3f}"
            )
        db.close()
    e50 = float(np.median(exact))
    log(f"exact (seq scan, {len(exact)} queries): p50 {e50:.1f} ms")
    label = f"{templates:,} templates"
    figs = []
    for ef, p50, p95, recall in per_ef:
        figs += [
            Figure(f"search p50, {label}, ef {ef}", p50, "ms", 50, False, e50, "exact seq scan"),
            Figure(f"search p95, {label}, ef {ef}", p95, "ms", 50, False, e50, "exact scan p50"),
            Figure(f"recall@1 vs exact, ef {ef}", recall, "", None, True),
        ]
    return [
        *figs,
        Figure(f"HNSW build, {label}", build_s, "s", None, False),
        Figure(f"COPY load, {label}", load_s, "s", None, False),
    ]
