"""The exporter: a project's current judgments in, trainer-ready rows out.

``export_preferences`` is the one domain function: the CLI writes its parts to
files, the API streams one part, and both run the same ``Export.chunks`` generator,
so they produce the same bytes. Every rule is an option of ``ExportOptions``.
"""

from __future__ import annotations

import gc
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from sqlmodel import Session, select

from service import audit, db
from service.errors import Forbidden, InvalidInput, NotFound
from service.export import judge_rows, rules, source, vision
from service.export.item_rows import ItemRows
from service.export.options import (
    CONVERSATIONAL_FORMATS,
    ExportOptions,
)
from service.export.rows import RowBuilder, encode, messages_of
from service.export.source import RaterData
from service.export.summary import ExportSummary
from service.export.vision import Vision
from service.export.votes import ProjectInfo
from service.images import ImageStore
from service.models import Item, Mode, Project, Response, Role, Scale, User
from service.rubric import rubric_of
from service.stats import rankings

FLUSH_BYTES = 256 * 1024
# Rows per chunk of ``Export.row_chunks`` (about 0.5 MB of text rows; images: megabytes each).
FLUSH_ROWS = 1024
FLUSH_IMAGE_ROWS = 8


class Export:
    """One export, checked and resolved up front; ``chunks()`` streams it."""

    def __init__(
        self,
        *,
        session: Session,
        options: ExportOptions,
        secret_key: str,
        actor: User | None = None,
        via: str = "api",
        address: str | None = None,
        images: ImageStore | None = None,
    ) -> None:
        if options.real_usernames and actor is not None and actor.role != Role.ADMIN.value:
            raise Forbidden("Only admins may export real usernames (real_usernames).")
        self.session, self.o, self.via, self.address = session, options, via, address
        # Keep the id, not the row: reading an expired row after the rollback below
        # would open a new transaction on the caller's session.
        self.actor_id = actor.id if actor is not None else None
        self.projects = self._projects()
        ids = list(self.projects)
        self.raters = self._raters(secret_key)
        unknown = [u for u in options.raters if u not in {r.username for r in self.raters.values()}]
        if unknown:
            raise InvalidInput(f"Unknown rater(s) in rater: {', '.join(unknown)}.")
        self._check_models(ids)
        tools = source.uses_tools(session, ids)
        # Tool calls and results are messages: a file with them is conversational.
        conversational = options.conversational or (
            options.format in CONVERSATIONAL_FORMATS
            and (tools or source.has_conversations(session, ids))
        )
        # Rows with images in the vision format, when the projects hold any (export/vision.py).
        self.vision = (
            Vision(fmt=options.format, store=images)
            if images is not None
            and vision.wanted(
                session, fmt=options.format, conversational=conversational, project_ids=ids
            )
            else None
        )
        self.summary = ExportSummary(format=options.format, options=options.as_dict())
        self.summary.variant = "conversational" if conversational else "standard"
        self.summary.tools = tools
        self.summary.margin = options.format == "reward" and options.margin and self._strengths()
        self.summary.projects = [self._describe(p) for p in self.projects.values()]
        weights, excluded = self._gold_weights(ids)
        turn_dimensions = self._dimensions(turns=True) if options.format == "ratings" else []
        self.items = ItemRows(
            options=options,
            projects={pid: self._info(p) for pid, p in self.projects.items()},
            raters=self.raters,
            weights=weights,
            excluded=excluded,
            # A ratings export with turn rows gives every row every dimension (null where
            # it does not apply), so that ``scores`` has one type in the whole file.
            dimensions=self._dimensions() + turn_dimensions,
            turn_dimensions=turn_dimensions,
            builder=RowBuilder(
                fmt=options.format,
                conversational=conversational,
                separator=options.separator,
                margin=self.summary.margin,
                metadata=options.metadata,
                with_source=options.with_rewrites,
                tools=tools,
            ),
            summary=self.summary,
        )
        self.project_ids = ids
        # The full columns hold the rewrites too (sft, --with-rewrites).
        self.full = options.format in ("raw", "ratings", "kto", "sft") or options.with_rewrites
        self.full = self.full or any(p.mode == Mode.RATING.value for p in self.projects.values())
        # Hold no transaction between checking the options and streaming the rows (unless
        # the caller holds a snapshot for several exports: a folder's configs).
        self._end_reads()

    def _projects(self) -> dict[int, Project]:
        found = {
            p.slug: p
            for p in self.session.exec(select(Project).where(Project.slug.in_(self.o.projects)))
        }
        missing = [s for s in self.o.projects if s not in found]
        if missing:
            raise NotFound(f"No project {', '.join(repr(s) for s in missing)}.")
        return {found[s].id: found[s] for s in self.o.projects}

    def _check_models(self, project_ids: list[int]) -> None:
        """Refuse a model filter naming no model of the projects: it would give no rows."""
        if not self.o.models:
            return
        known = sorted(
            m
            for m in self.session.exec(
                select(Response.model)
                .join(Item, Item.id == Response.item_id)
                .where(Item.project_id.in_(project_ids), Response.model.is_not(None))
                .distinct()
            )
            if m
        )
        unknown = [m for m in self.o.models if m not in known]
        if unknown:
            listed = ", ".join(known[:50]) + (" ..." if len(known) > 50 else "") or "none"
            raise InvalidInput(
                f"model: no response of these projects is by {', '.join(unknown)}; "
                f"their models: {listed}.",
                errors=[{"field": "model", "message": f"unknown: {', '.join(unknown)}"}],
            )

    def _raters(self, secret_key: str) -> dict[int, RaterData]:
        real = self.o.real_usernames
        return {
            uid: RaterData(uid, name if real else rules.pseudonym(secret_key, uid), name, exp)
            for uid, (name, exp) in source.raters(self.session).items()
        }

    def _strengths(self) -> bool:
        """Tell whether every project records a strength (pairwise likert7), so margins exist."""
        return all(
            p.mode == Mode.PAIRWISE.value and p.scale == Scale.LIKERT7.value
            for p in self.projects.values()
        )

    def _info(self, project: Project) -> ProjectInfo:
        rubric = rubric_of(project)
        name = self.o.rating_dimension
        if name is None:
            main = rubric.main_rating
            name = main.name if main else None
        else:
            numeric = [d.name for d in rubric.scores]
            if name not in numeric:
                raise InvalidInput(
                    f"rating_dimension: project {project.slug!r} has no per-response likert or "
                    f"number dimension {name!r}; it has: {', '.join(numeric) or 'none'}.",
                    errors=[{"field": "rating_dimension", "message": f"unknown: {name}"}],
                )
        threshold = self.o.kto_threshold
        dim = rubric.get(name)
        if threshold is None and dim is not None:
            threshold = dim.midpoint()
        o = self.o
        rated = o.kto_from == "ratings" or (o.kto_from == "auto" and project.mode == "rating")
        if o.format == "kto" and rated and (name is None or threshold is None):
            raise InvalidInput(
                f"kto_threshold: project {project.slug!r} has no numeric rating dimension "
                "with a known scale; give rating_dimension and kto_threshold."
            )
        return ProjectInfo(
            project.slug,
            project.overlap,
            name,
            threshold,
            mode=project.mode,
            pairs=project.pairs,
            pair_reference=project.pair_reference,
            adaptive_overlap=project.adaptive_overlap,
            overlap_max=project.overlap_max,
            judge_budget=project.judge_budget,
        )

    def _dimensions(self, turns: bool = False) -> list[tuple[str, bool]]:
        """Return every response-scope (or turn-scope) rubric dimension (name, numeric)."""
        seen: dict[str, bool] = {}
        for project in self.projects.values():
            rubric = rubric_of(project)
            for d in rubric.per_turn if turns else rubric.per_response:
                seen.setdefault(d.name, d.numeric)
        return list(seen.items())

    @property
    def turns(self) -> bool:
        """Tell whether the rows have a ``turn`` column (ratings of turn dimensions)."""
        return bool(self.items.turn_dimensions)

    def _describe(self, project: Project) -> dict[str, Any]:
        return {
            "slug": project.slug,
            "name": project.name,
            "mode": project.mode,
            "scale": rankings.collected_scale(project.mode, project.scale, rubric_of(project)),
            "overlap": project.overlap,
            "guideline_version": project.guideline_version,
        }

    def _gold_weights(self, ids: list[int]) -> tuple[dict[int, float], set[int]]:
        """Score each rater on gold items: weights (if asked) and raters below the threshold."""
        o = self.o
        if o.rater_weights != "gold" and o.min_gold_accuracy is None:
            return {}, set()
        scores: dict[int, list[float]] = {}
        for project_id, rater_id, mode, shown, verdict, rubric, gold in source.gold_judgments(
            self.session, ids
        ):
            project = self.projects[project_id]
            score = rankings.score_judgment(
                mode=mode,
                scale=project.scale,
                rubric=rubric_of(project),
                gold=gold,
                verdict=verdict,
                shown=shown or [],
                judged=rubric,
            )
            if score is not None:
                scores.setdefault(rater_id, []).append(score)
        weights = {}
        if o.rater_weights == "gold":
            weights = {uid: rules.smoothed_accuracy(scores.get(uid, [])) for uid in self.raters}
        excluded = set()
        if o.min_gold_accuracy is not None:
            excluded = {uid for uid, s in scores.items() if sum(s) / len(s) < o.min_gold_accuracy}
        self.summary.excluded_raters = len(excluded)
        return weights, excluded

    def count(self) -> int:
        """Count the current judgments this export reads (for a progress bar)."""
        return source.count_judgments(self.session, self.project_ids)

    def any_judgments(self) -> bool:
        """Tell whether this export reads any current judgment."""
        return source.any_judgments(self.session, self.project_ids)

    def chunks(self, progress: Callable[[int], None] | None = None) -> Iterator[tuple[str, bytes]]:
        """Yield (part name, bytes) as rows are built; record the export when done."""
        hashes = {p: hashlib.sha256() for p in self.o.split_names()}
        try:
            yield from self._paused(self._built(_Lines(hashes), progress))
        finally:
            self.summary.sha256 = {p: h.hexdigest() for p, h in hashes.items()}

    def row_chunks(
        self, progress: Callable[[int], None] | None = None
    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield (part name, rows) as rows are built, not encoded; record the export when done.

        For a writer that takes the rows as they are (a folder's Parquet files): the same
        rows as ``chunks``, with no JSON text made and parsed back, so no JSON Lines
        checksum either (``summary.sha256`` stays empty).
        """
        yield from self._paused(self._built(_Rows(self.vision is not None), progress))

    def _paused(self, built: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
        """Yield what ``built`` yields with the cycle collector paused while it works."""
        try:
            while True:
                # Rows are acyclic, so pause CPython's cycle collector while building them:
                # it would otherwise walk the whole heap every few thousand rows (about a
                # tenth of an export's time). Only between yields, so a caller never runs
                # with it paused.
                enabled = gc.isenabled()
                gc.disable()
                try:
                    chunk = next(built, None)
                finally:
                    if enabled:
                        gc.enable()
                if chunk is None:
                    break
                yield chunk
            self.summary.complete = True
        finally:
            built.close()
            self._audit()

    def _built(
        self, out: _Buffers, progress: Callable[[int], None] | None
    ) -> Iterator[tuple[str, Any]]:
        """Build (and encode) the rows into ``out``; yield each part's chunk when it is due."""
        o, summary = self.o, self.summary
        parts = o.split_names()
        summary.rows = dict.fromkeys(parts, 0)
        groups = source.item_groups(
            self.session, self.project_ids, full=self.full, exclude_gold=o.exclude_gold
        )
        rows_of = self.items.rows
        for item, judgments in groups:
            summary.judgments_read += len(judgments)
            if progress:
                progress(len(judgments))
            part = rules.split_of(_prompt_key(item), o.split, o.seed) if o.split else ""
            if part not in summary.rows:
                continue
            if self._buffered(part, self._lines(item, judgments, rows_of, out), out):
                yield part, out.drain(part)
        if o.include_judges:
            verdicts = judge_rows.judge_groups(
                self.session, self.project_ids, exclude_gold=o.exclude_gold
            )
            for item, group in verdicts:
                part = rules.split_of(_prompt_key(item), o.split, o.seed) if o.split else ""
                if part not in summary.rows:
                    continue
                rows = judge_rows.judge_rows(self.items, item, group)
                lines = self._encoded(item, rows, out, human=False)
                if self._buffered(part, lines, out):
                    yield part, out.drain(part)
        for part in parts:
            if out.waiting(part):
                yield part, out.drain(part)

    def _lines(
        self,
        item: source.ItemData,
        judgments: list[Any],
        rows_of: Callable[[source.ItemData, list[Any]], Any],
        out: _Buffers,
    ) -> list[Any]:
        """Return the item's rows as ``out`` buffers them (encoded for JSON Lines), leaving
        out (and naming) what cannot be read.

        One stored row must never end an export: a judgment with an unreadable field is
        skipped, and an item whose rows fail to build or encode is skipped whole.
        """
        summary = self.summary
        readable = judgments
        if not source.all_readable(judgments):
            readable = []
            for j in judgments:
                bad = source.unreadable_fields(j)
                for name, reason in bad:
                    summary.skip(item=item.external_id, judgment_id=j.id, field=name, reason=reason)
                if not bad:
                    readable.append(j)
        if not readable:
            return []
        try:
            return self._encoded(item, rows_of(item, readable), out, human=True)
        except (KeyError, TypeError, ValueError) as exc:
            for j in readable:
                reason = f"the item's rows could not be built: {type(exc).__name__}: {exc}"
                summary.skip(item=item.external_id, judgment_id=j.id, field=None, reason=reason)
            return []

    def _encoded(
        self, item: source.ItemData, rows: Any, out: _Buffers, *, human: bool
    ) -> list[Any]:
        """Encode an item's rows for ``out``, in the vision variant when asked, humans' marked
        beside judges'."""
        if self.vision is not None:
            rows = [self.vision.apply(row, item.project_id) for row in rows]
        if human and self.o.include_judges:
            rows = [judge_rows.mark_human(row) for row in rows]
        return out.encode(rows)

    def _buffered(self, part: str, lines: list[Any], out: _Buffers) -> bool:
        """Add an item's lines to its part's buffer; tell whether the buffer is due to go out."""
        if not lines:
            return False
        self.summary.rows[part] += len(lines)
        return out.add(part, lines)

    def _end_reads(self) -> None:
        """End this export's read transaction, unless the caller holds a snapshot open."""
        if not db.in_snapshot(self.session):
            self.session.rollback()

    def _audit(self) -> None:
        """Record who exported what, and how many rows went out, in the audit log."""
        # End the read transaction first: on SQLite a read snapshot cannot become a write.
        self._end_reads()
        details = {
            "filters": self.o.as_dict(),
            "rows": self.summary.total_rows,
            "rows_by_part": dict(self.summary.rows),
            "skipped_rows": self.summary.skipped[:100],
            "complete": self.summary.complete,
            "via": self.via,
        }
        # The session may be bound to an engine or to one connection: write on a fresh one.
        with db.write_session(self.session.get_bind().engine) as s:
            audit.record(
                session=s,
                actor_id=self.actor_id,
                action="export",
                target=f"{self.o.format}:{','.join(self.o.projects)}",
                details=details,
                address=self.address,
            )


class _Buffers(ABC):
    """Each part's rows waiting to go out, as what goes out (lines or rows), and when."""

    def __init__(self) -> None:
        self.buffers: dict[str, list[Any]] = {}

    @abstractmethod
    def encode(self, rows: Any) -> list[Any]:
        """Return an item's rows as they are buffered."""

    @abstractmethod
    def add(self, part: str, lines: list[Any]) -> bool:
        """Buffer an item's rows; tell whether the part is due to go out."""

    def waiting(self, part: str) -> bool:
        return bool(self.buffers.get(part))

    @abstractmethod
    def drain(self, part: str) -> Any:
        """Return the part's chunk and empty its buffer."""


class _Lines(_Buffers):
    """JSON Lines: each part's lines, out about every 256 kB, hashed as they go."""

    def __init__(self, hashes: dict[str, Any]) -> None:
        super().__init__()
        self.hashes = hashes
        self.sizes: dict[str, int] = {}

    def encode(self, rows: Any) -> list[Any]:
        return [encode(row) for row in rows]

    def add(self, part: str, lines: list[Any]) -> bool:
        self.buffers.setdefault(part, []).extend(lines)
        self.sizes[part] = self.sizes.get(part, 0) + sum(map(len, lines))
        return self.sizes[part] >= FLUSH_BYTES

    def drain(self, part: str) -> bytes:
        data = b"".join(self.buffers[part])
        self.buffers[part].clear()
        self.sizes[part] = 0
        self.hashes[part].update(data)
        return data


class _Rows(_Buffers):
    """Rows as built, out every ``FLUSH_ROWS`` (a few when they carry images)."""

    def __init__(self, images: bool) -> None:
        super().__init__()
        # Rows are not measured (that would mean encoding them): a count bounds memory,
        # and a small one where a row may hold images of megabytes.
        self.due = FLUSH_IMAGE_ROWS if images else FLUSH_ROWS

    def encode(self, rows: Any) -> list[Any]:
        return list(rows)  # built now, so a row that fails to build skips its item here

    def add(self, part: str, lines: list[Any]) -> bool:
        self.buffers.setdefault(part, []).extend(lines)
        return len(self.buffers[part]) >= self.due

    def drain(self, part: str) -> list[Any]:
        rows, self.buffers[part] = self.buffers[part], []
        return rows


def _prompt_key(item: source.ItemData) -> str:
    """Canonical text of a prompt: a plain prompt and the same single user turn are one key."""
    return encode({"m": messages_of(item)}).decode()


def export_preferences(
    *,
    session: Session,
    options: ExportOptions,
    out: IO[bytes] | Mapping[str, IO[bytes]],
    secret_key: str,
    actor: User | None = None,
    via: str = "cli",
    address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    images: ImageStore | None = None,
) -> ExportSummary:
    """Export judgments as ``options`` say into ``out``; return what was written.

    ``out`` is one binary stream, or one per split name when ``options.split`` is
    set and no single ``part`` is chosen.
    """
    export = Export(
        session=session,
        options=options,
        secret_key=secret_key,
        actor=actor,
        via=via,
        address=address,
        images=images,
    )
    streams = out if isinstance(out, Mapping) else dict.fromkeys(options.split_names(), out)
    missing = [p for p in options.split_names() if p not in streams]
    if missing:
        raise InvalidInput(f"No output given for split part(s) {', '.join(missing)}.")
    step = None
    if progress is not None:
        total, done = export.count(), 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            progress(done, total)

    for part, data in export.chunks(step):
        streams[part].write(data)
    return export.summary


def part_filename(name: str, part: str) -> str:
    """Name the file of one split: ``out.jsonl.gz`` and ``train`` give ``out.train.jsonl.gz``."""
    if not part:
        return name
    path = Path(name)
    stem, dot, suffixes = path.name.partition(".")
    return str(path.with_name(f"{stem}.{part}{dot}{suffixes}"))
