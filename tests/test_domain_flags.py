"""Domain flags belong to the project: the code flag only where the items are code."""

from __future__ import annotations

import json
from pathlib import Path

from service.projects import projects

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
        c["slug"]: "code_does_not_run" in _flags(c["template"])
        for c in campaigns
        if c["template"] != "rating"
    }
    assert offered == {
        "demo-coding-pairwise": True,
        "demo-expert-ranking": False,
        "demo-expert-pairwise-7pt": False,
    }
    for c in campaigns:
        if offered.get(c["slug"]):
            assert _expertise(c["files"]) == {"coding"}
