"""Migrations build the schema the models declare, from empty, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from service import db


def test_models_match_migrations(app):
    with db.engine().connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata
        )
    assert diff == [], "models and migrations differ: write a migration"


def test_downgrade_to_empty_and_upgrade_again(app):
    db.downgrade(db.engine(), "base")
    assert db.current_revision(db.engine()) is None
    db.upgrade(db.engine())
    assert db.current_revision(db.engine()) == db.head_revision()
