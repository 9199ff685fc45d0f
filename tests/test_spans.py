"""Error spans: the project's label set, validation of marked spans, storage, F1, export."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from sqlmodel import select

from service import cli, db
from service.models import Assignment, AuditEvent, Judgment, Project
from service.stats.spans import SpanJudgment, merge, overlap, span_f1
from tests.factories import item_row

LABELS = ["factual error", "unsafe", "hallucinated citation"]
# Astral characters (a waving hand with a skin tone is two code points, four UTF-16
# units) before the marked words: code points and UTF-16 offsets differ there.
TEXT_A = "Hi 👋🏽! The 🐍 Python language was first released in 1989."
TEXT_B = "Python 1.0 came out in January 1994 (see Smith, 2031)."
CITED = TEXT_B.index("Smith, 2031")


def _headers(auth):
    return {"X-CSRF-Token": auth.csrf()}


def _row(ext_id="q1"):
    return item_row(
        ext_id,
        responses=[
            {"id": "a", "model": "m-a", "content": TEXT_A},
            {"id": "b", "model": "m-b", "content": TEXT_B},
        ],
    )


def _lease(client, auth, make, **settings):
    settings.setdefault("span_labels", LABELS)
    project = make.project(mode="pairwise", scale="ternary", **settings)
    make.items(project, [_row()])
    r = client.post(f"/api/v1/projects/{project.slug}/next", headers=_headers(auth))
    assert r.status_code == 200, r.get_json()
    return project, r.get_json()["assignment"]["id"]


def _submit(client, auth, lease_id, spans, **extra):
    body = {"client_id": uuid.uuid4().hex, "verdict": {"choice": "A"}, "spans": spans, **extra}
    return client.post(
        f"/api/v1/assignments/{lease_id}/judgment", json=body, headers=_headers(auth)
    )


def _rows(app, model):
    with app.app_context():
        return list(db.session().exec(select(model).order_by(model.id)))


def _label_of(app, lease_id, text):
    """Return the label (A or B) the rater saw ``text`` under on this lease."""
    with app.app_context():
        order = db.session().get(Assignment, lease_id).shown_order
    rid = "a" if text == TEXT_A else "b"
    return "AB"[order.index(rid)]


def test_spans_are_stored_in_code_points_with_the_text_hash(app, client, auth, make):
    auth.as_role("rater")
    _, lease_id = _lease(client, auth, make)
    a, b = _label_of(app, lease_id, TEXT_A), _label_of(app, lease_id, TEXT_B)
    start = TEXT_A.index("1989")  # a Python index: code points
    assert TEXT_A.encode("utf-16-le").find("1989".encode("utf-16-le")) // 2 != start
    spans = [
        {
            "response": b,
            "start": CITED,
            "end": CITED + 11,
            "label": "hallucinated citation",
            "note": " 2031? ",
        },
        {"response": a, "start": start, "end": start + 4, "label": "factual error"},
        {"response": a, "start": 0, "end": 2, "label": "unsafe"},
    ]
    r = _submit(client, auth, lease_id, spans)
    assert r.status_code == 201, r.get_json()
    (j,) = _rows(app, Judgment)
    hash_a = hashlib.sha256(TEXT_A.encode()).hexdigest()
    hash_b = hashlib.sha256(TEXT_B.encode()).hexdigest()
    stored = {
        "a": [
            {"response": "a", "start": 0, "end": 2, "label": "unsafe", "note": "",
             "text_sha256": hash_a},
            {"response": "a", "start": start, "end": start + 4, "label": "factual error",
             "note": "", "text_sha256": hash_a},
        ],
        "b": [
            {"response": "b", "start": CITED, "end": CITED + 11, "label": "hallucinated citation",
             "note": "2031?", "text_sha256": hash_b},
        ],
    }  # fmt: skip
    # Ordered by the response's position on screen, then by offset.
    assert j.spans == stored[j.shown_order[0]] + stored[j.shown_order[1]]
    assert TEXT_A[start : start + 4] == "1989" and TEXT_B[CITED : CITED + 11] == "Smith, 2031"
    # The rater's copy speaks in labels and carries no hash.
    assert r.get_json()["spans"] == [
        {k: ({"a": a, "b": b}[v] if k == "response" else v) for k, v in s.items()
         if k != "text_sha256"}
        for s in j.spans
    ]  # fmt: skip


BAD = [
    # (spans, project settings, field, message)
    ([{"response": "A", "start": 5, "end": 999, "label": "unsafe"}], {}, "spans.0.end",
     "past the end of response A ({n} characters)"),
    ([{"response": "A", "start": 5, "end": 5, "label": "unsafe"}], {}, "spans.0.start",
     "a span starts before it ends"),
    ([{"response": "A", "start": 0, "end": 2, "label": "typo"}], {}, "spans.0.label",
     "not a span label of this project: factual error, unsafe, hallucinated citation"),
    ([{"response": "C", "start": 0, "end": 2, "label": "unsafe"}], {}, "spans.0.response",
     "no such response here"),
    ([{"response": "A", "start": 0, "end": 2, "label": "unsafe", "note": "x" * 2001}], {},
     "spans.0.note", "Longer than maximum length 2000."),
    ([{"response": "A", "start": -1, "end": 2, "label": "unsafe"}], {}, "spans.0.start",
     "Must be greater than or equal to 0 and less than or equal to 10000000."),
    ([{"response": "A", "start": 0, "end": 5, "label": "unsafe"},
      {"response": "A", "start": 4, "end": 8, "label": "factual error"}], {}, "spans.1",
     "overlaps span 0 (this project allows no overlapping spans)"),
    ([{"response": "A", "start": 0, "end": 5, "label": "unsafe"},
      {"response": "A", "start": 0, "end": 5, "label": "unsafe"}], {"span_overlap": True},
     "spans.1", "repeats span 0"),
    ([{"response": "A", "start": i, "end": i + 1, "label": "unsafe"} for i in range(51)], {},
     "spans", "51 spans on response A, over 50"),
    ([{"response": "A", "start": 0, "end": 2, "label": "unsafe"}], {"span_labels": []}, "spans",
     "this project does not collect error spans"),
]  # fmt: skip


@pytest.mark.parametrize(("spans", "settings", "field", "message"), BAD)
def test_bad_spans_are_refused_by_field_and_nothing_stored(
    app, client, auth, make, spans, settings, field, message
):
    auth.as_role("rater")
    _, lease_id = _lease(client, auth, make, **settings)
    r = _submit(client, auth, lease_id, spans)
    assert r.status_code == 422
    body = r.get_json()
    body.pop("request_id")
    n = len(TEXT_A) if _label_of(app, lease_id, TEXT_A) == "A" else len(TEXT_B)
    assert body == {
        "ok": False,
        "status": 422,
        "error": "The judgment is incomplete or invalid.",
        "errors": [{"field": field, "message": message.format(n=n)}],
    }
    assert _rows(app, Judgment) == []
    with app.app_context():
        assert db.session().get(Assignment, lease_id).status == "active"


def test_overlapping_spans_are_kept_where_the_project_allows_them(app, client, auth, make):
    auth.as_role("rater")
    _, lease_id = _lease(client, auth, make, span_overlap=True)
    spans = [
        {"response": "A", "start": 0, "end": 5, "label": "unsafe"},
        {"response": "A", "start": 4, "end": 8, "label": "factual error"},
    ]
    assert _submit(client, auth, lease_id, spans).status_code == 201
    (j,) = _rows(app, Judgment)
    assert [(s["start"], s["end"]) for s in j.spans] == [(0, 5), (4, 8)]


def test_a_revision_carries_its_own_spans_and_the_first_keeps_its(app, client, auth, make):
    auth.as_role("rater")
    _, lease_id = _lease(client, auth, make)
    first = _submit(
        client, auth, lease_id, [{"response": "A", "start": 0, "end": 2, "label": "unsafe"}]
    )
    assert first.status_code == 201
    r = client.post(
        f"/api/v1/judgments/{first.get_json()['id']}/revise",
        json={"client_id": uuid.uuid4().hex, "verdict": {"choice": "A"}, "spans": []},
        headers=_headers(auth),
    )
    assert r.status_code == 201, r.get_json()
    old, new = _rows(app, Judgment)
    assert [s["label"] for s in old.spans] == ["unsafe"] and new.spans == []
    assert new.supersedes_id == old.id


def _used_project(app, client, auth, make):
    auth.as_role("rater")
    project, lease_id = _lease(client, auth, make)
    spans = [{"response": "A", "start": 0, "end": 2, "label": "unsafe"}]
    assert _submit(client, auth, lease_id, spans).status_code == 201
    auth.as_role("admin")
    return project


def test_a_used_label_cannot_be_removed_or_renamed_but_labels_can_be_added(app, client, auth, make):
    project = _used_project(app, client, auth, make)
    url = f"/api/v1/projects/{project.slug}"
    for labels in (["factual error", "hallucinated citation"], ["factual error", "Unsafe"], []):
        r = client.patch(url, json={"span_labels": labels}, headers=_headers(auth))
        assert r.status_code == 409
        body = r.get_json()
        assert body["errors"] == [{"field": "span_labels", "message": "in use: unsafe"}]
        assert body["error"].startswith("Span label(s) unsafe cannot be removed or renamed")
    with app.app_context():
        assert db.session().get(Project, project.id).span_labels == LABELS
    # An unused label may go; new ones may come.
    grown = ["unsafe", "factual error", "off topic"]
    r = client.patch(url, json={"span_labels": grown}, headers=_headers(auth))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["span_labels"] == grown


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["a", "b", "a"], "duplicate span label(s): a"),
        (["  "], "a label must not be blank"),
        ([str(i) for i in range(10)], "Longer than maximum length 9."),
    ],
)
def test_label_set_shape_is_checked(client, auth, make, labels, message):
    auth.as_role("admin")
    project = make.project()
    r = client.patch(
        f"/api/v1/projects/{project.slug}", json={"span_labels": labels}, headers=_headers(auth)
    )
    assert r.status_code == 422
    assert r.get_json()["errors"] == [{"field": "span_labels", "message": message}]


def test_cli_sets_span_labels(app, runner, make):
    project = make.project()
    result = runner.invoke(
        cli.main,
        ["projects", "set", project.slug, "--span-labels", '["unsafe", "factual error"]',
              "--span-overlap"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f'{project.slug}: span_labels [] -> ["unsafe", "factual error"]' in result.output
    with app.app_context():
        row = db.session().get(Project, project.id)
        assert (row.span_labels, row.span_overlap) == (["unsafe", "factual error"], True)
    bad = runner.invoke(cli.main, ["projects", "set", project.slug, "--span-labels", "unsafe"])
    assert bad.exit_code != 0 and "--span-labels is not JSON" in bad.output


def test_settings_page_edits_span_labels_one_a_line(app, client, auth, make):
    auth.as_role("admin")
    project = make.project(slug="spans-page")
    page = client.get("/admin/projects/spans-page").data.decode()
    assert 'name="span_labels"' in page
    r = client.post(
        "/admin/projects/spans-page/settings",
        data={"csrf_token": auth.csrf(), "span_labels": "unsafe\r\n\r\nfactual error\r\n",
              "span_overlap": "off"},
    )  # fmt: skip
    assert r.status_code == 303, r.data
    with app.app_context():
        assert db.session().get(Project, project.id).span_labels == ["unsafe", "factual error"]
    page = client.get("/admin/projects/spans-page").data.decode()
    assert ">unsafe\nfactual error</textarea>" in page
    events = [e.details for e in _rows(app, AuditEvent) if e.action == "project.settings"]
    assert events == [{"span_labels": {"from": [], "to": ["unsafe", "factual error"]}}]


# ---- Agreement: character-overlap F1, computed by hand ----


def test_merge_and_overlap_count_characters_once():
    assert merge([(5, 9), (0, 3), (2, 4), (9, 10)]) == [(0, 4), (5, 10)]
    assert overlap([(0, 4), (5, 10)], [(3, 6), (8, 20)]) == 1 + 1 + 2


def test_span_f1_against_a_hand_computed_example():
    def j(item, rater, spans, shown=("a", "b")):
        return SpanJudgment(
            item=item,
            rater=rater,
            shown=list(shown),
            spans=[{"response": r, "start": s, "end": e, "label": lab} for r, s, e, lab in spans],
        )

    judgments = [
        # Item 1: raters 1, 2, 3 on responses a and b.
        j(1, 1, [("a", 0, 10, "err"), ("b", 0, 4, "unsafe")]),
        j(1, 2, [("a", 5, 15, "err"), ("a", 12, 20, "err")]),  # union 5-20: 15 characters
        j(1, 3, []),
        # Item 2: raters 1 and 2; rater 2 was shown other responses (a pair unit).
        j(2, 1, [("a", 0, 6, "err")]),
        j(2, 2, [("c", 0, 6, "err")], shown=("b", "c")),
    ]
    # err, raters 1-2: item 1 shares 5 (5-10) of 10 and 15; item 2 shares response b only,
    # where neither marked. F1 = 2*5 / (10 + 15) = 0.4.
    # err, raters 1-3: 0 shared of 10 + 0: F1 = 0. Raters 2-3: 0 of 15 + 0: F1 = 0.
    # Mean over the three pairs: 0.4 / 3.
    # unsafe: only rater 1 marked (4 characters): 1-2 and 1-3 give 0, 2-3 is undefined.
    (err, unsafe, none) = span_f1(judgments, ["err", "unsafe", "never"])
    assert err.f1 == pytest.approx(0.4 / 3) and err.rater_pairs == 3 and err.spans == 5
    assert unsafe.f1 == 0.0 and unsafe.rater_pairs == 2 and unsafe.spans == 1
    assert none.f1 is None and none.rater_pairs == 0 and none.spans == 0


def test_identical_spans_agree_fully():
    spans = [{"response": "a", "start": 3, "end": 9, "label": "err"}]
    rows = [SpanJudgment(1, r, ["a", "b"], spans) for r in (1, 2)]
    assert span_f1(rows, ["err"])[0].f1 == 1.0


def test_agreement_report_and_raw_export_carry_spans(app, client, auth, make):
    project = make.project(mode="pairwise", scale="ternary", span_labels=LABELS, overlap=2)
    make.items(project, [_row()])
    for end in (6, 8):  # the first rater marks 0-6, the second 0-8 of the same response
        auth.as_role("rater")
        r = client.post(f"/api/v1/projects/{project.slug}/next", headers=_headers(auth))
        lease_id = r.get_json()["assignment"]["id"]
        label = _label_of(app, lease_id, TEXT_A)
        spans = [{"response": label, "start": 0, "end": end, "label": "unsafe", "note": "n"}]
        assert _submit(client, auth, lease_id, spans).status_code == 201
    auth.as_role("admin")
    r = client.get(f"/api/v1/projects/{project.slug}/stats/agreement")
    assert r.status_code == 200, r.get_json()
    assert json.loads(r.data)["spans"] == [
        {"label": "factual error", "f1": None, "rater_pairs": 0, "spans": 0},
        {"label": "unsafe", "f1": round(2 * 6 / 14, 4), "rater_pairs": 1, "spans": 2},
        {"label": "hallucinated citation", "f1": None, "rater_pairs": 0, "spans": 0},
    ]
    page = client.get(f"/projects/{project.slug}/dashboard/agreement").get_data(as_text=True)
    assert '<tr><th scope="row">unsafe</th><td>0.857</td><td>1</td><td>2</td></tr>' in page
    csv = client.get(f"/api/v1/projects/{project.slug}/stats/agreement.csv?table=spans")
    assert csv.status_code == 200
    assert csv.get_data(as_text=True).splitlines() == [
        "label,f1,rater_pairs,spans",
        "factual error,,0,0",
        f"unsafe,{round(2 * 6 / 14, 4)},1,2",
        "hallucinated citation,,0,0",
    ]
    r = client.get(f"/api/v1/export?format=raw&project={project.slug}")
    assert r.status_code == 200, r.data
    rows = [json.loads(line) for line in r.data.decode().splitlines()]
    assert [row["spans"] for row in rows] == [
        [{"response": "a", "start": 0, "end": end, "label": "unsafe", "note": "n",
          "text_sha256": hashlib.sha256(TEXT_A.encode()).hexdigest()}]
        for end in (6, 8)
    ]  # fmt: skip
