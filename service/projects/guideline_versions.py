"""Every saved text of a project's guidelines, and the difference between two of them.

``Project.guidelines`` and ``Project.guideline_version`` are the current text and its
number (what raters see and judgments record); this module keeps each text ever
current so an admin can read what a judgment's rater was shown.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlmodel import Session, select

from service.errors import NotFound
from service.models import GuidelineVersion, Project, utcnow

# The largest version number (as ProjectSchema.guideline_version allows).
MAX_VERSION = 1_000_000


def store(*, session: Session, project: Project, actor_id: int | None) -> GuidelineVersion:
    """Store the project's current guidelines as its current version."""
    row = GuidelineVersion(
        project_id=project.id,
        version=project.guideline_version,
        text=project.guidelines,
        created_by=actor_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def ensure_current(*, session: Session, project: Project) -> None:
    """Store the current text if its version is missing (a project older than versions)."""
    if _find(session, project, project.guideline_version) is None:
        store(session=session, project=project, actor_id=None)


def _find(session: Session, project: Project, version: int) -> GuidelineVersion | None:
    if not 1 <= version <= MAX_VERSION:  # a number no column holds is no stored version
        return None
    return session.exec(
        select(GuidelineVersion).where(
            GuidelineVersion.project_id == project.id, GuidelineVersion.version == version
        )
    ).first()


def list_versions(*, session: Session, project: Project) -> list[GuidelineVersion]:
    """Return the project's stored versions, newest first."""
    return list(
        session.exec(
            select(GuidelineVersion)
            .where(GuidelineVersion.project_id == project.id)
            .order_by(GuidelineVersion.version.desc())
        )
    )


def get_version(*, session: Session, project: Project, version: int) -> GuidelineVersion:
    """Return one stored version or raise NotFound."""
    row = _find(session, project, version)
    if row is None:
        raise NotFound(f"Project {project.slug!r} has no stored guidelines version {version}.")
    return row


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: ``kind`` is " ", "+", "-" or "@" (a hunk header).

    Plain text: pages escape it like any other value (guidelines may hold any text).
    """

    kind: str
    text: str


def diff_versions(*, session: Session, project: Project, old: int, new: int) -> list[DiffLine]:
    """Return the line diff from version ``old`` to ``new`` (unified, 3 lines of context)."""
    a = get_version(session=session, project=project, version=old).text.splitlines()
    b = get_version(session=session, project=project, version=new).text.splitlines()
    lines = list(difflib.unified_diff(a, b, lineterm=""))
    out = []
    # The first two lines are the file header ("--- ", "+++ "): the page names the versions.
    for line in lines[2:]:
        if line.startswith("@@"):
            out.append(DiffLine("@", line))
        else:
            out.append(DiffLine(line[:1], line[1:]))
    return out
