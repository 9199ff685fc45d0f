"""Migration assign1 builds the slot counters of items that already exist."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.models import Assignment, Item, ItemSlots, Project, User, utcnow
from tests.factories import insert_as_of


def test_upgrade_counts_existing_leases(database_url):
    engine = db.make_engine(database_url)
    try:
        db.downgrade(engine, "0001")
        with Session(engine) as s:
            project = Project(slug="old", name="Old", overlap=2)
            insert_as_of(s, project)  # the table as it was then, without later columns
            rater, other = User(username="r1"), User(username="r2")
            s.add_all([rater, other])
            s.flush()
            items = [
                insert_as_of(
                    s,
                    Item(project_id=project.id, external_id=ext, content_hash=ext, expertise=tags),
                )
                for ext, tags in (("a", ["Law", "medicine"]), ("b", []))
            ]
            later = utcnow() + timedelta(minutes=5)
            s.add_all(
                [
                    Assignment(
                        project_id=project.id,
                        item_id=items[0].id,
                        rater_id=rater.id,
                        status="submitted",
                        expires_at=later,
                    ),
                    Assignment(
                        project_id=project.id,
                        item_id=items[0].id,
                        rater_id=other.id,
                        status="active",
                        expires_at=later,
                    ),
                    Assignment(
                        project_id=project.id,
                        item_id=items[1].id,
                        rater_id=rater.id,
                        status="skipped",
                        expires_at=later,
                    ),
                ]
            )
            s.commit()
        db.upgrade(engine)
        with Session(engine) as s:
            rows = s.execute(
                sa.select(
                    ItemSlots.expertise_key, ItemSlots.taken, ItemSlots.skips, ItemSlots.open
                ).order_by(ItemSlots.item_id)
            ).all()
        assert [tuple(r) for r in rows] == [("law|medicine", 2, 0, False), ("", 0, 1, True)]
    finally:
        engine.dispose()
