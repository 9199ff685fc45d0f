"""Markdown to safe HTML, on the server: model output, prompts and guidelines.

Everything rendered here may be hostile (model output is untrusted), so there are
two locks: markdown-it runs with raw HTML off (tags in the source come out as
text), and nh3 then keeps only an allow-list of tags, attributes, classes and URL
schemes. Code blocks are highlighted by Pygments with CSS classes, never inline
styles, so the pages work under a strict Content-Security-Policy.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Pygments' style for code blocks; `static/css/pygments.css` is generated from it
# (see `pygments_css`, and the test that keeps the file in step).
PYGMENTS_STYLE = "xcode"  # every token colour meets WCAG AA contrast (4.5:1) on white
PYGMENTS_SCOPE = ".md .highlight"
CACHE_LIMIT = 100_000  # longer texts are rendered every time rather than kept in memory

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code",
    "span", "em", "strong", "s", "del", "ul", "ol", "li", "a", "table", "thead", "tbody",
    "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
ALIGN = {"align-left", "align-center", "align-right"}
CLASSES = {
    "pre": {"highlight"},
    "span": {c for c in STANDARD_TYPES.values() if c},
    "a": {"md-image"},
    "th": ALIGN,
    "td": ALIGN,
}
URL_SCHEMES = {"http", "https", "mailto"}
_ALIGN_STYLE = re.compile(r"text-align:(left|center|right)")


def _highlight(code: str, lang: str, _attrs: Any) -> str:
    """Highlight a fenced block in a known language; "" lets markdown-it escape it plainly."""
    try:
        lexer = get_lexer_by_name(lang.strip().split()[0]) if lang.strip() else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""
    spans = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="highlight"><code>{spans}</code></pre>'


def _align_classes(state: Any) -> None:
    """Turn table cells' inline text-align styles into classes (no style attributes)."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open") and token.attrs.get("style"):
            match = _ALIGN_STYLE.search(str(token.attrs.pop("style")))
            if match:
                token.attrSet("class", f"align-{match.group(1)}")


def _image_as_link(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """Show an image as a link with its alt text: untrusted output loads nothing by itself."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = escape(str(token.attrs.get("src", "")))
    return f'<a class="md-image" href="{src}">[image: {escape(alt)}]</a>'


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.core.ruler.push("align_classes", _align_classes)
    md.add_render_rule("image", _image_as_link)
    return md


_MD = _parser()


def sanitize(html: str) -> str:
    """Keep only the allow-listed tags, attributes, classes and URL schemes of ``html``."""
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style", "iframe", "object", "svg", "math", "template"},
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes=URL_SCHEMES,
        # Relative links would point into Rankroom itself; model output has no business there.
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={
            "a": {"target": "_blank"},
            # Code blocks and tables scroll sideways when wide (see rankroom.css): a
            # keyboard user must be able to focus them to scroll (WCAG 2.1.1).
            "pre": {"tabindex": "0"},
            "table": {"tabindex": "0"},
        },
        strip_comments=True,
    )


@functools.lru_cache(maxsize=1024)
def _render_cached(text: str) -> str:
    return sanitize(_MD.render(text))


def render_markdown(text: str | None) -> Markup:
    """Render untrusted markdown to sanitised HTML, safe to place in a page as is."""
    if not text:
        return Markup("")
    html = _render_cached(text) if len(text) <= CACHE_LIMIT else sanitize(_MD.render(text))
    return Markup(html)


def plain_excerpt(text: str, limit: int = 90) -> str:
    """Return the first ``limit`` characters of the text a markdown source shows, one line."""
    words: list[str] = []
    size = 0
    for token in _MD.parse(text[: limit * 20]):
        for child in token.children or []:
            if child.type in ("text", "code_inline") and child.content.strip():
                words.append(child.content.strip())
                size += len(child.content)
        if token.type == "fence" or token.type == "code_block":
            words.append(token.content.strip())
            size += len(token.content)
        if size > limit:
            break
    flat = " ".join(" ".join(words).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def pygments_css() -> str:
    """Return the stylesheet for highlighted code (written to static/css/pygments.css)."""
    formatter = HtmlFormatter(style=PYGMENTS_STYLE)
    rules = "\n".join(
        formatter.get_background_style_defs(PYGMENTS_SCOPE)
        + formatter.get_token_style_defs(PYGMENTS_SCOPE)
    )
    header = "/* Generated by service.rating.rendering.pygments_css(); do not edit by hand. */\n"
    return header + rules + "\n"
