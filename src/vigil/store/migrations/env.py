"""Alembic environment: runs on the connection that `vigil.store.db.Database` hands over."""

from alembic import context
from sqlalchemy import create_engine

import vigil.store.models  # noqa: F401  (registers every table on Base.metadata)
from vigil.store.base import Base

config = context.config
target_metadata = Base.metadata


def run(connection) -> None:  # type: ignore[no-untyped-def]
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
    with create_engine(config.get_main_option("sqlalchemy.url")).begin() as conn:
        run(conn)
