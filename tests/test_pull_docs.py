"""The README documents every pull option, config key and setting (a test keeps it so)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from service.cli import main
from service.config import SETTINGS
from service.judging.config import JudgeConfigSchema
from service.projects.source_config import CONFIG_SCHEMAS, GeneratorSchema, PromptRowSchema

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path", [("sources", "add"), ("pull",), ("worker",), ("judges", "add"), ("judge",)]
)
def test_every_command_option_is_documented(path):
    command = main
    for name in path:
        command = command.get_command(click.Context(command), name)
    for param in command.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert opt in README, f"rankroom {' '.join(path)} {opt} is not in the README"


@pytest.mark.parametrize(
    "schema",
    [*CONFIG_SCHEMAS.values(), GeneratorSchema, PromptRowSchema, JudgeConfigSchema],
    ids=lambda s: s.__name__,
)
def test_every_config_key_is_documented(schema):
    for key in schema().fields:
        assert f"`{key}`" in README or f'"{key}"' in README, f"{schema.__name__}.{key}"


@pytest.mark.parametrize("name", ["WORKER_POLL_SECONDS", "WORKER_STALE_SECONDS", "PULL_MAX_BYTES"])
def test_pull_settings_are_documented(name):
    assert name in SETTINGS and f"RANKROOM_{name}" in README
