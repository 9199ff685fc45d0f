"""The rankroom command line, run through Click's runner against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from sqlmodel import select

from service import cli, db
from service.models import Item, Project, User
from tests.factories import item_row


def _invoke(runner, *args):
    return runner.invoke(cli.main, list(args), catch_exceptions=False)


def test_users_add_and_projects_create_from_template(app, runner):
    r = _invoke(
        runner,
        "users",
        "add",
        "ada",
        "--role",
        "rater",
        "--expertise",
        "Medicine, law",
        "--password",
        "pw-123456",
    )
    assert r.exit_code == 0 and "Added rater ada" in r.output
    r = _invoke(runner, "projects", "create", "cardio", "--from", "pairwise", "--overlap", "5")
    assert r.exit_code == 0, r.output
    with app.app_context():
        s = db.session()
        user = s.exec(select(User).where(User.username == "ada")).one()
        project = s.exec(select(Project).where(Project.slug == "cardio")).one()
    assert user.expertise == ["law", "medicine"]
    assert (project.mode, project.overlap) == ("pairwise", 5)
    assert project.rubric and project.guidelines


def test_users_add_refuses_a_name_the_api_refuses(app, runner):
    # One rule for every way in: the CLI stored "bad name!!" while the API refused it.
    r = _invoke(runner, "users", "add", "bad name!!", "--password", "pw-123456")
    assert r.exit_code == 1
    assert "Username 'bad name!!' is not valid: 1-120 letters, digits" in r.output
    with app.app_context():
        assert db.session().exec(select(User).where(User.username == "bad name!!")).first() is None


def test_unknown_template_lists_available(runner):
    r = runner.invoke(cli.main, ["projects", "create", "x", "--from", "nope"])
    assert r.exit_code == 1
    assert "No template 'nope'; available:" in r.output and "ranking" in r.output


def test_import_all_or_nothing_then_skip_invalid(app, runner, make, tmp_path):
    make.project(slug="imp")
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(item_row("a")) + "\n{oops\n" + json.dumps(item_row("b")) + "\n")
    r = runner.invoke(cli.main, ["import", str(path), "--project", "imp"])
    assert r.exit_code == 1
    assert "1 bad line(s); nothing was imported." in r.output
    assert "line 2: invalid JSON" in r.output
    with app.app_context():
        assert db.session().exec(select(Item)).all() == []
    r = runner.invoke(cli.main, ["import", str(path), "--project", "imp", "--skip-invalid"])
    assert r.exit_code == 0, r.output
    assert "2 created, 0 updated, 0 unchanged, 1 bad line(s) skipped" in r.output
    report = tmp_path / "set.jsonl.errors.jsonl"
    assert json.loads(report.read_text())["line"] == 2
    r = runner.invoke(cli.main, ["import", str(path), "--project", "imp", "--skip-invalid"])
    assert "0 created, 0 updated, 2 unchanged" in r.output


def test_import_gzip(app, runner, make, tmp_path):
    import gzip

    make.project(slug="gz")
    path = tmp_path / "set.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(item_row("g1")) + "\n")
    r = runner.invoke(cli.main, ["import", str(path), "--project", "gz"])
    assert r.exit_code == 0 and "1 created" in r.output


def test_every_cli_option_has_help():
    import click

    def walk(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    for command in walk(cli.main):
        assert command.help, f"{command.name} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{command.name} {param.opts} has no help"


def test_import_refuses_a_gzip_bomb_at_its_first_overlong_line(app, runner, make, tmp_path):
    import gzip

    make.project(slug="bomb")
    app.config["IMPORT_MAX_LINE_BYTES"] = 2**20
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(json.dumps(item_row("ok")).encode() + b"\n")
        fh.write(b'{"id": "' + b"a" * 2**20 * 64)  # one 64 MiB line, never ended
    r = runner.invoke(cli.main, ["import", str(path), "--project", "bomb"])
    assert r.exit_code == 1
    assert "line 2 is longer than 1048576 bytes; nothing was imported." in r.output
    with app.app_context():
        assert db.session().exec(select(Item)).all() == []


def test_import_refuses_more_than_the_input_limit(app, runner, make, tmp_path):
    make.project(slug="big")
    app.config["IMPORT_MAX_BYTES"] = 3000
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(item_row(f"i{k}")) + "\n" for k in range(40)))
    r = runner.invoke(cli.main, ["import", str(path), "--project", "big"])
    assert r.exit_code == 1 and "the input is larger than 3000 bytes at line" in r.output
    with app.app_context():
        assert db.session().exec(select(Item)).all() == []


def test_import_accepts_a_utf8_bom_and_refuses_nul_with_line_and_field(app, runner, make, tmp_path):
    make.project(slug="bom")
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(item_row("b1")).encode() + b"\n")
    r = runner.invoke(cli.main, ["import", str(path), "--project", "bom"])
    assert r.exit_code == 0 and "1 created" in r.output, r.output
    bad = item_row("b2")
    bad["responses"][1]["content"] = "before\x00after"
    path.write_text(json.dumps(item_row("b3")) + "\n" + json.dumps(bad) + "\n")
    r = runner.invoke(cli.main, ["import", str(path), "--project", "bom"])
    assert r.exit_code == 1
    assert "line 2: responses.1.content: contains a NUL character" in r.output, r.output
    with app.app_context():
        assert [i.external_id for i in db.session().exec(select(Item))] == ["b1"]


def test_the_help_lists_each_command_by_its_own_words():
    # `rankroom --help` shows COMMANDS' short help without importing the commands; it
    # must stay each command's own.
    from service.cli.commands import COMMANDS

    ctx = click.Context(cli.main)
    for name, (_, _, short) in COMMANDS.items():
        command = cli.main.get_command(ctx, name)
        assert command.name == name
        assert command.get_short_help_str(limit=500) == short


def _loaded_after(
    args: list[str], env: dict[str, str] | None = None, prefixes: tuple[str, ...] = ("service.",)
) -> set[str]:
    """Run ``rankroom ARGS`` in a fresh interpreter; return the modules of ``prefixes``
    it loaded."""
    code = (
        "import sys; from click.testing import CliRunner; from service.cli import main; "
        f"r = CliRunner().invoke(main, {args!r}); assert r.exit_code == 0, r.output; "
        f"print(' '.join(m for m in sys.modules if m.startswith({prefixes!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    return set(out.split())


def _env_of(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RANKROOM_DATABASE_URL": database_url,
        "RANKROOM_SECRET_KEY": "x",
        "RANKROOM_INSTANCE_PATH": str(tmp_path),
    }


def test_a_command_that_serves_no_http_builds_no_routes(database_url, tmp_path):
    """The app of ``audit export`` (any command but serve) has no API, no pages and no
    request plumbing: they cost a third of its start (the OpenAPI document, the route
    table, their imports, the accounts stack that sign-in loads)."""
    loaded = _loaded_after(["audit", "export"], _env_of(database_url, tmp_path))
    assert "service.cli.audit_log" in loaded and "service.db" in loaded  # it ran
    assert not {m for m in loaded if m.startswith(("service.api", "service.web", "service.http"))}


# What a light command must not load: each costs a tenth of a second or more of its start
# (issue #16: light commands under 0.4 s).
HEAVY = ("numpy", "scipy", "pyarrow", "huggingface_hub", "markdown_it", "krippendorff")


@pytest.mark.parametrize(
    ("args", "stacks"),
    [
        # The audit log and the database: no accounts, no rating rules, no maths.
        (["audit", "export"], ("service.accounts", "service.rating", *HEAVY)),
        # The users and their tokens: not invites, memberships, erasure and what they bring.
        (["tokens", "list"], ("service.accounts.erasure", "service.accounts.invites", *HEAVY)),
        # The options' help: not the exporter and its statistics, the folder writer, the
        # Hub, the dashboards behind a card, nor the markdown renderer.
        (
            ["export", "--help"],
            (
                "service.export.exporter",
                "service.stats",
                "service.cli.export_folder",
                "service.export.folder",
                "service.dashboards",
                "pygments",
                *HEAVY,
            ),
        ),
    ],
    ids=["audit export", "tokens list", "export --help"],
)
def test_a_light_command_loads_no_heavy_stack(database_url, tmp_path, args, stacks):
    loaded = _loaded_after(args, _env_of(database_url, tmp_path), prefixes=("service.", *stacks))
    assert f"service.cli.{_module_of(args[0])}" in loaded  # it ran
    assert not {m for m in loaded if m.startswith(stacks)}


def _module_of(command: str) -> str:
    from service.cli.commands import COMMANDS

    return COMMANDS[command][0]


def test_serve_gets_the_routes_and_other_commands_do_not(monkeypatch, tmp_path):
    from service.cli import commands

    monkeypatch.setenv("RANKROOM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("RANKROOM_SECRET_KEY", "x")
    root = click.Context(cli.main, info_name="rankroom")
    for name, routes in (("serve", True), ("doctor", False)):
        command = cli.main.get_command(root, name)
        with click.Context(command, info_name=name, parent=root):
            assert commands._command_name() == name
            app = commands._cli_app()
        assert ("api-docs.openapi_json" in app.view_functions) is routes
        db.engine_of(app).dispose()


def test_help_builds_no_app_and_imports_no_command():
    loaded = _loaded_after(["--help"], prefixes=("service.", "sqlmodel"))
    assert loaded == {"service.cli", "service.cli.commands", "service.config"}
