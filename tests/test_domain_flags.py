"""Domain flags belong to the project: the code flag only where the items are code."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from service import db
from service.cli.demo import load_demo
from service.models import Project
from service.projects import projects
from service.rubric import rubric_of

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


def _flags(template: str) -> set[str]:
    data = projects.load_template(PROMPTS, template)
    return {o["value"] for d in data["rubric"] if d["kind"] == "flags" for o in d["options"]}


def _expertise(files: list[str]) -> set[str]:
    return {
        tag
        for name in files
        for line in (PROMPTS / "demo" / name).read_text().splitlines()
        if line.strip()
        for tag in json.loads(line).get("expertise") or []
    }


def test_demo_projects_offer_the_code_flag_only_on_code():
    campaigns = json.loads((PROMPTS / "demo" / "projects.json").read_text())
    offered = {
        c["slug"]: "code_does_not_run" in _flags(c["template"]) - set(c.get("drop_flags", []))
        for c in campaigns
        if c["template"] != "rating"
    }
    assert offered == {
        "demo-coding-pairwise": True,
        "demo-code-review-spans": True,
        "demo-expert-ranking": False,
        "demo-expert-pairwise-7pt": False,
        "demo-images-pairwise": False,
        "demo-tool-use-pairwise": False,
        "demo-support-turns": False,
    }
    for c in campaigns:
        if offered.get(c["slug"]):
            assert _expertise(c["files"]) == {"coding"}


def test_the_loaded_demo_projects_offer_what_the_list_says(app):
    list(load_demo(prompts_dir=app.config["PROMPTS_DIR"]))
    with app.app_context():
        for slug, code in (("demo-images-pairwise", False), ("demo-coding-pairwise", True)):
            project = db.session().exec(select(Project).where(Project.slug == slug)).one()
            flags = {o.value for d in rubric_of(project) if d.kind == "flags" for o in d.options}
            want = _flags("pairwise") - (set() if code else {"code_does_not_run"})
            assert flags == want, slug
