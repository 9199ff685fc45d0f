from service import create_app, db


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"ok": True}


def test_readyz_reports_current_schema(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json() == {"ok": True, "schema": db.head_revision()}


def test_refuses_to_start_on_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    try:
        create_app({"DATABASE_URL": url, "SECRET_KEY": "x"})
    except db.SchemaOutOfDate as exc:
        assert "rankroom db upgrade" in str(exc)
    else:
        raise AssertionError("app started on an unmigrated database")


def test_readyz_503_when_schema_behind(app, client):
    db.downgrade(db.engine(), "base")
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["ok"] is False and body["status"] == 503
    assert "rankroom db upgrade" in body["error"]
