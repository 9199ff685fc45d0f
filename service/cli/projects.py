"""``rankroom projects``: rating campaigns."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from service import db
from service.cli.common import CLI_ADDRESS, fail
from service.errors import DomainError, InvalidInput
from service.projects import guideline_versions, projects
from service.rating import settings


@click.group("projects", cls=AppGroup)
def projects_group() -> None:
    """Manage projects (rating campaigns)."""


@projects_group.command("create")
@click.argument("slug")
@click.option(
    "--from",
    "template",
    required=True,
    help="Template name in prompts/templates (pairwise, ranking, rating, ...) or a JSON file.",
)
@click.option("--name", default=None, help="Display name (default: the template's).")
@click.option("--overlap", type=int, default=None, help="Judgments wanted per item.")
def projects_create(slug: str, template: str, name: str | None, overlap: int | None) -> None:
    """Create a project from a template."""
    try:
        data = projects.load_template(current_app.config["PROMPTS_DIR"], template)
        data.update(slug=slug, name=name or data.get("name") or slug)
        if overlap is not None:
            data["overlap"] = overlap
        with db.write_session() as s:
            project = projects.create_project(session=s, data=data)
    except DomainError as exc:
        fail(exc)
    click.echo(f"Created {project.mode} project {project.slug}.")


def _optional_int(value: str | None) -> int | None | str:
    # "none" clears a cap; anything else goes to the schema, which names a bad value.
    if value is None or value.lower() == "none":
        return None
    return int(value) if value.lstrip("+-").isdigit() else value


@projects_group.command("set")
@click.argument("slug")
@click.option("--name", default=None, help="Display name.")
@click.option("--status", default=None, help="draft, active, paused or archived.")
@click.option("--overlap", type=int, default=None, help="Judgments wanted per item (pair unit).")
@click.option("--lease-minutes", type=int, default=None, help="How long a rater holds an item.")
@click.option(
    "--order-strategy", default=None, help="complete-first or spread: which items go out first."
)
@click.option("--gold-rate", type=float, default=None, help="Share of gold items mixed in (0-1).")
@click.option(
    "--qualification-items", type=int, default=None, help="Gold items a new rater answers first."
)
@click.option(
    "--qualification-threshold", type=float, default=None, help="Gold accuracy to pass (0-1)."
)
@click.option("--daily-cap", default=None, help="Judgments per rater per day ('none': no cap).")
@click.option("--rater-cap", default=None, help="Judgments per rater in all ('none': no cap).")
@click.option("--skip-flag-threshold", type=int, default=None, help="Skips that flag an item.")
@click.option(
    "--confirm-contradictions/--no-confirm-contradictions",
    default=None,
    help="Ask the rater to confirm a verdict that contradicts their rubric scores.",
)
@click.option(
    "--pairing",
    default=None,
    help="all or adaptive: which models' replies a new generated pairwise item compares.",
)
@click.option(
    "--pairing-uniform-share",
    type=float,
    default=None,
    help="Under adaptive pairing, the share of pairs chosen uniformly at random (0-1).",
)
@click.option(
    "--span-labels",
    default=None,
    help='Error span labels as a JSON list, e.g. \'["factual error", "unsafe"]\' ([]: no spans).',
)
@click.option(
    "--span-overlap/--no-span-overlap",
    default=None,
    help="Whether two error spans of one response may overlap.",
)
@click.option(
    "--edit",
    type=click.Choice(["off", "preferred", "any"]),
    default=None,
    help="Let raters rewrite the preferred response, or any response, after the verdict.",
)
@click.option(
    "--adaptive-overlap/--no-adaptive-overlap",
    default=None,
    help="Start each unit at --overlap and add raters while they disagree, up to --overlap-max.",
)
@click.option(
    "--overlap-max", type=int, default=None, help="Most judgments a unit gets (adaptive overlap)."
)
@click.option(
    "--audit-share",
    type=float,
    default=None,
    help="Share of items always judged --overlap-max times (adaptive overlap, 0-1).",
)
@click.option(
    "--judge-display",
    type=click.Choice(["hidden", "after", "suggestion"]),
    default=None,
    help="What raters see of the model judges: nothing, their verdict after submitting, "
    "or a pre-filled suggestion.",
)
@click.option(
    "--judge-triage/--no-judge-triage",
    default=None,
    help="Offer items the model judges disagree on (or flip with the order) first.",
)
@click.option(
    "--judge-budget/--no-judge-budget",
    default=None,
    help="Give items every judge agrees on in both orders --judge-budget-overlap raters.",
)
@click.option(
    "--judge-budget-overlap",
    type=int,
    default=None,
    help="Raters an item the judges settle gets in budget mode.",
)
@click.option(
    "--judge-audit-share",
    type=float,
    default=None,
    help="Share of items that keep the full overlap in budget mode (0-1).",
)
@click.option(
    "--judge-token-budget",
    default=None,
    help="Tokens the project's model judges may spend in all ('none': no limit).",
)
@click.option(
    "--rubric",
    "rubric_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="JSON file with the rubric dimensions (only while no judgments exist).",
)
def projects_set(slug: str, rubric_file: Any, **options: Any) -> None:
    """Change a project's settings (the same rules as the API and the settings page)."""
    data = {k: v for k, v in options.items() if v is not None}
    for cap in ("daily_cap", "rater_cap", "judge_token_budget"):
        if cap in data:
            data[cap] = _optional_int(data[cap])
    if "span_labels" in data:
        data["span_labels"] = _json_of("--span-labels", data["span_labels"])
    if rubric_file is not None:
        data["rubric"] = _json_of("The rubric file", rubric_file.read())
    try:
        with db.write_session() as s:
            project = projects.get_project(session=s, slug=slug)
            changes = settings.update_settings(
                session=s, project=project, data=data, actor_id=None, address=CLI_ADDRESS
            )
    except DomainError as exc:
        fail(exc)
    if not changes:
        click.echo(f"{slug}: nothing changed.")
    for key, change in changes.items():
        if key == "rubric":
            click.echo(f"{slug}: rubric changed ({len(change['to'])} dimension(s))")
        else:
            click.echo(f"{slug}: {key} {json.dumps(change['from'])} -> {json.dumps(change['to'])}")


def _json_of(what: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(InvalidInput(f"{what} is not JSON: {exc}."))


@projects_group.command("guidelines")
@click.argument("slug")
@click.option(
    "--file",
    "text_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Save this file's text as the next version (without it: list the versions).",
)
def projects_guidelines(slug: str, text_file: Any) -> None:
    """Save new guidelines as the next version, or list the stored versions."""
    try:
        with db.write_session() as s:
            project = projects.get_project(session=s, slug=slug)
            if text_file is not None:
                before = project.guideline_version
                projects.update_guidelines(
                    session=s, project=project, guidelines=text_file.read(), address=CLI_ADDRESS
                )
                if project.guideline_version == before:
                    click.echo(f"{slug}: guidelines unchanged (version {before}).")
                else:
                    click.echo(f"{slug}: saved guidelines version {project.guideline_version}.")
                return
            for v in guideline_versions.list_versions(session=s, project=project):
                mark = " (current)" if v.version == project.guideline_version else ""
                when = v.created_at.strftime("%Y-%m-%d %H:%M")
                click.echo(f"version {v.version}{mark}  {when} UTC  {len(v.text)} characters")
    except DomainError as exc:
        fail(exc)
