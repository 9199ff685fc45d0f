"""The rater's API: next item, submit (alone or taking the next), skip, renew, revise."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service import db
from service.http.auth import current_user, requires
from service.models import Project
from service.rating import assignment, judge_display, judgments, leases, workspace
from service.rating.labels import JUDGMENT_OUT, JudgmentOutSchema
from service.schemas import JudgmentInSchema

bp = Blueprint("rating", __name__, url_prefix="/api/v1", description="Rating work for raters.")


class SkipSchema(Schema):
    reason = fields.String(required=True, metadata={"description": "expertise, broken or other"})
    note = fields.String(load_default="")


# The body is documented here and read by the domain (judgments.read_submission), so this
# API and the rating page refuse the same things in the same words.
_JUDGMENT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": JudgmentInSchema,
            # A pairwise verdict on a lease (what the rating page sends, at its simplest).
            "example": {
                "client_id": "2f6c8e0a-5b1d-4c3e-9a7f-1d2e3c4b5a69",
                "verdict": {"choice": "A"},
            },
        }
    },
}


class JudgmentAnswerSchema(JudgmentOutSchema):
    """What a submission or revision answers: the stored judgment, in labels."""

    judges = fields.List(
        fields.Dict(),
        metadata={"description": "The model judges' verdicts, when the project shows them now."},
    )


class SubmitAndNextSchema(Schema):
    """What submit-and-next answers: the judgment as ``submit`` does, the next item as ``next``."""

    judgment = fields.Nested(JudgmentOutSchema)
    judges = fields.List(fields.Dict())
    assignment = fields.Dict(allow_none=True, metadata={"description": "None: no work now."})
    message = fields.String(metadata={"description": "Why there is no next item."})


# Documented, not applied: the handlers build these bodies themselves.
_STORED = {"schema": JudgmentAnswerSchema, "description": "Stored (201)."}
_REPEAT = {
    "schema": JudgmentAnswerSchema,
    "description": "This client id's judgment, stored before.",
}


def _save(result: tuple[Any, bool]) -> tuple[Any, int]:
    judgment, created = result
    body = JUDGMENT_OUT.dump(judgment) | _judges_after(judgment)
    db.session().commit()
    return body, 201 if created else 200


def _judges_after(judgment: Any) -> dict[str, Any]:
    """Return the model judges' verdicts when the project shows them after a submission."""
    shown = judge_display.after_submit(session=db.session(), judgment=judgment)
    return {"judges": shown} if shown else {}


@bp.route("/projects/<slug>/next", methods=["POST"])
@requires("rater")
def next_item(slug: str) -> Any:
    """Return the rater's current item, or lease the next one."""
    s = db.session()
    project, lease = assignment.next_in(session=s, slug=slug, rater=current_user())
    body = _next(s, project, lease)
    s.commit()
    return body


def _next(s: Any, project: Any, lease: Any) -> dict[str, Any]:
    if isinstance(lease, assignment.NoWork):
        return {"assignment": None, "message": lease.reason}
    # Described inside the transaction: on SQLite a second one would queue for the lock again.
    return {"assignment": assignment.describe(session=s, lease=lease, project=project)}


@bp.route("/assignments/<int:assignment_id>")
@requires("rater")
def show(assignment_id: int) -> Any:
    """Show one of the rater's assignments."""
    s = db.session()
    lease = leases.get_assignment(session=s, assignment_id=assignment_id, rater=current_user())
    return {"assignment": assignment.describe(session=s, lease=lease)}


@bp.route("/assignments/<int:assignment_id>/judgment", methods=["POST"])
@bp.doc(requestBody=_JUDGMENT_BODY)
@bp.alt_response(201, **_STORED)
@bp.alt_response(200, **_REPEAT)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@requires("rater")
def submit(assignment_id: int) -> Any:
    """Submit a judgment; a repeated client_id returns the stored one (200)."""
    return _save(
        judgments.record_judgment(
            session=db.session(),
            assignment_id=assignment_id,
            rater=current_user(),
            payload=request.get_json(silent=True),
        )
    )


@bp.route("/assignments/<int:assignment_id>/judgment-and-next", methods=["POST"])
@bp.doc(requestBody=_JUDGMENT_BODY)
@bp.alt_response(201, schema=SubmitAndNextSchema, description="Stored; the next item.")
@bp.alt_response(
    200,
    schema=SubmitAndNextSchema,
    description="A repeat: the item its first submission was given.",
)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@requires("rater")
def submit_and_next(assignment_id: int) -> Any:
    """Submit a judgment and take the next item in one call, as the rating screen does.

    Answers ``{"judgment", "assignment", "message"}``: the judgment as ``submit`` does, the
    next item as ``next`` does. A repeated client id returns the stored judgment (200) and
    the item its first submission was given.
    """
    s = db.session()
    judgment, created, project, lease = workspace.submit_and_next(
        session=s,
        assignment_id=assignment_id,
        rater=current_user(),
        payload=request.get_json(silent=True),
    )
    body = {"judgment": JUDGMENT_OUT.dump(judgment)} | _judges_after(judgment)
    body |= _next(s, project, lease)
    s.commit()
    return body, 201 if created else 200


@bp.route("/judgments/<int:judgment_id>/revise", methods=["POST"])
@bp.doc(requestBody=_JUDGMENT_BODY)
@bp.alt_response(201, **_STORED)
@bp.alt_response(200, **_REPEAT)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@requires("rater")
def revise(judgment_id: int) -> Any:
    """Record a corrected version of a recent judgment."""
    return _save(
        judgments.revise_judgment(
            session=db.session(),
            judgment_id=judgment_id,
            rater=current_user(),
            payload=request.get_json(silent=True),
        )
    )


@bp.route("/assignments/<int:assignment_id>/skip", methods=["POST"])
@bp.arguments(SkipSchema)
@requires("rater")
def skip(args: dict[str, Any], assignment_id: int) -> Any:
    """Give the item back with a reason."""
    s = db.session()
    lease = leases.lock_assignment(session=s, assignment_id=assignment_id, rater=current_user())
    leases.skip(session=s, lease=lease, reason=args["reason"], note=args["note"])
    s.commit()
    return {"ok": True, "status": lease.status}


@bp.route("/assignments/<int:assignment_id>/renew", methods=["POST"])
@requires("rater")
def renew(assignment_id: int) -> Any:
    """Extend the lease while the rater is working."""
    s = db.session()
    lease = leases.lock_assignment(session=s, assignment_id=assignment_id, rater=current_user())
    project = s.get(Project, lease.project_id)
    leases.renew(session=s, lease=lease, project=project)
    s.commit()
    return {
        "ok": True,
        "expires_at": lease.expires_at.isoformat(),
        "seconds_left": leases.seconds_left(lease),
    }
