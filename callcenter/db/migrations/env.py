"""Alembic environment. The Config is built in code (`callcenter.db.database.alembic_config`): the URL comes
from `config.attributes["url"]` (or the `sqlalchemy.url` main option), and a caller that already holds a
connection passes it as `config.attributes["connection"]`."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from callcenter.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url():
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set config.attributes['url'] or the sqlalchemy.url option")
    return url


def _configure(**kwargs) -> None:
    # Batch mode lets later revisions alter columns on SQLite, which has almost no ALTER TABLE.
    context.configure(target_metadata=target_metadata, render_as_batch=True, compare_type=True, **kwargs)


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


def _run_on(connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
