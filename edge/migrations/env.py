"""Alembic environment: runs on the daemon's own engine, batch mode for SQLite."""

from alembic import context
from sqlmodel import SQLModel

import edge.models_registry  # noqa: F401  (imports every table so metadata is complete)

config = context.config
engine = config.attributes.get("engine")
target_metadata = SQLModel.metadata


def run() -> None:
    if engine is None:
        from sqlalchemy import create_engine

        connectable = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    else:
        connectable = engine
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
