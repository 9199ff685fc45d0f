"""A rater's rewrite of a response: which one they may rewrite, and what counts as an edit.

With the project's ``edit`` on, a submission may carry ``rewrite: {"response": label,
"text": ...}``: the rater's own version of one response they were shown. The response
stays as stored; the judgment records the rewrite, the response's id and the sha256
of the original text the rater saw (``shown.text_sha256``), so an export can tell the
rewrite belongs to that exact text. A revision is a new judgment with its own rewrite
(or none), like every other answer.

Rules, each in one place here:

- ``edit`` off: no rewrite at all. ``preferred``: only a response the verdict puts
  first (``preferred_ids``). ``any``: any response shown.
- The text is at most ``MAX_CHARS`` characters and not blank.
- An edit is measured in words (``changed_words``): the words of the original and the
  rewrite (split on whitespace) that a longest matching of the two sequences leaves
  unmatched. Whitespace is never a word, so a whitespace-only edit changes 0 words. A
  rewrite that changes no word is refused at submission (422 on ``rewrite.text``): the
  rater meant to change something, and storing it would record an edit that is not
  one. The export's minimum (``min_edit_words``) builds on the same measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from service import images
from service.errors import InvalidInput
from service.models import EditPolicy, Project
from service.rating import shown
from service.rubric import Rubric

MAX_CHARS = 200_000  # the longest response an import takes by default


@dataclass(frozen=True)
class Rewrite:
    """A checked rewrite: the response's id and the new text."""

    response_id: str
    text: str


def changed_words(original: str, rewrite: str) -> int:
    """Return how many words one text has that a longest matching with the other leaves out.

    Words are whitespace-separated tokens; the count is insertions plus deletions, so a
    replaced word counts 2 and a reflowed paragraph 0.
    """
    a, b = original.split(), rewrite.split()
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    kept = sum(block.size for block in matcher.get_matching_blocks())
    return len(a) + len(b) - 2 * kept


def preferred_ids(
    *, mode: str, verdict: dict[str, Any], rubric: dict[str, Any], dimensions: Rubric
) -> set[str]:
    """Return the response ids a checked verdict puts first (none: a tie, or no verdict).

    Pairwise: the preferred response. Ranking: the best group. Rating: the responses
    with the top score on the project's main rating dimension.
    """
    if mode == "pairwise":
        best = verdict.get("preferred")
        return {best} if best else set()
    if mode == "ranking":
        groups = verdict.get("ranking") or []
        return set(groups[0]) if groups else set()
    main = dimensions.main_rating
    if main is None:
        return set()
    scores = {
        rid: values[main.name]
        for rid, values in (rubric.get("response") or {}).items()
        if isinstance(values.get(main.name), int | float)
    }
    top = max(scores.values(), default=None)
    return {rid for rid, score in scores.items() if score == top}


def check_rewrite(
    *,
    project: Project,
    given: dict[str, Any] | None,
    labels: dict[str, str],
    preferred: set[str] | None,
) -> tuple[Rewrite | None, list[dict[str, str]]]:
    """Return the rewrite a submission carries (label mapped to an id) and its errors.

    ``given`` is the loaded ``rewrite`` object (or None); ``labels`` maps each label to
    the response id shown there; ``preferred`` holds the ids the verdict puts first
    (None while the verdict has errors of its own: the policy is not checked then).
    """
    if given is None:
        return None, []
    if project.edit == EditPolicy.OFF:
        message = "this project does not take rewrites (its edit setting is off)"
        return None, [{"field": "rewrite", "message": message}]
    label, text = given["response"], given["text"]
    errors = []
    rid = labels.get(label)
    if rid is None:
        errors.append({"field": "rewrite.response", "message": "no such response on this screen"})
    elif project.edit == EditPolicy.PREFERRED and preferred is not None and rid not in preferred:
        allowed = sorted(lab for lab, r in labels.items() if r in preferred)
        errors.append(
            {
                "field": "rewrite.response",
                "message": "this project takes rewrites of the preferred response only: "
                + (", ".join(allowed) if allowed else "your verdict prefers none"),
            }
        )
    if not text.strip():
        errors.append({"field": "rewrite.text", "message": "must not be empty"})
    elif len(text) > MAX_CHARS:
        errors.append(
            {
                "field": "rewrite.text",
                "message": f"{len(text)} characters, over the limit of {MAX_CHARS}",
            }
        )
    if errors or rid is None:
        return None, errors
    return Rewrite(rid, text), []


def check_changed(rewrite: Rewrite, original: str | None) -> None:
    """Refuse a rewrite that changes no word of the response it rewrites (see the module)."""
    # No word changed is the same as equal word sequences: linear, whatever the text.
    if original is not None and original.split() == rewrite.text.split():
        raise InvalidInput(
            "The rewrite is the same as the response (whitespace aside).",
            errors=[
                {
                    "field": "rewrite.text",
                    "message": "changes no word of the response, only whitespace if "
                    "anything: change the text or leave the rewrite out",
                }
            ],
        )


def check_images(rewrite: Rewrite, original: str | None) -> None:
    """Refuse a rewrite holding an image marker its response does not hold.

    A rewrite may keep, move or drop the response's images (``service/images.py``), but
    not name another: its export would show an image the rater never saw.
    """
    foreign = set(images.shas(rewrite.text)) - set(images.shas(original or ""))
    if foreign:
        raise InvalidInput(
            "The rewrite names an image its response does not show.",
            errors=[
                {
                    "field": "rewrite.text",
                    "message": "may keep the response's images but not add others: "
                    + ", ".join(sorted(foreign)),
                }
            ],
        )


def as_fields(rewrite: Rewrite | None, texts: dict[str, str | None]) -> dict[str, Any]:
    """Return the judgment's rewrite columns for a checked rewrite (all None without one)."""
    if rewrite is None:
        return {"rewrite_response_id": None, "rewrite_text": None, "rewrite_original_sha256": None}
    original = texts.get(rewrite.response_id)
    check_changed(rewrite, original)
    check_images(rewrite, original)
    return {
        "rewrite_response_id": rewrite.response_id,
        "rewrite_text": rewrite.text,
        "rewrite_original_sha256": shown.text_sha256(original) if original is not None else None,
    }


def preview(payload: Any) -> str:
    """Render a rewrite's text for the editor's preview, through the responses' sanitiser."""
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        raise InvalidInput(
            "Send the text to preview.",
            errors=[{"field": "text", "message": f"a string of up to {MAX_CHARS} characters"}],
        )
    # Imported here: markdown-it costs a tenth of a second, and the export (which checks
    # rewrites with this module) renders nothing; the pages have it loaded already.
    from service.rating.rendering import render_markdown

    return str(render_markdown(text))
