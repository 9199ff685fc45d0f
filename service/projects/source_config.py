"""Marshmallow schemas for source configuration and generation prompt sets.

A source's ``config`` is loaded through the schema of its kind and stored with
defaults filled in, so what an admin sees is what the worker uses. API keys are
never part of a config: only the name of the environment variable that holds one.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from service.models import SourceKind
from service.schemas import (
    SLUG,
    MessageSchema,
    Strict,
    StrictBoolean,
    StrictFloat,
    StrictInteger,
    check_prompt,
)

GENERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# The request body Rankroom builds itself; params may not override these.
RESERVED_PARAMS = ("model", "messages", "stream", "n")
MAX_INTERVAL_MINUTES = 30 * 24 * 60
_HTTP_URL = {"schemes": {"http", "https"}, "require_tld": False}


class _RefuseStoredKeys(Strict):
    @pre_load
    def _no_keys(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            for key in ("api_key", "key", "token", "authorization"):
                if key in data:
                    raise ValidationError(
                        "keys are never stored: put the key in an environment variable "
                        "on the worker and give its name as api_key_env",
                        key,
                    )
        return data


class _HttpOptions(_RefuseStoredKeys):
    timeout = StrictFloat(load_default=60.0, validate=validate.Range(0.01, 3600))
    retries = StrictInteger(load_default=3, validate=validate.Range(0, 20))
    backoff = StrictFloat(load_default=1.0, validate=validate.Range(0, 600))
    max_backoff = StrictFloat(load_default=60.0, validate=validate.Range(0, 3600))


class RemoteConfigSchema(_HttpOptions):
    """An http(s) JSON Lines file (gzip allowed) in any import shape."""

    url = fields.Url(required=True, **_HTTP_URL)
    api_key_env = fields.String(
        validate=validate.Regexp(ENV_NAME, error="must be an environment variable name")
    )
    skip_invalid = StrictBoolean(load_default=False)
    update = StrictBoolean(load_default=False)


class FolderConfigSchema(Strict):
    """A directory on the worker's host watched for ``*.jsonl`` and ``*.jsonl.gz`` files."""

    path = fields.String(required=True, validate=validate.Length(1, 1000))
    skip_invalid = StrictBoolean(load_default=False)
    update = StrictBoolean(load_default=False)
    # Files younger than this may still be being written; they wait for the next pull.
    min_age_seconds = StrictFloat(load_default=5.0, validate=validate.Range(0, 86400))

    @validates_schema
    def _check_path(self, data: dict[str, Any], **_: Any) -> None:
        if not PurePath(data["path"]).is_absolute():
            raise ValidationError("must be an absolute path on the worker's host", "path")


class GeneratorSchema(_RefuseStoredKeys):
    """One OpenAI-compatible chat-completions endpoint and how to sample from it."""

    name = fields.String(
        required=True,
        validate=validate.Regexp(GENERATOR_NAME, error="letters, digits, dot, dash, underscore"),
    )
    url = fields.Url(required=True, **_HTTP_URL)
    model = fields.String(required=True, validate=validate.Length(1, 200))
    params = fields.Dict(keys=fields.String(), load_default=dict)
    api_key_env = fields.String(
        validate=validate.Regexp(ENV_NAME, error="must be an environment variable name")
    )
    n = StrictInteger(load_default=1, validate=validate.Range(1, 9))

    @validates_schema
    def _check_params(self, data: dict[str, Any], **_: Any) -> None:
        taken = sorted(set(data.get("params") or {}) & set(RESERVED_PARAMS))
        if taken:
            raise ValidationError(
                f"{', '.join(taken)} cannot be set here (Rankroom sends them itself; "
                "use the generator's n for several samples)",
                "params",
            )


class GenerationConfigSchema(_HttpOptions):
    """A prompt set and the 2 to 9 candidate responses to generate for each prompt."""

    timeout = StrictFloat(load_default=120.0, validate=validate.Range(0.01, 3600))
    retries = StrictInteger(load_default=4, validate=validate.Range(0, 20))
    prompts = fields.String(required=True, validate=validate.Length(1, 2000))
    system = fields.String(validate=validate.Length(1, 200_000))
    generators = fields.List(
        fields.Nested(GeneratorSchema), required=True, validate=validate.Length(1, 9)
    )
    concurrency = StrictInteger(load_default=4, validate=validate.Range(1, 64))
    # Replies cut off at max_tokens (finish_reason "length") fail unless this is set.
    allow_truncated = StrictBoolean(load_default=False)

    @validates_schema
    def _check_generators(self, data: dict[str, Any], **_: Any) -> None:
        gens = data.get("generators") or []
        names = [g["name"] for g in gens]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationError(f"duplicate generator name(s): {', '.join(dupes)}", "generators")
        total = sum(g["n"] for g in gens)
        if not 2 <= total <= 9:
            raise ValidationError(
                f"need 2 to 9 responses per prompt in all (sum of n), got {total}", "generators"
            )


# The source a model judge owns (service/judging/config.py): its runs judge the project's
# items. Made with the judge, never by ``sources add`` (not a ``SourceKind``).
JUDGE_KIND = "judge"


class JudgeSourceSchema(Strict):
    """The source of a model judge: which judge it runs (the judge holds the config)."""

    judge_id = StrictInteger(required=True)


CONFIG_SCHEMAS: dict[str, type[Schema]] = {
    SourceKind.REMOTE.value: RemoteConfigSchema,
    SourceKind.FOLDER.value: FolderConfigSchema,
    SourceKind.GENERATION.value: GenerationConfigSchema,
    JUDGE_KIND: JudgeSourceSchema,
}


class PromptRowSchema(Strict):
    """One line of a generation prompt set: a prompt or a conversation, and its labels."""

    id = fields.String(validate=validate.Length(1, 200))
    prompt = fields.String()
    messages = fields.List(fields.Nested(MessageSchema), validate=validate.Length(min=1))
    tags = fields.List(fields.String(validate=validate.Length(1, 100)), load_default=list)
    expertise = fields.List(fields.String(validate=validate.Length(1, 100)), load_default=list)
    metadata = fields.Dict(load_default=dict)
    priority = StrictInteger(load_default=0, validate=validate.Range(-1000, 1000))

    def __init__(self, *, max_chars: int = 200_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_chars = max_chars

    @validates_schema
    def _check_prompt(self, data: dict[str, Any], **_: Any) -> None:
        check_prompt(data, self.max_chars)


class SourceInputSchema(Strict):
    """A new source as given to the API, the CLI and the admin page."""

    name = fields.String(
        required=True, validate=validate.Regexp(SLUG, error="lowercase letters, digits and dashes")
    )
    project = fields.String(required=True, validate=validate.Length(1, 80))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in SourceKind]))
    config = fields.Dict(required=True)
    interval_minutes = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(1, MAX_INTERVAL_MINUTES)
    )


class SourceUpdateSchema(Strict):
    """The parts of a source an admin may change later."""

    config = fields.Dict()
    interval_minutes = StrictInteger(
        allow_none=True, validate=validate.Range(1, MAX_INTERVAL_MINUTES)
    )
