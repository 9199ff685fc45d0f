"""croissant.json: Croissant 1.1 metadata with its Responsible AI fields, from the record.

``croissant`` is a pure function of the records, the written files and their columns, so the
JSON Lines export (``rankroom export --card``) and a Parquet folder (one ``ConfigFiles`` per
format) write the same metadata.
Every RAI text is one of ``record_text``'s sentences, the ones the card states.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.export import record_text
from service.export.card import FileInfo
from service.export.columns import BOOL, FLOAT, INT, STRING
from service.export.record import Record
from service.export.summary import ExportSummary

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
# The JSON-LD context of Croissant 1.1 with the RAI vocabulary (mlcroissant's own).
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
ENCODINGS = {
    ".jsonl": "application/jsonlines",
    ".gz": "application/gzip",
    ".parquet": "application/x-parquet",
}
_TYPES = ((bool, "sc:Boolean"), (int, "sc:Integer"), (float, "sc:Float"), (str, "sc:Text"))
_SCALARS = {INT: "sc:Integer", FLOAT: "sc:Float", BOOL: "sc:Boolean", STRING: "sc:Text"}


def columns_of(row: Mapping[str, Any]) -> dict[str, str | None]:
    """Return each column of a sample row with its Croissant data type.

    A list or object column (messages, votes, metadata) gets None: Croissant reads a JSON
    Lines cell only as a scalar, so such a column is named in its record set's description
    instead of being typed.
    """
    return {
        name: next((t for kind, t in _TYPES if isinstance(value, kind)), None)
        for name, value in row.items()
    }


@dataclass(frozen=True)
class ConfigFiles:
    """One export's files, the summary of the export that wrote them and their columns.

    ``columns`` maps each column to a Croissant data type, None for a list or object
    column (``columns_of``, ``parquet_columns``). ``config``: the folder config the files
    belong to, which names their record sets (``dpo_train``); "" for a plain export,
    whose record sets are named by split (or ``default``).
    """

    summary: ExportSummary
    files: Sequence[FileInfo]
    columns: Mapping[str, str | None]
    config: str = ""


def parquet_columns(cols: Mapping[str, Any]) -> dict[str, str | None]:
    """Return each Parquet column (``export.columns`` description) with its Croissant type.

    A list, struct or JSON column gets None, as in ``columns_of``: it is named in its
    record set's description instead of being typed.
    """
    return {
        name: _SCALARS.get(kind) if isinstance(kind, str) else None for name, kind in cols.items()
    }


def croissant(
    records: Sequence[Record],
    configs: Sequence[ConfigFiles],
    *,
    license: str = "other",
    date_published: str | None = None,
) -> dict[str, Any]:
    """Return Croissant 1.1 metadata (JSON-LD) for the exported files and their records.

    One ``ConfigFiles`` for a JSON Lines export, one per format for a Parquet folder;
    ``date_published`` defaults to the last judgment's day.
    """
    slugs = "-".join(r.slug for r in records) or "export"
    formats = "-".join(c.summary.format for c in configs) or "none"
    rows = ", ".join(f"{c.summary.format}: {c.summary.total_rows} rows" for c in configs)
    last = max((r.last_judgment for r in records if r.last_judgment), default=None)
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": f"rankroom-{slugs}-{formats}",
        "description": (
            f"Human preference judgments exported by Rankroom ({rows or 'no rows'}) from "
            "project(s) " + ", ".join(f"{r.name} ({r.slug})" for r in records) + "."
        ),
        "conformsTo": CONFORMS_TO,
        "citeAs": f"Rankroom export of {slugs} ({formats.replace('-', ', ')})",
        "license": license,
        "url": "README.md",
        "version": "1.0.0",
        "datePublished": date_published or (last[:10] if last else None),
        "keywords": ["rlhf", "preference", "human feedback", "rankroom"],
        **_rai(records, configs),
        "distribution": [_file(f) for c in configs for f in c.files],
        "recordSet": [_record_set(f, c) for c in configs for f in c.files],
    }


def _rai(records: Sequence[Record], configs: Sequence[ConfigFiles]) -> dict[str, Any]:
    """The Responsible AI fields, one text per project (lists where Croissant takes many)."""
    first = min((r.first_judgment for r in records if r.first_judgment), default=None)
    last = max((r.last_judgment for r in records if r.last_judgment), default=None)
    named = len(configs) > 1  # a folder's configs: say which one each text is about
    summaries = [c.summary for c in configs]
    real = any(s.options.get("real_usernames") for s in summaries)
    return {
        "rai:dataCollection": " ".join(record_text.collection(r) for r in records),
        "rai:dataCollectionType": ["Manual Human Curator"],
        "rai:dataCollectionTimeFrame": [t for t in (first, last) if t],
        "rai:dataAnnotationProtocol": [record_text.protocol(r) for r in records],
        "rai:dataAnnotationPlatform": ["Rankroom"],
        "rai:dataAnnotationAnalysis": " ".join(_analysis(r) for r in records),
        "rai:annotationsPerItem": [record_text.per_item(r) for r in records],
        "rai:annotatorDemographics": [record_text.demographics(r) for r in records],
        "rai:machineAnnotationTools": [_machines(r) for r in records],
        "rai:dataBiases": [record_text.biases(r) for r in records],
        "rai:dataLimitations": " ".join(record_text.limitations(r) for r in records),
        "rai:dataPreprocessingProtocol": " ".join(_preprocessing(s, named) for s in summaries),
        "rai:dataUseCases": [
            f"Preference tuning and evaluation of language models: the {s.format} "
            "format (see the card for its trainer)."
            for s in summaries
        ],
        "rai:personalSensitiveInformation": (
            "Raters are not named: the files carry pseudonymous rater ids unless the export "
            f"asked for real usernames (real_usernames={real})."
        ),
    }


def _preprocessing(summary: ExportSummary, named: bool) -> str:
    """Say which rules and options made one export's rows, and what they left out."""
    s = summary.as_dict()
    left_out = [
        f"{k.replace('_', ' ')}: {v}"
        + (f" ({s['dropped_reasons'][k]})" if k in s["dropped_reasons"] else "")
        for k, v in s["dropped"].items()
    ]
    return (
        (f"{summary.format}: " if named else "")
        + f"Rankroom export rules and options: {json.dumps(summary.options, sort_keys=True)}. "
        f"Left out: {'; '.join(left_out) or 'nothing'}. Raters excluded for low gold "
        f"accuracy: {summary.excluded_raters}. Rows that could not be read: "
        f"{len(summary.skipped)}."
    )


def _analysis(r: Record) -> str:
    q = r.quality
    figures = "; ".join(f"{f.scope} {f.label}: {record_text.interval(f.stat)}" for f in q.agreement)
    return (
        f"{r.slug}: agreement {figures or 'not measured'}. Adjudications: {q.adjudications} on "
        f"{q.adjudicated_items} items. Active hours {record_text.number(r.time.hours, 2)}, "
        f"median seconds per judgment {record_text.number(r.time.median_seconds, 1)}."
    )


def _machines(r: Record) -> str:
    m = r.machine
    return (
        f"{r.slug}: responses by model {record_text.pairs(m.responses_by_model)}; generated by "
        f"Rankroom pull sources {record_text.pairs(m.generated)}; model judges: "
        f"{m.judge_judgments} judgments (every judgment came from an account, by role: "
        f"{record_text.pairs(m.judgments_by_role)})."
    )


def _file(f: FileInfo) -> dict[str, Any]:
    suffix = "." + f.name.rsplit(".", 1)[-1] if "." in f.name else ""
    return {
        "@type": "cr:FileObject",
        "@id": f.name,
        "name": f.name,
        "contentUrl": f.name,
        "encodingFormat": ENCODINGS.get(suffix, "application/jsonlines"),
        "sha256": f.file_sha256 or f.sha256,
    }


def _record_set(f: FileInfo, config: ConfigFiles) -> dict[str, Any]:
    split = f.part or ("train" if config.config else "default")
    name = f"{config.config}_{split}" if config.config else split
    nested = [c for c, kind in config.columns.items() if kind is None]
    return {
        "@type": "cr:RecordSet",
        "@id": name,
        "name": name,
        "description": f"{f.rows} rows of {f.name}."
        + (f" Columns holding lists or objects: {', '.join(nested)}." if nested else ""),
        "field": [
            {
                "@type": "cr:Field",
                "@id": f"{name}/{column}",
                "name": column,
                "dataType": kind,
                "source": {"fileObject": {"@id": f.name}, "extract": {"column": column}},
            }
            for column, kind in config.columns.items()
            if kind is not None
        ],
    }
