"""Options of a Hub-ready folder: the export options, several formats, and a license.

``FolderOptionsSchema`` extends ``ExportOptionsSchema``, so the CLI's ``--to-folder``
and ``GET /api/v1/export/folder`` read every rule and filter the same way as a JSON
Lines export. An option that changes only some formats' rows goes to those formats'
configs; it is refused only when no requested format uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from service.errors import InvalidInput
from service.export.options import (
    APPLIES_TO,
    FORMATS,
    ExportOptions,
    ExportOptionsSchema,
    cli_flag,
)
from service.schemas import TextBoolean, flatten_messages

# A Hub license identifier (apache-2.0, cc-by-4.0, other, ...).
_LICENSE = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}$")


@dataclass(frozen=True)
class FolderOptions:
    """Which formats go into the folder, each with its own export options."""

    configs: tuple[ExportOptions, ...]
    explicit: bool  # the formats were named; by default every format the data supports
    license: str = "other"
    allow_empty: bool = False

    @property
    def first(self) -> ExportOptions:
        """The options every config shares (filters, splits, part)."""
        return self.configs[0]


class FolderOptionsSchema(ExportOptionsSchema):
    """Export arguments of a Hub-ready folder, as given on the command line or in the query."""

    format = fields.List(
        fields.String(validate=validate.OneOf(FORMATS)),
        load_default=list,
        metadata={
            "description": "Formats to write, one config each (repeatable). Default: every "
            "format the projects' data gives rows in."
        },
    )
    license = fields.String(
        load_default="other",
        validate=validate.Regexp(_LICENSE, error="give a Hub license id, e.g. cc-by-4.0"),
        metadata={"description": "License id for the card's front matter (e.g. cc-by-4.0)."},
    )

    allow_empty = TextBoolean(
        load_default=False,
        metadata={
            "description": "Keep formats and splits with no rows (by default an asked-for "
            "format or a split with no rows is an error, and a default format with none is "
            "left out)."
        },
    )

    @validates_schema(pass_original=True)
    def _applies(self, data: dict[str, Any], original: dict[str, Any], **_: Any) -> None:
        wanted = data.get("format") or FORMATS
        for name, formats in APPLIES_TO.items():
            if name in original and not set(wanted) & set(formats):
                flag = cli_flag(name, self.fields[name])
                raise ValidationError(
                    f"{flag} changes only {', '.join(formats)} rows, none of the formats "
                    "asked for: leave it out",
                    name,
                )

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> FolderOptions:  # type: ignore[override]
        formats = tuple(dict.fromkeys(data.pop("format") or ()))
        license_id, allow_empty = data.pop("license"), data.pop("allow_empty")
        base = super()._build({**data, "format": (formats or FORMATS)[0]}, **kwargs)
        configs = tuple(self._for(base, fmt) for fmt in formats or FORMATS)
        return FolderOptions(
            configs=configs, explicit=bool(formats), license=license_id, allow_empty=allow_empty
        )

    def _for(self, base: ExportOptions, fmt: str) -> ExportOptions:
        """Return the options for one format: those it does not read go back to defaults."""
        reset = {
            name: self.fields[name].load_default
            for name, formats in APPLIES_TO.items()
            if fmt not in formats
        }
        return replace(base, format=fmt, **reset)


def parse_folder_options(data: dict[str, Any]) -> FolderOptions:
    """Validate raw folder export arguments, or raise InvalidInput naming each field."""
    try:
        return FolderOptionsSchema().load(data)
    except ValidationError as exc:
        errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages)]
        first = errors[0] if errors else {"field": "", "message": "invalid"}
        raise InvalidInput(
            f"Invalid export option {first['field']}: {first['message']}", errors=errors
        ) from exc
