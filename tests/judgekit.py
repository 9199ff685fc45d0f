"""A fake OpenAI-compatible judge on 127.0.0.1, and helpers to attach and run judges."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlmodel import Session, select

from service import db
from service.judging import config as judge_config
from service.models import Judge, JudgeAttempt, JudgeVerdict, Project, PullRun
from tests.pullkit import ChatServer, pull_now

# A required 1-5 score per response: the rubric judge tests and the benchmark use.
HELPFULNESS = {
    "name": "helpfulness",
    "label": "Helpfulness",
    "scope": "response",
    "kind": "likert",
    "points": 5,
    "required": True,
}
_RESPONSE = re.compile(r"=== Response ([A-Z]) ===\n(.*?)\n=== End of response \1 ===", re.S)


def shown(body: dict[str, Any]) -> dict[str, str]:
    """Return the responses a judge request shows, by label."""
    return dict(_RESPONSE.findall(body["messages"][-1]["content"]))


def fill(schema: dict[str, Any]) -> Any:
    """Return a valid value for a (strict) answer schema: the first choice everywhere."""
    kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    if kind == "object":
        return {k: fill(v) for k, v in schema["properties"].items()}
    return {"array": [], "string": "ok", "integer": 1, "number": schema.get("minimum", 0)}[kind]


def prefers(word: str) -> Callable[[dict[str, Any]], str]:
    """A judge that prefers the response containing ``word`` (else the first it is shown).

    A ranking puts that response first and ties the others.
    """

    def answer(body: dict[str, Any]) -> str:
        schema = body["response_format"]["json_schema"]["schema"]
        out = fill(schema)
        labels = shown(body)
        best = next((lab for lab, text in labels.items() if word in text), "A")
        if "verdict" in out and "choice" in out["verdict"]:
            out["verdict"]["choice"] = best
        elif "verdict" in out:
            out["verdict"]["ranking"] = [[best], [lab for lab in labels if lab != best]]
        out["rationale"] = f"{best} is better."
        return json.dumps(out)

    return answer


class JudgeServer(ChatServer):
    """A ChatServer whose "ok" answer is ``answer(request body)`` (a judge's JSON)."""

    def __init__(self, answer: Callable[[dict[str, Any]], str]) -> None:
        self.answer = answer
        super().__init__()

    class handler(ChatServer.handler):  # noqa: N801
        def reply(self, body: dict[str, Any], finish: str = "stop", content: Any = None) -> None:
            text = content if content is not None else self.owner.answer(body)
            super().reply(body, finish, text)


def add_judge(app: Flask, project: Project, name: str, **config: Any) -> Judge:
    """Attach a judge through the domain function, committed."""
    with app.app_context(), db.write_session() as s:
        return judge_config.add_judge(
            session=s, project=s.get(Project, project.id), data={"name": name, "config": config}
        )


def run_judge(app: Flask, judge: Judge) -> PullRun:
    """Run a judge's pending work in this process, as `rankroom judge` does."""
    with Session(db.engine_of(app)) as s:
        source = judge_config.source_of(session=s, judge=s.get(Judge, judge.id))
        name = source.name
    return pull_now(app, name)


def verdicts(app: Flask) -> list[JudgeVerdict]:
    with Session(db.engine_of(app)) as s:
        return list(s.exec(select(JudgeVerdict).order_by(JudgeVerdict.id)))


def attempts(app: Flask) -> list[JudgeAttempt]:
    with Session(db.engine_of(app)) as s:
        return list(s.exec(select(JudgeAttempt).order_by(JudgeAttempt.id)))
