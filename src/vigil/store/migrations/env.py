"""Alembic environment: runs on the connection that `vigil.store.db.Database` hands over."""

from alembic import context
from sqlalchemy import Connection, create_engine

import vigil.store.models  # noqa: F401  (registers every table on Base.metadata)
from vigil.store.base import Base

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: no connection handed over and no sqlalchemy.url")
    with create_engine(url).begin() as conn:
        run(conn)
