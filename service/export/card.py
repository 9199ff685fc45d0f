"""The dataset card: how an export was made, for the people who review training data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.export import record_text
from service.export.record import Record
from service.export.summary import ExportSummary

_FORMATS = {
    "dpo": "TRL preference with explicit prompt (`prompt`, `chosen`, `rejected`), for `DPOTrainer`.",
    "reward": "TRL implicit-prompt preference (`chosen`, `rejected`, optional `margin`), for `RewardTrainer`.",
    "kto": "TRL unpaired preference (`prompt`, `completion`, boolean `label`), for `KTOTrainer`.",
    "openai": "OpenAI preference fine-tuning (`input.messages`, `preferred_output`, `non_preferred_output`).",
    "hh": "Anthropic HH-RLHF transcripts (`chosen`, `rejected`).",
    "ranking": "One row per item: every response with its consensus rank.",
    "ratings": (
        "One row per response (and per rated assistant turn, for turn dimensions): "
        "mean rubric scores and every rater's scores."
    ),
    "votes": (
        "One row per compared pair of responses: every rater's vote (`a`, `b` or `tie`, "
        "strength), the vote `distribution`, the pair's `agreement` (share of the most "
        "common vote, from two votes on) and the `consensus` rule's outcome, for soft "
        "labels or filtering by agreement."
    ),
    "sft": (
        "TRL conversational supervised fine-tuning (`messages`: the prompt's turns, then a "
        "rater's rewrite as the assistant turn), for `SFTTrainer`; one row per rewrite."
    ),
    "raw": "Every current judgment with everything stored about it (lossless archive).",
}


@dataclass(frozen=True)
class FileInfo:
    """One written file: its name, part, rows and checksums.

    ``sha256``: of the rows as JSON Lines, for a JSON Lines file (``file_sha256`` is then
    the file's own: they differ when it is compressed); of the file, for a Parquet file.
    """

    name: str
    part: str
    rows: int
    sha256: str
    file_sha256: str | None = None


# What a file's checksum columns say, by the kind of file written (JSON Lines or Parquet).
_FILE_HEADERS = {
    "json": "| File | Split | Rows | SHA-256 of the JSON Lines | SHA-256 of the file |",
    "parquet": "| File | Split | Rows | SHA-256 of the Parquet file |",
}


def render_card(
    summary: ExportSummary,
    files: Sequence[FileInfo],
    records: Sequence[Record] = (),
    *,
    file_kind: str = "json",
) -> str:
    """Return the dataset card (Markdown) for an export and the files it wrote.

    ``records`` (``service.dashboards.record.build_record``, one per exported project) add
    the record of how the data was made: protocol, raters, quality, time, machines, biases.
    ``file_kind``: "json" (JSON Lines files) or "parquet" (a folder's Parquet files), the
    ``datasets`` builder that loads them.
    """
    s = summary.as_dict()
    window = s["collection_window"]
    variant = f"Variant: **{s['variant']}**" + (
        " (text fields are message lists)." if s["variant"] == "conversational" else "."
    )
    if s["format"] == "reward":
        variant += f" Margin column: {'yes' if s['margin'] else 'no'}."
    if s["options"].get("with_votes"):
        variant += (
            " Columns `vote_share` and `vote_count`: of the raters who voted on the row's"
            " pair (unweighted, after the filters), the share who ordered it as the row"
            " does (a tie row: who tied it), and how many voted; trainers drop them."
        )
    lines = [
        *_front_matter(files),
        "",
        f"# Rankroom export: {s['format']}",
        "",
        _FORMATS[s["format"]],
        variant,
        "",
        "## Files",
        "",
        _FILE_HEADERS[file_kind],
        "|---|---|---|---|" + ("---|" if file_kind == "json" else ""),
    ]
    for f in files:
        sums = (
            f"`{f.sha256}` | `{f.file_sha256 or f.sha256}`"
            if file_kind == "json"
            else f"`{f.sha256}`"
        )
        lines.append(f"| `{f.name}` | {f.part or '(all)'} | {f.rows} | {sums} |")
    if file_kind == "parquet":
        lines += [
            "",
            "The SHA-256s are of the Parquet files in this folder. Their rows are the rows "
            "`rankroom export` writes as JSON Lines with these options.",
        ]
    lines += [
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{file_kind}", data_files={_data_files(files)})',
        "```",
        "",
        "## Source",
        "",
        "| Project | Name | Mode | Scale | Overlap | Guideline version now |",
        "|---|---|---|---|---|---|",
    ]
    for p in s["projects"]:
        lines.append(
            f"| {p['slug']} | {p['name']} | {p['mode']} | {p['scale']} | {p['overlap']} | {p['guideline_version']} |"
        )
    lines += [
        "",
        f"- Collection window: {window[0] or 'n/a'} to {window[1] or 'n/a'}",
        f"- Items: {s['items']}",
        f"- Judgments: {s['judgments_used']} used of {s['judgments_read']} current judgments read",
        f"- Raters: {s['raters']} ({_pairs(s['raters_by_expertise'])} by expertise)",
        f"- Raters excluded for low gold accuracy: {s['excluded_raters']}",
        f"- Judgments per guideline version: {_pairs(s['guideline_versions']) or 'n/a'}",
        f"- Complete: {'yes' if s['complete'] else 'no (the export stopped early)'}",
        "",
        "## Agreement",
        "",
    ]
    agreement = s["agreement"]
    if not agreement:
        lines.append("No item had two or more comparable judgments.")
    for kind, figure in agreement.items():
        lines.append(
            f"- {kind.replace('_', ' ')}: mean {figure['mean']} over {figure['items']} items"
        )
    options = s["options"]
    lines += _rewrites(s)
    lines += _judges(options)
    lines += ["", "## Rules and filters", "", "| Option | Value |", "|---|---|"]
    for key, value in options.items():
        lines.append(f"| {key} | `{_show(value)}` |")
    lines += ["", "## Left out", ""]
    why = s["dropped_reasons"]
    lines += [
        f"- {k.replace('_', ' ')}: {v}" + (f" ({why[k]})" if k in why else "")
        for k, v in s["dropped"].items()
    ] or ["Nothing."]
    lines += ["", "## Skipped rows", "", *_skipped(s["skipped_rows"])]
    for record in records:
        lines += ["", *record_text.markdown(record)]
    return "\n".join(lines) + "\n"


SKIPPED_SHOWN = 100


def _rewrites(s: dict[str, Any]) -> list[str]:
    """State the rewrite rules and counts (sft, or a pair format with rewrite rows)."""
    options = s["options"]
    if s["format"] != "sft" and not options.get("with_rewrites"):
        return []
    dropped = s["dropped"]
    lines = [
        "",
        "## Rewrites",
        "",
        "Raters rewrote a response after their verdict; the original stays as it was "
        "imported, and each rewrite is tied to it by the sha256 of the text the rater saw.",
        "",
        f"- A rewrite counts when it changes at least {options['min_edit_words']} word(s) "
        "of the original (words taken out plus words put in, by a longest matching of the "
        "two word sequences). Whitespace is never a word: whitespace-only edits never count "
        "(and are refused when submitted).",
        "- Several raters may rewrite the same item: each rewrite is its own row, its rater "
        "and judgment in the metadata.",
    ]
    if s["format"] != "sft":
        lines.append(
            "- Rewrite rows put the rewrite as chosen and its original as rejected, with "
            "`source` = `rewrite` (margin 0, no votes); verdict rows have `source` = "
            "`judgment`. Both-bad judgments give rewrite rows too."
        )
    lines += [
        f"- Rewrite rows written: {s['rewrites']}",
        f"- Left out below the minimum edit: {dropped.get('rewrites_below_min_edit', 0)}",
        f"- Left out, original changed since: {dropped.get('rewrites_of_changed_responses', 0)}",
    ]
    return lines


def _judges(options: dict[str, Any]) -> list[str]:
    """State how model judges' rows are told apart (only when the export includes them)."""
    if not options.get("include_judges"):
        return []
    return [
        "",
        "## Model judges",
        "",
        "This file also holds the verdicts of model judges (LLMs prompted with the same "
        "guidelines and rubric, shown the responses under the same blind labels). Every row "
        "says who made it: `annotator_type` is `human` for a rater's judgment and `model` for "
        "a judge's verdict, whose row names the `judge`. A judge saw each item in both orders: "
        "each order is a verdict of its own, and a verdict that flipped with the order is "
        "kept as it was, not averaged away. Judge verdicts count for none of the human "
        "figures above (items, judgments, raters, agreement) and for no consensus.",
    ]


def _skipped(rows: list[dict[str, Any]]) -> list[str]:
    """List the stored rows the export could not read or write (the files lack them)."""
    if not rows:
        return ["None: every stored row could be read."]
    lines = [
        f"{len(rows)} stored row(s) could not be read or written and are not in the files:",
        "",
        "| Judgment | Item | Field | Reason |",
        "|---|---|---|---|",
    ]
    for r in rows[:SKIPPED_SHOWN]:
        cells = [r["judgment_id"], r["item_id"], r["field"], r["reason"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if len(rows) > SKIPPED_SHOWN:
        lines.append(f"\n... and {len(rows) - SKIPPED_SHOWN} more (see the export summary).")
    return lines


def _front_matter(files: Sequence[FileInfo]) -> list[str]:
    """YAML the Hugging Face Hub reads: tags, and which file is which split."""
    lines = ["---", "tags: [rlhf, preference, rankroom]", "configs:", "- config_name: default"]
    lines.append("  data_files:")
    for f in files:
        lines += [f"  - split: {f.part or 'train'}", f"    path: {f.name}"]
    return [*lines, "---"]


def _data_files(files: Sequence[FileInfo]) -> str:
    if len(files) == 1 and not files[0].part:
        return repr(files[0].name)
    return "{" + ", ".join(f"{f.part!r}: {f.name!r}" for f in files) + "}"


def _pairs(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())


def _cell(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split()).replace("|", "\\|")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value.encode("unicode_escape").decode()
    return str(value).replace("|", "\\|")
