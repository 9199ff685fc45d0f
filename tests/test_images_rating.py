"""Rating items with images: a rewrite keeps the response's images and adds none."""

from __future__ import annotations

import sqlalchemy as sa

from service import db
from service.images import ImageStore, marker
from service.items import importing
from service.models import Assignment, Judgment
from tests.test_images_import import BLUE, RED, data_uri, image_part, sha
from tests.test_rewrites import RUBRIC, _errors, _submit


def _image_lease(app, client, auth, make) -> tuple[int, str]:
    """Lease an item whose both responses show RED; return the lease and A's text."""
    project = make.project(mode="pairwise", rubric=RUBRIC, confirm_contradictions=False, edit="any")
    answer = [{"type": "text", "text": "It is this one: "}, image_part(data_uri(RED))]
    row = {
        "id": "q1",
        "prompt": "Which picture?",
        "responses": [
            {"id": "a", "content": answer},
            {"id": "b", "content": answer + [image_part(data_uri(RED))]},
        ],
    }
    with app.app_context():
        result = importing.import_items(
            engine=db.engine(),
            project=project,
            rows=[(1, row)],
            images=ImageStore.from_config(app.config),
        )
    assert result.created == 1, result.errors
    r = client.post(f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()})
    lease_id = r.get_json()["assignment"]["id"]
    with app.app_context():
        shown = db.session().get(Assignment, lease_id).shown_order
    first = "It is this one: " + marker(sha(RED)) * (1 if shown[0] == "a" else 2)
    return lease_id, first


def test_a_rewrite_may_not_name_an_image_its_response_does_not_show(app, client, auth, make):
    auth.as_role("rater")
    lease_id, original = _image_lease(app, client, auth, make)
    forged = original + " Also " + marker(sha(BLUE))
    r = _submit(client, auth, lease_id, {"response": "A", "text": forged})
    assert r.status_code == 422, r.get_json()
    assert _errors(r)["errors"] == [
        {
            "field": "rewrite.text",
            "message": f"may keep the response's images but not add others: {sha(BLUE)}",
        }
    ]
    with app.app_context():
        assert (
            db.session().execute(sa.select(sa.func.count()).select_from(Judgment)).scalar_one() == 0
        )
    # Keeping (or dropping) the response's own image is a rewrite like any other.
    kept = "Better: " + marker(sha(RED))
    r = _submit(client, auth, lease_id, {"response": "A", "text": kept})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["rewrite"] == {"response": "A", "text": kept}
