from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from callcenter.db.database import Database, alembic_config, upgrade
from callcenter.db.models import Base


def _schema_differences(db: Database) -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_given_fresh_database_when_upgraded_then_schema_matches_models(db):
    assert _schema_differences(db) == []


def test_given_fresh_database_when_upgraded_then_every_model_table_exists(db):
    assert set(Base.metadata.tables) <= _tables(db)


def test_given_upgraded_database_when_upgraded_again_then_nothing_changes(db):
    db.upgrade()

    assert _schema_differences(db) == []


def test_given_url_when_module_upgrade_runs_then_schema_is_at_head(database_url):
    upgrade(database_url)

    db = Database(database_url)
    try:
        assert _schema_differences(db) == []
    finally:
        db.close()


def test_given_upgraded_database_when_downgraded_to_base_then_only_alembic_version_remains(db):
    with db.engine.begin() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    assert _tables(db) == {"alembic_version"}
