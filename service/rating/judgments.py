"""Record judgments: validate a rater's verdict against the item and rubric, append-only.

Raters only ever see responses by position label (A, B, C, ...), never by id or
model; a submission speaks in those labels and is translated here through the
assignment's stored display order (see labels.py). A client-generated id makes
every submission idempotent; an edit is a new version that supersedes the old one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from service import db
from service.db import is_sqlite
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.models import Assignment, Item, Judgment, LeaseStatus, Project, User, as_loaded, utcnow
from service.rating import adaptive, gold, leases, rewrites, shown, spans, turns
from service.rating.contradictions import find_contradictions
from service.rating.labels import labels_for
from service.rubric import Dimension, InvalidValue, Rubric, is_blank, rubric_of
from service.schemas import JUDGMENT_IN, flatten_messages

EDIT_WINDOW = timedelta(minutes=10)
# started_at comes from the rater's clock, which may be off: a laptop set to the wrong
# time zone is off by up to 14 hours. A day either way is skew; beyond that it is wrong.
CLOCK_SKEW = timedelta(days=1)


class _Errors:
    """Collect every problem with a submission, so the rater sees them all at once."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput("The judgment is incomplete or invalid.", errors=self.items)


def _pairwise(
    project: Project, verdict: dict[str, Any], labels: dict[str, str], errs: _Errors
) -> dict[str, Any]:
    left, right = labels["A"], labels["B"]
    if project.scale == "likert7":
        value = verdict.get("scale_value")
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 7:
            errs.add(
                "verdict.scale_value", "choose a point from 1 (A much better) to 7 (B much better)"
            )
            return {}
        preferred = left if value < 4 else right if value > 4 else None
        return {"preferred": preferred, "strength": abs(value - 4), "scale_value": value}
    choices = ("A", "B") if project.scale == "binary" else ("A", "B", "tie")
    choice = verdict.get("choice")
    if choice not in choices:
        errs.add("verdict.choice", f"choose one of {', '.join(choices)}")
        return {}
    preferred = {"A": left, "B": right}.get(choice)
    return {"preferred": preferred, "strength": None, "scale_value": None}


def _ranking(verdict: dict[str, Any], labels: dict[str, str], errs: _Errors) -> dict[str, Any]:
    groups = verdict.get("ranking")
    if not isinstance(groups, list) or not all(isinstance(g, list) and g for g in groups):
        errs.add("verdict.ranking", "give the ranking as a list of groups, best first")
        return {}
    flat = [label for g in groups for label in g]
    if sorted(map(str, flat)) != sorted(labels):
        errs.add(
            "verdict.ranking", f"rank every response exactly once: {', '.join(sorted(labels))}"
        )
        return {}
    return {"ranking": [[labels[label] for label in g] for g in groups]}


def _rubric(
    rubric: Rubric, given: dict[str, Any], labels: dict[str, str], errs: _Errors
) -> dict[str, Any]:
    out: dict[str, Any] = {"response": {}, "item": {}}
    per_response = given.get("response") or {}
    unknown = set(per_response) - set(labels)
    for label in sorted(unknown):
        errs.add(f"rubric.response.{label}", "no such response on this screen")
    response_names = {d.name for d in rubric.per_response}
    for label, rid in labels.items():
        values = per_response.get(label) or {}
        out["response"][rid] = {}
        for name in sorted(set(values) - response_names):
            errs.add(f"rubric.response.{label}.{name}", "not a per-response field of this project")
        for dim in rubric.per_response:
            field = f"rubric.response.{label}.{dim.name}"
            if is_blank(values.get(dim.name)):
                if dim.required:
                    errs.add(field, f"{dim.label} is required for response {label}")
                continue
            out["response"][rid][dim.name] = _checked(dim, values[dim.name], field, errs)
    item_values = given.get("item") or {}
    for name in sorted(set(item_values) - {d.name for d in rubric.per_item}):
        errs.add(f"rubric.item.{name}", "not an item field of this project")
    for dim in rubric.per_item:
        field = f"rubric.item.{dim.name}"
        if is_blank(item_values.get(dim.name)):
            if dim.required:
                errs.add(field, f"{dim.label} is required")
            continue
        out["item"][dim.name] = _checked(dim, item_values[dim.name], field, errs)
    return out


def _turns(
    session: Session, rubric: Rubric, given: dict[str, Any], lease: Assignment, errs: _Errors
) -> dict[str, Any] | None:
    """Check the per-turn values (rating/turns.py); None for a project without turn fields.

    Stored judgments of other projects keep their two scopes only (no empty "turn" key).
    """
    if not rubric.per_turn:
        if given:
            errs.add("rubric.turn", "this project has no per-turn fields")
        return None
    count = turns.turn_count(session=session, item_id=lease.item_id)
    values, problems = turns.check_turns(rubric.per_turn, given, count)
    errs.items.extend(problems)
    return values


def _checked(dim: Dimension, value: Any, field: str, errs: _Errors) -> Any:
    try:
        return dim.check(value)
    except InvalidValue as exc:
        errs.add(field, str(exc))
        return None


def _verdict_and_rubric(
    project: Project,
    verdict_in: dict[str, Any],
    rubric_in: dict[str, Any],
    labels: dict[str, str],
    errs: _Errors,
) -> tuple[dict[str, Any], dict[str, Any]]:
    if project.mode == "pairwise":
        verdict = _pairwise(project, verdict_in, labels, errs)
    elif project.mode == "ranking":
        verdict = _ranking(verdict_in, labels, errs)
    else:
        verdict = {}
    return verdict, _rubric(rubric_of(project), rubric_in, labels, errs)


def check_verdict(
    *, project: Project, shown_order: list[str], verdict: Any, rubric: Any
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, str]]]:
    """Check a verdict and rubric given in blind labels, by the rules a rater's obey.

    Return them with response ids in place of labels, and every problem found (field
    and message); a model judge's answer is checked here too (service/judging/).
    """
    errs = _Errors()
    verdict_in = verdict if isinstance(verdict, dict) else {}
    rubric_in = rubric if isinstance(rubric, dict) else {}
    checked = _verdict_and_rubric(project, verdict_in, rubric_in, labels_for(shown_order), errs)
    return *checked, errs.items


def read_submission(payload: Any) -> dict[str, Any]:
    """Check a submission's shape and types (``JudgmentInSchema``); return it loaded.

    Every door (the API, the rating page) passes the request body as it came, so both
    refuse the same things in the same words.
    """
    if not isinstance(payload, dict):
        raise InvalidInput(
            "Send the judgment as a JSON object.",
            errors=[{"field": "", "message": "expected a JSON object"}],
        )
    try:
        return JUDGMENT_IN.load(payload)
    except ValidationError as exc:
        errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages)]
        raise InvalidInput("The judgment is incomplete or invalid.", errors=errors) from None


def _check_started(started: datetime | None, lease: Assignment, errs: _Errors) -> None:
    if started is None:
        return
    if not lease.created_at - CLOCK_SKEW <= started <= utcnow() + CLOCK_SKEW:
        errs.add(
            "started_at",
            "when the rater opened this item: from a day before it was leased "
            "to a day from now (clock skew allowed)",
        )


def _contradiction_answer(
    project: Project,
    lease: Assignment,
    verdict: dict[str, Any],
    rubric: dict[str, Any],
    answer: dict[str, Any] | None,
) -> tuple[bool, str]:
    """Return (asked, rationale) for a checked verdict; refuse an unconfirmed contradiction."""
    if not project.confirm_contradictions:
        return False, ""
    dimensions = rubric_of(project)
    found = find_contradictions(
        mode=project.mode,
        verdict=verdict,
        rubric=rubric,
        dimensions=dimensions,
        shown_order=lease.shown_order,
    )
    if not found:
        return False, ""
    if answer is not None and answer["confirmed"]:
        return True, answer["rationale"].strip()
    label = {rid: lab for lab, rid in labels_for(lease.shown_order).items()}
    names = {d.name: d.label for d in dimensions}
    errors = [
        {
            "field": "contradiction",
            "message": f"You put {label[c.above]} above {label[c.below]} but scored "
            f"{label[c.above]} lower on {', '.join(names[n] for n in c.dimensions)}. "
            "Confirm the verdict (contradiction.confirmed), with a rationale if you like.",
        }
        for c in found
    ]
    raise InvalidInput("The verdict contradicts your rubric scores; confirm it.", errors=errors)


def build_judgment(
    *, session: Session, project: Project, lease: Assignment, payload: Any
) -> dict[str, Any]:
    """Validate a submission against the project and the lease; return Judgment fields."""
    payload = read_submission(payload)
    errs = _Errors()
    labels = labels_for(lease.shown_order)
    client_id = payload["client_id"]
    verdict_in = payload["verdict"]
    both_bad = payload["both_bad"]
    verdict, rubric = _verdict_and_rubric(project, verdict_in, payload["rubric"], labels, errs)
    dims = rubric_of(project)
    per_turn = _turns(session, dims, payload["rubric"].get("turn") or {}, lease, errs)
    if per_turn is not None:
        rubric["turn"] = per_turn
    active_ms = payload["active_ms"]
    started_at = payload["started_at"]
    _check_started(started_at, lease, errs)
    marked, span_errors = spans.check_spans(
        session=session,
        project=project,
        item_id=lease.item_id,
        shown_order=lease.shown_order,
        given=payload["spans"],
    )
    errs.items.extend(span_errors)
    # Which response the verdict prefers is only known once verdict and rubric are valid;
    # until then the rewrite's own shape is checked, not whom it may rewrite.
    preferred = (
        rewrites.preferred_ids(mode=project.mode, verdict=verdict, rubric=rubric, dimensions=dims)
        if not errs.items
        else None
    )
    rewrite, problems = rewrites.check_rewrite(
        project=project, given=payload["rewrite"], labels=labels, preferred=preferred
    )
    errs.items.extend(problems)
    errs.raise_if_any()
    asked, why = _contradiction_answer(project, lease, verdict, rubric, payload["contradiction"])
    item_values = rubric["item"]
    flag_dims = dims.item_flags()
    confidence = item_values.get("confidence")
    return {
        "client_id": client_id,
        "mode": project.mode,
        "verdict": verdict,
        "rubric": rubric,
        "both_bad": both_bad,
        # Denormalised from the rubric for filtering and export: every item-level flag
        # chosen, the "rationale" text and the "confidence" scale, when the project has them.
        "flags": sorted({f for name in flag_dims for f in item_values.get(name, [])}),
        "rationale": item_values.get("rationale", "")
        if isinstance(item_values.get("rationale"), str)
        else "",
        "confidence": confidence if isinstance(confidence, int) else None,
        "active_ms": active_ms,
        "started_at": started_at,
        "shown_order": list(lease.shown_order),
        "contradiction_asked": asked,
        "contradiction_rationale": why,
        "spans": marked,
        # Checked against the response's text when the row is built (_new_row).
        "rewrite": rewrite,
    }


# Built once: building a statement costs more than running it (see slots.py).
_BY_CLIENT_ID = sa.select(Judgment.id).where(
    Judgment.rater_id == sa.bindparam("b_rater"), Judgment.client_id == sa.bindparam("b_client")
)


def _existing(session: Session, rater: User, payload: Any) -> Judgment | None:
    client_id = payload.get("client_id") if isinstance(payload, dict) else None
    if not isinstance(client_id, str):
        return None
    found = session.execute(_BY_CLIENT_ID, {"b_rater": rater.id, "b_client": client_id}).scalar()
    return None if found is None else session.get(Judgment, found)


# Built once: building a statement costs more than running it (see slots.py).
_INSERT = sa.insert(Judgment.__table__).returning(Judgment.__table__.c.id)
_SUBMITTED = (
    sa.update(Assignment.__table__)
    .where(Assignment.__table__.c.id == sa.bindparam("b_id"))
    .values(status=LeaseStatus.SUBMITTED, finished_at=sa.bindparam("b_at"))
)
# On PostgreSQL the lease is marked in the insert's own round trip (a data-modifying
# WITH; SQLite has none), and only while it is still active: a lease read without a
# lock (see record_judgment) may have been submitted, swept or released since. The
# judgment's values are bound under their own names: an execution parameter named
# like an assignment column would otherwise join the UPDATE's SET.
_FIELDS = [c for c in Judgment.__table__.columns if c.key != "id"]
_MARKED = (
    _SUBMITTED.where(Assignment.__table__.c.status == LeaseStatus.ACTIVE)
    .returning(Assignment.__table__.c.id)
    .cte("submitted")
)
_INSERT_SUBMITTING = (
    sa.insert(Judgment.__table__)
    .from_select(
        [c.key for c in _FIELDS],
        sa.select(*[sa.bindparam(f"j_{c.key}", type_=c.type) for c in _FIELDS]).select_from(
            _MARKED
        ),
    )
    .add_cte(_MARKED)
    .returning(Judgment.__table__.c.id)
)
# The unlocked path (``_record_live``) stores a judgment only while the project's adaptive
# overlap and judge budget mode are off, read under a key-share lock on the project row (which the judgment's
# foreign key takes anyway). An admin switching it on holds that row FOR UPDATE until
# every target is recomputed (``settings.change_overlap``), so such a judgment is either
# committed before the recount reads the judgments, or sees the switch, stores nothing,
# and takes the locked path, which settles it.
_PROJECTS = Project.__table__
_PLAIN = (
    sa.select(_PROJECTS.c.id)
    .where(
        _PROJECTS.c.id == sa.bindparam("b_project"),
        sa.not_(_PROJECTS.c.adaptive_overlap),
        sa.not_(_PROJECTS.c.judge_budget),
    )
    .with_for_update(read=True, key_share=True)
    .cte("plain")
)
_MARKED_LIVE = (
    _SUBMITTED.where(
        Assignment.__table__.c.status == LeaseStatus.ACTIVE, sa.exists(sa.select(_PLAIN.c.id))
    )
    .returning(Assignment.__table__.c.id)
    .cte("marked")
)
_INSERT_LIVE = (
    sa.insert(Judgment.__table__)
    .from_select(
        [c.key for c in _FIELDS],
        sa.select(*[sa.bindparam(f"j_{c.key}", type_=c.type) for c in _FIELDS]).select_from(
            _MARKED_LIVE
        ),
    )
    .add_cte(_PLAIN)
    .add_cte(_MARKED_LIVE)
    .returning(Judgment.__table__.c.id)
)


def _new_row(
    session: Session,
    fields: dict[str, Any],
    *,
    project: Project,
    lease: Assignment,
    rater: User,
    supersedes: Judgment | None = None,
) -> dict[str, Any]:
    """Return every column of a new judgment (but its id) from ``build_judgment``'s fields.

    The content is read here, outside any lock on the item, yet the hash is of what the
    rater saw: a judgment is stored only while its lease is active, and an import ends
    a lease in the same transaction as it changes the item's content
    (``importing._replace_content``), whereas judged content never changes.
    """
    stored = shown.content(session=session, item_id=lease.item_id)
    digest = shown.of_content(stored, fields["shown_order"], project.guideline_version)
    fields = dict(fields)
    rewrite = rewrites.as_fields(fields.pop("rewrite"), stored.texts)
    return {
        **fields,
        **rewrite,
        "project_id": project.id,
        "item_id": lease.item_id,
        "rater_id": rater.id,
        "assignment_id": lease.id,
        "supersedes_id": supersedes.id if supersedes else None,
        "version": supersedes.version + 1 if supersedes else 1,
        "is_gold": lease.is_gold,
        "guideline_version": project.guideline_version,
        "shown_sha256": digest,
        # What the rater was shown of the model judges (rating/judge_display.py).
        "judge_view": project.judge_display,
        "created_at": utcnow(),
    }


def _store(
    session: Session, row: dict[str, Any], lease: Assignment | None = None, live: bool = False
) -> Judgment | None:
    """Insert a judgment (``_new_row``) in Core and return it; mark ``lease`` submitted.

    With a lease on PostgreSQL, nothing is stored (None) unless the lease is still
    active. The ORM's unit of work, and even the model's constructor, cost more than
    the rest of a submission; the row enters the session as if loaded, so callers see
    an ordinary object. ``live``: the lease is not locked (``_record_live``).
    """
    now = row["created_at"]
    marked = {"b_id": lease.id, "b_at": now} if lease is not None else None
    together = marked is not None and not is_sqlite(session)
    try:
        if together:
            values = {f"j_{c.key}": row[c.key] for c in _FIELDS}
            if live:
                marked = marked | {"b_project": row["project_id"]}
            statement = _INSERT_LIVE if live else _INSERT_SUBMITTING
            new_id = session.execute(statement, values | marked).scalar()
            if new_id is None:
                return None
        else:
            new_id = session.execute(_INSERT, {c.key: row[c.key] for c in _FIELDS}).scalar()
    except sa.exc.IntegrityError as exc:
        # Nothing was stored; a transaction, if open, is spoilt and the request rolls it back.
        raise Conflict("This client id was already used for another item.") from exc
    judgment = as_loaded(Judgment, {"id": new_id, **row})
    session.add(judgment)
    if marked is not None:
        if not together:
            session.execute(_SUBMITTED, marked)
        set_committed_value(lease, "status", LeaseStatus.SUBMITTED)
        set_committed_value(lease, "finished_at", now)
    return judgment


def record_judgment(
    *, session: Session, assignment_id: int, rater: User, payload: Any
) -> tuple[Judgment, bool]:
    """Store a rater's judgment on their lease; return (judgment, created).

    A repeat of an already stored client id returns the stored judgment unchanged.
    """
    if not is_sqlite(session):
        # The usual case, a first submission on a live lease, needs no transaction on
        # PostgreSQL: read the lease, validate, then one statement stores the judgment
        # if the lease is still active (3 round trips instead of 5). Anything else
        # takes the locked path below, which also settles races the read lost.
        with db.autocommit(session):
            done = _record_live(session, assignment_id, rater, payload)
        if done is not None:
            return done, True
    # Lock the lease first: a double click's two requests then run one after the
    # other, and the second finds the first's judgment by its client id.
    lease, project = leases.lock_with_project(
        session=session, assignment_id=assignment_id, rater=rater
    )
    return record_on(session=session, lease=lease, project=project, rater=rater, payload=payload)


def _record_live(
    session: Session, assignment_id: int, rater: User, payload: Any
) -> Judgment | None:
    """Store a first judgment on a live, non-gold lease without locking it, if it still is."""
    lease, project = leases.with_project(session=session, assignment_id=assignment_id, rater=rater)
    if lease.status != LeaseStatus.ACTIVE or lease.is_gold or _settles(project):
        # A repeat, an expired lease, a gold score to store with it, or targets to settle.
        return None
    fields = build_judgment(session=session, project=project, lease=lease, payload=payload)
    return _store(
        session,
        _new_row(session, fields, project=project, lease=lease, rater=rater),
        lease,
        live=True,
    )


def record_on(
    *, session: Session, lease: Assignment, project: Project, rater: User, payload: Any
) -> tuple[Judgment, bool]:
    """``record_judgment`` for a lease already locked (``lock_with_project``)."""
    # Only a submitted lease can hold this client id's judgment; for a live one the
    # unique (rater, client id) constraint catches a reused id (see _store).
    previous = _existing(session, rater, payload) if lease.status == LeaseStatus.SUBMITTED else None
    if previous is not None:
        if previous.assignment_id != lease.id:
            raise Conflict("This client id was already used for another item.")
        return previous, False
    fields = build_judgment(session=session, project=project, lease=lease, payload=payload)
    leases.claim_for_submission(session=session, lease=lease, project=project)
    row = _new_row(session, fields, project=project, lease=lease, rater=rater)
    judgment = _store(session, row, lease)
    if judgment is None:  # cannot happen to a lease locked and claimed above
        raise Conflict("This assignment changed while you submitted; try again.")
    if not lease.is_gold and _adaptive_now(session, project):
        adaptive.settle(session=session, project=project, item_id=lease.item_id)
    if lease.is_gold:
        item = session.get(Item, lease.item_id)
        gold.record_score(session=session, judgment=judgment, project=project, item=item)
        session.flush()
    return judgment, True


_ADAPTIVE = sa.select(
    sa.or_(Project.__table__.c.adaptive_overlap, Project.__table__.c.judge_budget)
).where(Project.__table__.c.id == sa.bindparam("project_id"))


def _settles(project: Project) -> bool:
    """Tell whether the project's targets follow its judgments: adaptive overlap, or
    the judges' budget mode (a settled unit wants the raters it has, see judge_rule.py)."""
    return project.adaptive_overlap or project.judge_budget


def _adaptive_now(session: Session, project: Project) -> bool:
    """Tell whether targets follow judgments (``_settles``) as committed now, after this
    judgment's insert.

    On PostgreSQL the project was read before the insert, which waited (its foreign key
    takes a key-share lock on the project row) for an admin's switch holding that row:
    a new statement sees the switch, whose recount could not see this judgment. On
    SQLite every write transaction is serial, so the row read with the lease is current.
    """
    if is_sqlite(session):
        return _settles(project)
    return bool(session.execute(_ADAPTIVE, {"project_id": project.id}).scalar())


def is_current(*, session: Session, judgment: Judgment) -> bool:
    """Tell whether no later version supersedes this judgment."""
    newer = select(Judgment.id).where(Judgment.supersedes_id == judgment.id)
    return session.exec(newer).first() is None


def revise_judgment(
    *, session: Session, judgment_id: int, rater: User, payload: Any
) -> tuple[Judgment, bool]:
    """Record a corrected version of the rater's recent judgment (the old row stays)."""
    old = session.get(Judgment, judgment_id)
    if old is None or old.rater_id != rater.id:
        raise NotFound(f"No judgment {judgment_id} of yours.")
    previous = _existing(session, rater, payload)
    if previous is not None:
        if previous.supersedes_id != old.id:
            raise Conflict("This client id was already used for another judgment.")
        return previous, False
    if not is_current(session=session, judgment=old):
        raise Conflict("A newer version of this judgment exists; revise that one.")
    if utcnow() - old.created_at > EDIT_WINDOW:
        minutes = int(EDIT_WINDOW.total_seconds() // 60)
        raise Forbidden(f"Judgments can be revised for {minutes} minutes after submitting.")
    lease = session.get(Assignment, old.assignment_id)
    project = session.get(Project, old.project_id)
    fields = build_judgment(session=session, project=project, lease=lease, payload=payload)
    row = _new_row(session, fields, project=project, lease=lease, rater=rater, supersedes=old)
    judgment = _store(session, row)
    if not lease.is_gold and _adaptive_now(session, project):
        # A revised verdict may settle a disagreement, or start one.
        adaptive.settle(session=session, project=project, item_id=lease.item_id)
    return judgment, True
