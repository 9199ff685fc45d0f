"""A pytest worker's PostgreSQL database: emptied between tests rather than cloned anew.

Cloning the migrated template for each test cost the server ~0.4 s of CPU (it copies
the files and checkpoints; dropping scans the buffer pool), more than most tests. The
worker instead keeps one clone and, after each test, ends the test's connections and
deletes every row, with triggers off (judgments are append-only) and sequences back at
1, so each test starts on the same empty, migrated database: ~2 ms.

A test that changed what deleting rows cannot undo (the schema, a trigger, the
migration version, a database setting) leaves a database whose fingerprint differs from
the template's; that one is dropped, and the next test gets a fresh clone.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

# What a test can change that deleting rows does not undo.
FINGERPRINT = """
SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
  SELECT concat_ws(':', c.relname, c.relkind::text, a.attname,
                   format_type(a.atttypid, a.atttypmod), a.attnotnull::text,
                   pg_get_expr(d.adbin, d.adrelid)) AS x
    FROM pg_class c
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT concat_ws(':', conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT concat_ws(':', tgname, tgenabled::text, pg_get_triggerdef(oid))
    FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT concat_ws(':', proname, md5(prosrc))
    FROM pg_proc WHERE pronamespace = 'public'::regnamespace
  UNION ALL SELECT pg_get_indexdef(indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
   WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT array_to_string(setconfig, ',')
    FROM pg_db_role_setting
   WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL SELECT version_num FROM alembic_version
) AS parts
"""

END_OTHERS = """
SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def url_of(server_url: str, database: str) -> str:
    """Return the URL of ``database`` on the server of ``server_url``."""
    return sa.make_url(server_url).set(database=database).render_as_string(hide_password=False)


class WorkerDatabase:
    """This worker's database cloned from ``template``, lent to one test at a time."""

    def __init__(self, server_url: str, template: str) -> None:
        self.server_url = server_url
        self.template = template
        self.name: str | None = None
        self.clean_sql = ""
        self.fingerprint = ""

    def lend(self) -> str:
        """Return the URL of the empty database for the next test."""
        if self.name is None:
            self._clone()
        assert self.name is not None
        return url_of(self.server_url, self.name)

    def give_back(self) -> None:
        """Empty the database after a test, or drop it if the test changed more than rows."""
        assert self.name is not None
        # A connection of its own each time: a test may end every other connection.
        with self._connect() as conn:
            conn.exec_driver_sql(END_OTHERS)
            changed = conn.exec_driver_sql(FINGERPRINT).scalar_one() != self.fingerprint
            if not changed:
                conn.exec_driver_sql(self.clean_sql)
        if changed:
            self.close()

    def close(self) -> None:
        """Drop the database (it is cloned again when next lent)."""
        if self.name is not None:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.name = None

    def _clone(self) -> None:
        name = f"rr_test_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.name = name
        with self._connect() as conn:
            self.fingerprint = conn.exec_driver_sql(FINGERPRINT).scalar_one()
            tables = conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'alembic_version' ORDER BY tablename"
            ).scalars()
            sequences = conn.exec_driver_sql(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            ).scalars()
            # One transaction; "replica" turns off every trigger, foreign keys' included.
            self.clean_sql = (
                "BEGIN; SET LOCAL session_replication_role = replica; "
                + "".join(f'DELETE FROM "{t}"; ' for t in tables)
                + "".join(f"SELECT setval('\"{s}\"', 1, false); " for s in sequences)
                + "COMMIT;"
            )

    def _connect(self) -> sa.Connection:
        # Autocommit: the cleaning is its own transaction, and no snapshot is held.
        assert self.name is not None
        engine = sa.create_engine(
            url_of(self.server_url, self.name), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )
        return engine.connect()

    def _admin(self, statement: str) -> None:
        admin = sa.create_engine(
            self.server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
        admin.dispose()
