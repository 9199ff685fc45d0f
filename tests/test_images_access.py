"""Who may fetch an image: a rater only through an item they hold or judged (items/images.py)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from service import db
from service.images import ImageStore, image_url, marker
from service.items import importing
from service.models import Assignment, Item, ItemImage
from tests.pictures import shapes
from tests.test_images_import import BLUE, RED, data_uri, image_part, sha

GOLD = shapes("triangle", (0, 160, 0))


def _row(ext: str, picture: bytes, **extra: object) -> dict:
    return {
        "id": ext,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Which?"}, image_part(data_uri(picture))],
            }
        ],
        "responses": [{"id": "a", "content": "This one."}, {"id": "b", "content": "That one."}],
        **extra,
    }


def _project(app, make):
    """Three items, one picture each: the first handed out (priority), a plain one, a gold one."""
    project = make.project(slug="pictures", mode="pairwise", scale="binary", overlap=1)
    rows = [
        # Metadata is never shown: a marker there gives no access to the picture it names.
        _row("first", RED, priority=5, metadata={"note": marker(sha(GOLD))}),
        {
            "id": "other",
            "prompt": "Which picture is blue?",
            "responses": [
                {
                    "id": "a",
                    "content": [{"type": "text", "text": "This: "}, image_part(data_uri(BLUE))],
                },
                {"id": "b", "content": "None."},
            ],
        },
        _row("gold", GOLD, gold={"preferred": "a"}),
    ]
    with app.app_context():
        result = importing.import_items(
            engine=db.engine(),
            project=project,
            rows=list(enumerate(rows, start=1)),
            images=ImageStore.from_config(app.config),
        )
    assert result.created == 3, result.errors
    return project


def _status(client, project, picture: bytes) -> int:
    """Fetch a picture as the screen's <img> does; a refusal never carries its bytes."""
    with client.get(image_url(project.id, sha(picture))) as r:
        assert (r.status_code == 200) == (r.data == picture)
        return r.status_code


def test_a_rater_fetches_an_image_only_of_an_item_they_hold_or_judged(app, client, auth, make):
    project = _project(app, make)
    auth.as_role("rater")
    # A rater of the project who knows the sha256s, before any item was handed to them.
    assert [_status(client, project, p) for p in (RED, BLUE, GOLD)] == [404, 404, 404]

    lease = client.post(
        f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()}
    ).get_json()["assignment"]
    with app.app_context():
        held = db.session().get(Assignment, lease["id"])
        assert held.status == "active"
    with client.get(image_url(project.id, sha(RED))) as r:
        assert (r.status_code, r.data, r.mimetype) == (200, RED, "image/png")
    assert [_status(client, project, p) for p in (BLUE, GOLD)] == [404, 404]

    # Judged: the screen reopens it to revise within the edit window; the image stays.
    r = client.post(
        f"/api/v1/assignments/{lease['id']}/judgment",
        json={"client_id": uuid.uuid4().hex, "verdict": {"choice": "A"}},
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 201, r.get_json()
    assert [_status(client, project, p) for p in (RED, BLUE, GOLD)] == [200, 404, 404]


def test_a_skipped_item_and_another_raters_item_show_no_image(app, client, auth, make):
    project = _project(app, make)
    auth.as_role("rater")
    lease = client.post(
        f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()}
    ).get_json()["assignment"]
    r = client.post(
        f"/api/v1/assignments/{lease['id']}/skip",
        json={"reason": "expertise"},
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 200, r.get_json()
    assert _status(client, project, RED) == 404
    auth.as_role("rater")  # a second rater, signed in on the same client
    assert _status(client, project, RED) == 404


def test_the_team_sees_every_image(app, client, auth, make):
    project = _project(app, make)
    auth.as_role("admin")
    assert [_status(client, project, p) for p in (RED, BLUE, GOLD)] == [200, 200, 200]


def _links(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session().execute(
            sa.select(Item.external_id, ItemImage.sha256)
            .join(Item, Item.id == ItemImage.item_id)
            .order_by(Item.id, ItemImage.sha256)
        )
        return [tuple(r) for r in rows]


def test_the_import_links_each_item_to_the_images_its_content_shows(app, make):
    project = _project(app, make)
    assert _links(app) == [("first", sha(RED)), ("other", sha(BLUE)), ("gold", sha(GOLD))]
    # An update replaces an unjudged item's links with its new content's.
    with app.app_context():
        result = importing.import_items(
            engine=db.engine(),
            project=project,
            rows=[(1, _row("other", RED))],
            update=True,
            images=ImageStore.from_config(app.config),
        )
    assert result.updated == 1, result.errors
    assert _links(app) == [("first", sha(RED)), ("other", sha(RED)), ("gold", sha(GOLD))]


def test_the_migration_links_the_items_that_exist(app, make):
    """Items imported before item_image existed get their links from their markers."""
    _project(app, make)
    expected = [("first", sha(RED)), ("other", sha(BLUE)), ("gold", sha(GOLD))]
    assert _links(app) == expected
    engine = db.engine_of(app)
    db.downgrade(engine, "judge_run_lease")
    db.upgrade(engine)
    assert _links(app) == expected


def test_an_items_images_are_those_in_the_content_it_shows():
    """Prompt, turns, responses and a response's tool turns show images; metadata never."""
    from service.items.images import shown_shas

    a, b, c, d, e = (f"{n}" * 64 for n in "abcde")
    data = {
        "prompt": f"Look: {marker(a)}",
        "messages": [
            {"role": "user", "content": marker(b)},
            {"role": "assistant", "content": None},
        ],
        "responses": [
            {"content": f"{marker(c)} and {marker(c)}", "metadata": {"x": marker(e)}},
            {"content": "none", "tool_turns": [{"role": "tool", "content": marker(d)}]},
        ],
        "metadata": {"note": marker(e)},
    }
    assert shown_shas(data) == {a, b, c, d}
