"""The demo: shipped projects, their items and three accounts, ready to rate."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

from sqlmodel import Session, select

from service import accounts, db, importing, projects
from service.models import Project, User

DEMO_USERS = (
    ("admin", "admin", ["coding", "medicine", "law"], "Demo Admin"),
    ("rater1", "rater", ["coding", "medicine", "law"], "Dr. Ada Rater"),
    ("rater2", "rater", ["coding", "law"], "Sam Second"),
)


def load_demo(*, prompts_dir: str | Path) -> Iterator[str]:
    """Create the demo projects and accounts (idempotently); yield lines to show the user."""
    demo = Path(prompts_dir) / "demo"
    campaigns = json.loads((demo / "projects.json").read_text(encoding="utf-8"))
    with db.write_session() as s:
        for campaign in campaigns:
            yield _load_campaign(s, prompts_dir, demo, campaign)
    yield "Demo accounts (passwords are new each time the demo starts):"
    with db.write_session() as s:
        for username, role, expertise, name in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                accounts.create_user(
                    session=s,
                    username=username,
                    role=role,
                    password=password,
                    display_name=name,
                    expertise=expertise,
                )
            else:
                user.password_hash = accounts.hash_password(password)
                s.add(user)
            yield f"  {role:<8} {username:<8} {password}"


def _load_campaign(s: Session, prompts_dir: str | Path, demo: Path, campaign: dict) -> str:
    slug = campaign["slug"]
    project = s.exec(select(Project).where(Project.slug == slug)).first()
    if project is None:
        data = projects.load_template(prompts_dir, campaign["template"])
        data.update(slug=slug, name=campaign.get("name") or data["name"])
        project = projects.create_project(session=s, data=data)
    created = 0
    for name in campaign["files"]:
        with (demo / name).open("rb") as stream:
            result = importing.import_items(
                session=s,
                project=project,
                rows=importing.read_jsonl(stream),
                source=f"demo/{name}",
                kind="file",
            )
        created += result.created
    return f"Project {slug} ({project.mode}): {created} new item(s)."
