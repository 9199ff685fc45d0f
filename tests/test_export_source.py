"""How the export reads its judgments (service/export/source.py)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from service import db
from tests.export_dataset import build, export_bytes


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_judgments_stream_in_item_order_from_an_index_not_a_sort(app: Any, make: Any) -> None:
    """SQLite hands a project's judgments over in (item, id) order from an index.

    Without ``ix_judgment_project_item`` it sorts every judgment of the project in a
    temporary B-tree before the first row (a second of CPU at a million judgments). The
    query is the one a real export runs, caught as it is sent.
    """
    build(make)
    sent: list[tuple[str, Any]] = []

    def catch(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "ORDER BY judgment.item_id, judgment.id" in statement:
            sent.append((statement, params))

    with app.app_context():
        engine = db.engine()
        sa.event.listen(engine, "before_cursor_execute", catch)
        try:
            data, summary = export_bytes(app, format="dpo")
        finally:
            sa.event.remove(engine, "before_cursor_execute", catch)
        assert data and summary.judgments_read > 0
        ((statement, params),) = sent
        with engine.connect() as conn:
            plan = [
                row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            ]
    assert "SEARCH judgment USING INDEX ix_judgment_project_item (project_id=?)" in plan
    assert not [step for step in plan if "TEMP B-TREE" in step]
