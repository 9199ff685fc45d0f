"""Regenerate the README's settings table, CLI reference and access table from the code.

python scripts/gen_readme.py          # rewrite README.md in place
python scripts/gen_readme.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import ScriptInfo

from service import cli, config, create_app
from service.http.auth import ADMIN_SCOPE
from service.models import Role

README = Path(__file__).resolve().parent.parent / "README.md"


def settings_table() -> str:
    rows = ["| Environment variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, (default, meaning) in config.SETTINGS.items():
        shown = "(see meaning)" if default is None or name == "PROMPTS_DIR" else f"`{default}`"
        rows.append(f"| `RANKROOM_{name}` | {shown} | {meaning} |")
    return "\n".join(rows)


def cli_reference() -> str:
    out: list[str] = []

    def walk(command: click.Command, path: list[str]) -> None:
        # A bare app: the help text must not depend on (or touch) any database.
        info = ScriptInfo(create_app=lambda: Flask("rankroom-docs"))
        ctx = click.Context(command, info_name=" ".join(path), obj=info)
        if not isinstance(command, click.Group) or len(path) == 1:
            out.append(
                f"### `{' '.join(path)}`\n\n```text\n{command.get_help(ctx).rstrip()}\n```\n"
            )
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(cli.main, ["rankroom"])
    return "\n".join(out).rstrip()


def access_table() -> str:
    """Every route with the roles its ``Access`` rule admits and the token scope it needs."""
    # No database is opened: the URL map and the views' rules are all that is read.
    app = create_app({"CHECK_SCHEMA": False, "DATABASE_URL": "sqlite://", "SECRET_KEY": "docs"})
    roles = [Role.ADMIN, Role.ENGINEER, Role.RATER]
    head = ["Route", "anonymous", *roles, "token scope"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    routes = sorted(
        (rule.rule, method, app.view_functions[rule.endpoint].access)
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    )
    for path, method, access in routes:
        if access.public:
            cells = ["✓"] * (len(roles) + 1) + ["none needed"]
        else:
            who = ["✓" if role in access.roles else "" for role in roles]
            scope = access.token_scope
            cells = ["", *who, f"`{scope}`" if scope == ADMIN_SCOPE else f"`{scope}` or `admin`"]
        rows.append(f"| `{method} {path}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def export_options_table() -> str:
    from service.export.options import APPLIES_TO, ExportOptionsSchema, cli_flag, option_default

    rows = [
        "| CLI option | Query parameter | Default | Formats | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, field in ExportOptionsSchema().fields.items():
        default = option_default(field)
        shown = "required" if field.required else "—" if default is None else f"`{default!r}`"
        formats = ", ".join(APPLIES_TO.get(name, ())) or "all"
        meaning = field.metadata["description"].replace("|", "\\|")
        flag = cli_flag(name, field)
        rows.append(f"| `{flag}` | `{name}` | {shown} | {formats} | {meaning} |")
    return "\n".join(rows)


def export_examples() -> str:
    golden = README.parent / "tests" / "golden"
    out = []
    for title, case in (
        ("`dpo`, standard", "dpo_text"),
        ("`dpo`, conversational", "dpo_chat"),
        ("`reward` (with `margin`)", "reward_text"),
        ("`kto`", "kto_text"),
        ("`openai`", "openai_chat"),
        ("`hh`", "hh_chat"),
        ("`ranking`", "ranking_chat"),
        ("`ratings`", "ratings_rate"),
        ("`votes` (one row per compared pair, every vote kept)", "votes_text"),
        ("`dpo` with `--with-votes`", "dpo_text_with_votes"),
        ("`sft` (a rater's rewrite as the assistant turn)", "sft_chat"),
        ("`dpo` with `--with-rewrites`, a rewrite row", "dpo_text_with_rewrites"),
        ("`raw`", "raw_all"),
    ):
        lines = (golden / f"{case}.jsonl").read_text(encoding="utf-8").splitlines()
        # A --with-rewrites example shows a rewrite row (the others are the plain rows).
        line = min((r for r in lines if '"source":"judgment"' not in r), key=len)
        out.append(f"{title}:\n\n```json\n{line}\n```\n")
    return "\n".join(out).rstrip()


def render(text: str) -> str:
    for name, body in (
        ("settings", settings_table()),
        ("cli", cli_reference()),
        ("access", access_table()),
        ("export-options", export_options_table()),
        ("export-examples", export_examples()),
    ):
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md lacks the <!-- {name}:start/end --> markers")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main() -> None:
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print("README.md is out of date: run python scripts/gen_readme.py", file=sys.stderr)
            sys.exit(1)
        return
    README.write_text(fresh, encoding="utf-8")


if __name__ == "__main__":
    main()
