"""croissant.json: Croissant 1.1 metadata with its Responsible AI fields, from the record.

``croissant`` is a pure function of the records, the written files and their columns, so the
JSON Lines export (``rankroom export --card``) and a Parquet folder write the same metadata.
Every RAI text is one of ``record_text``'s sentences, the ones the card states.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from service.export import record_text
from service.export.card import FileInfo
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


def croissant(
    records: Sequence[Record],
    files: Sequence[FileInfo],
    *,
    summary: ExportSummary,
    columns: Mapping[str, str | None],
    license: str = "other",
    date_published: str | None = None,
) -> dict[str, Any]:
    """Return Croissant 1.1 metadata (JSON-LD) for the exported files and their records.

    ``columns`` maps each column of the files to a Croissant data type, None for a
    list or object column (``columns_of``);
    ``date_published`` defaults to the last judgment's day.
    """
    slugs = "-".join(r.slug for r in records) or "export"
    last = max((r.last_judgment for r in records if r.last_judgment), default=None)
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": f"rankroom-{slugs}-{summary.format}",
        "description": (
            f"Human preference judgments exported by Rankroom ({summary.format} format, "
            f"{summary.total_rows} rows) from project(s) "
            + ", ".join(f"{r.name} ({r.slug})" for r in records)
            + "."
        ),
        "conformsTo": CONFORMS_TO,
        "citeAs": f"Rankroom export of {slugs} ({summary.format})",
        "license": license,
        "url": "README.md",
        "version": "1.0.0",
        "datePublished": date_published or (last[:10] if last else None),
        "keywords": ["rlhf", "preference", "human feedback", "rankroom"],
        **_rai(records, summary),
        "distribution": [_file(f) for f in files],
        "recordSet": [_record_set(f, columns) for f in files],
    }


def _rai(records: Sequence[Record], summary: ExportSummary) -> dict[str, Any]:
    """The Responsible AI fields, one text per project (lists where Croissant takes many)."""
    first = min((r.first_judgment for r in records if r.first_judgment), default=None)
    last = max((r.last_judgment for r in records if r.last_judgment), default=None)
    dropped = summary.as_dict()
    left_out = [
        f"{k.replace('_', ' ')}: {v}"
        + (f" ({dropped['dropped_reasons'][k]})" if k in dropped["dropped_reasons"] else "")
        for k, v in dropped["dropped"].items()
    ]
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
        "rai:dataPreprocessingProtocol": (
            f"Rankroom export rules and options: {json.dumps(summary.options, sort_keys=True)}. "
            f"Left out: {'; '.join(left_out) or 'nothing'}. Raters excluded for low gold "
            f"accuracy: {summary.excluded_raters}. Rows that could not be read: "
            f"{len(summary.skipped)}."
        ),
        "rai:dataUseCases": [
            f"Preference tuning and evaluation of language models: the {summary.format} "
            "format (see the card for its trainer)."
        ],
        "rai:personalSensitiveInformation": (
            "Raters are not named: the files carry pseudonymous rater ids unless the export "
            f"asked for real usernames (real_usernames={summary.options.get('real_usernames')})."
        ),
    }


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


def _record_set(f: FileInfo, columns: Mapping[str, str | None]) -> dict[str, Any]:
    name = f.part or "default"
    nested = [c for c, kind in columns.items() if kind is None]
    return {
        "@type": "cr:RecordSet",
        "@id": name,
        "name": name,
        "description": f"{f.rows} rows of {f.name}."
        + (f" Columns holding JSON lists or objects: {', '.join(nested)}." if nested else ""),
        "field": [
            {
                "@type": "cr:Field",
                "@id": f"{name}/{column}",
                "name": column,
                "dataType": kind,
                "source": {"fileObject": {"@id": f.name}, "extract": {"column": column}},
            }
            for column, kind in columns.items()
            if kind is not None
        ],
    }
