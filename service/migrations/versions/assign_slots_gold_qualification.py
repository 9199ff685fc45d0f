"""assignment: item slot counters (kept by triggers), gold scores, qualification overrides

Revision ID: assign1
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.models

revision: str = "assign1"
down_revision: str | None = "pull1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOT_COLUMNS = (
    "item_id, project_id, priority, is_gold, flagged, expertise_key, taken, skips, open, rand"
)

# The expertise key: required tags lower-cased, de-duplicated, sorted, joined by "|".
SQLITE_KEY = (
    "COALESCE((SELECT group_concat(v, '|') FROM (SELECT DISTINCT lower(value) AS v"
    " FROM json_each({col}) ORDER BY v)), '')"
)
SQLITE_RAND = "(abs(random()) % 1000000000) / 1000000000.0"
OPEN = "(NOT {i}.is_gold AND NOT {i}.flagged AND {taken} < (SELECT overlap FROM project WHERE id = {i}.project_id))"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER item_slots_insert AFTER INSERT ON item BEGIN
  INSERT INTO item_slots ({SLOT_COLUMNS}) VALUES (NEW.id, NEW.project_id, NEW.priority,
    NEW.is_gold, NEW.flagged, {SQLITE_KEY.format(col="NEW.expertise")}, 0, 0,
    NOT NEW.is_gold AND NOT NEW.flagged, {SQLITE_RAND});
END""",
    f"""CREATE TRIGGER item_slots_update AFTER UPDATE OF priority, is_gold, flagged, expertise
ON item BEGIN
  UPDATE item_slots SET priority = NEW.priority, is_gold = NEW.is_gold, flagged = NEW.flagged,
    expertise_key = {SQLITE_KEY.format(col="NEW.expertise")},
    open = {OPEN.format(i="NEW", taken="item_slots.taken")}
  WHERE item_id = NEW.id;
END""",
    """CREATE TRIGGER item_slots_delete BEFORE DELETE ON item BEGIN
  DELETE FROM item_slots WHERE item_id = OLD.id;
END""",
]

PG_STATEMENTS = [
    """CREATE FUNCTION rankroom_expertise_key(tags json) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(string_agg(DISTINCT lower(t), '|' ORDER BY lower(t)), '')
  FROM json_array_elements_text(tags) AS t
$$""",
    f"""CREATE FUNCTION rankroom_item_slots_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO item_slots ({SLOT_COLUMNS}) VALUES (NEW.id, NEW.project_id, NEW.priority,
      NEW.is_gold, NEW.flagged, rankroom_expertise_key(NEW.expertise), 0, 0,
      NOT NEW.is_gold AND NOT NEW.flagged, random());
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE item_slots SET priority = NEW.priority, is_gold = NEW.is_gold,
      flagged = NEW.flagged, expertise_key = rankroom_expertise_key(NEW.expertise),
      open = {OPEN.format(i="NEW", taken="item_slots.taken")}
    WHERE item_id = NEW.id;
    RETURN NEW;
  END IF;
  DELETE FROM item_slots WHERE item_id = OLD.id;
  RETURN OLD;
END
$$""",
    "CREATE TRIGGER item_slots_insert AFTER INSERT ON item FOR EACH ROW"
    " EXECUTE FUNCTION rankroom_item_slots_sync()",
    "CREATE TRIGGER item_slots_update AFTER UPDATE OF priority, is_gold, flagged, expertise"
    " ON item FOR EACH ROW EXECUTE FUNCTION rankroom_item_slots_sync()",
    "CREATE TRIGGER item_slots_delete BEFORE DELETE ON item FOR EACH ROW"
    " EXECUTE FUNCTION rankroom_item_slots_sync()",
]


def _backfill(sqlite: bool) -> None:
    # Leases still marked active count as taken; the next sweep frees the expired ones.
    key = SQLITE_KEY.format(col="i.expertise") if sqlite else "rankroom_expertise_key(i.expertise)"
    rand = SQLITE_RAND if sqlite else "random()"
    count = "(SELECT count(*) FROM assignment a WHERE a.item_id = i.id AND a.status {})"
    taken = count.format("IN ('submitted', 'active')")
    skips = count.format("= 'skipped'")
    op.execute(
        f"INSERT INTO item_slots ({SLOT_COLUMNS}) SELECT i.id, i.project_id, i.priority,"
        f" i.is_gold, i.flagged, {key}, {taken}, {skips},"
        f" {OPEN.format(i='i', taken=taken)}, {rand} FROM item i"
    )


def upgrade() -> None:
    op.create_table(
        "item_slots",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("is_gold", sa.Boolean(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("expertise_key", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("skips", sa.Integer(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("rand", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index(
        "ix_item_slots_fill", "item_slots", ["project_id", "open", "priority", "taken", "rand"]
    )
    op.create_index(
        "ix_item_slots_spread",
        "item_slots",
        ["project_id", "open", sa.text("priority DESC"), "taken", "rand"],
    )
    op.create_index("ix_item_slots_gold", "item_slots", ["project_id", "is_gold"])
    op.create_table(
        "gold_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("judgment_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("rater_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["judgment_id"], ["judgment.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["rater_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("judgment_id"),
    )
    op.create_index("ix_gold_score_project_rater", "gold_score", ["project_id", "rater_id"])
    op.create_table(
        "qualification_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("rater_id", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["admin_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["rater_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "rater_id"),
    )
    op.create_index(
        "ix_assignment_project_status_expires",
        "assignment",
        ["project_id", "status", "expires_at"],
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(PG_STATEMENTS[0])
    _backfill(sqlite)
    for statement in SQLITE_TRIGGERS if sqlite else PG_STATEMENTS[1:]:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in ("item_slots_insert", "item_slots_update", "item_slots_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON item"))
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS rankroom_item_slots_sync()")
        op.execute("DROP FUNCTION IF EXISTS rankroom_expertise_key(json)")
    op.drop_index("ix_assignment_project_status_expires", table_name="assignment")
    op.drop_table("qualification_override")
    op.drop_index("ix_gold_score_project_rater", table_name="gold_score")
    op.drop_table("gold_score")
    op.drop_index("ix_item_slots_gold", table_name="item_slots")
    op.drop_index("ix_item_slots_spread", table_name="item_slots")
    op.drop_index("ix_item_slots_fill", table_name="item_slots")
    op.drop_table("item_slots")
