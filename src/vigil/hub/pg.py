"""The hub's embedded PostgreSQL 16 + pgvector (PyPI `pgserver`), for a hub without its own.

Unix socket only. As root, pgserver creates a `pgserver` system user that owns the data
folder; keep the folder path short (the socket path has a length limit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_servers: list[Any] = []  # kept alive for the life of the process


def embedded_postgres_url(data_dir: Path) -> str:
    """Start (or reopen) the embedded server in `data_dir` with the vector extension; return
    its SQLAlchemy URL (psycopg 3 driver)."""
    import pgserver
    import psycopg

    data_dir.mkdir(parents=True, exist_ok=True)
    srv = pgserver.get_server(str(data_dir))
    _servers.append(srv)
    uri = srv.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)
