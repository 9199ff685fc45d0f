"""Markdown to safe HTML: hostile model output must come out inert."""

from pathlib import Path

import pytest

from service.rating.rendering import plain_excerpt, pygments_css, render_markdown, sanitize

STATIC = Path(__file__).resolve().parent.parent / "service" / "static"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "hi <script>alert(1)</script>",
            "<p>hi &lt;script&gt;alert(1)&lt;/script&gt;</p>\n",
        ),
        (
            "<img src=x onerror=alert(1)>",
            "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n",
        ),
        (
            '<svg onload="alert(1)"><circle/></svg>',
            '<p>&lt;svg onload="alert(1)"&gt;&lt;circle/&gt;&lt;/svg&gt;</p>\n',
        ),
        (
            "<div><b>raw html</b></div>",
            "<p>&lt;div&gt;&lt;b&gt;raw html&lt;/b&gt;&lt;/div&gt;</p>\n",
        ),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>\n"),
        ("[x](JaVaScRiPt:alert(1))", "<p>[x](JaVaScRiPt:alert(1))</p>\n"),
        (
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "<p>[x](data:text/html;base64,PHNjcmlwdD4=)</p>\n",
        ),
        (
            "![pixel](data:image/png;base64,iVBORw0KGgo=)",
            '<p><a class="md-image" target="_blank" rel="noopener noreferrer nofollow">'
            "[image: pixel]</a></p>\n",
        ),
        (
            "![chart](https://example.com/c.png)",
            '<p><a class="md-image" href="https://example.com/c.png" target="_blank" '
            'rel="noopener noreferrer nofollow">[image: chart]</a></p>\n',
        ),
        (
            "[same site](/logout)",
            '<p><a target="_blank" rel="noopener noreferrer nofollow">same site</a></p>\n',
        ),
        (
            '[docs](https://example.com "Docs")',
            '<p><a href="https://example.com" title="Docs" target="_blank" '
            'rel="noopener noreferrer nofollow">docs</a></p>\n',
        ),
        (
            "`<img src=x onerror=alert(1)>`",
            "<p><code>&lt;img src=x onerror=alert(1)&gt;</code></p>\n",
        ),
    ],
)
def test_hostile_markdown_renders_inert(source, expected):
    assert render_markdown(source) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<script>alert(1)</script>after", "after"),
        ("<img src=x onerror=alert(1)>", ""),
        ('<svg onload="alert(1)"><circle/></svg>ok', "ok"),
        (
            '<a href="javascript:alert(1)">x</a>',
            '<a target="_blank" rel="noopener noreferrer nofollow">x</a>',
        ),
        (
            '<a href="data:text/html,x">x</a>',
            '<a target="_blank" rel="noopener noreferrer nofollow">x</a>',
        ),
        ('<p style="position:fixed" onclick="x()" id="y">p</p>', "<p>p</p>"),
        ('<iframe src="https://example.com"></iframe>', ""),
        ("<math><mi>x</mi></math><template><b>t</b></template>", ""),
        ('<span class="k evil">x</span>', '<span class="k">x</span>'),
    ],
)
def test_sanitizer_is_a_second_lock_on_raw_html(html, expected):
    assert sanitize(html) == expected


def test_code_blocks_are_highlighted_with_classes_not_styles():
    html = render_markdown("```python\nprint('<b>')\n```")
    assert html == (
        '<pre class="highlight" tabindex="0"><code><span class="nb">print</span><span class="p">(</span>'
        """<span class="s1">'&lt;b&gt;'</span><span class="p">)</span>\n</code></pre>\n"""
    )
    assert "style=" not in html


def test_unknown_language_is_plain_escaped_code():
    assert (
        render_markdown("```nosuchlang\n<x>\n```")
        == '<pre tabindex="0"><code>&lt;x&gt;\n</code></pre>\n'
    )


def test_table_alignment_becomes_classes():
    html = render_markdown("|a|b|\n|:-|-:|\n|1|2|")
    assert '<th class="align-left">a</th>' in html and '<td class="align-right">2</td>' in html
    assert html.startswith('<table tabindex="0">')  # a wide table scrolls: keyboard can reach it
    assert "style=" not in html


def test_everyday_markdown_survives():
    html = render_markdown("# Title\n\n**bold** *it* ~~gone~~\n\n3. x\n4. y\n\n> quote")
    assert html == (
        "<h1>Title</h1>\n<p><strong>bold</strong> <em>it</em> <s>gone</s></p>\n"
        '<ol start="3">\n<li>x</li>\n<li>y</li>\n</ol>\n<blockquote>\n<p>quote</p>\n</blockquote>\n'
    )


def test_empty_text_renders_nothing():
    assert render_markdown("") == "" and render_markdown(None) == ""


def test_plain_excerpt_shows_text_without_markup():
    source = "## Score is **2**\n\n| A | B |\n|---|---|\n| x | y |\n\n" + "word " * 40
    excerpt = plain_excerpt(source, limit=30)
    assert excerpt == "Score is 2 A B x y word word…"
    assert plain_excerpt("Short.") == "Short."


def test_pygments_stylesheet_is_generated_from_the_code():
    assert (STATIC / "css" / "pygments.css").read_text() == pygments_css()
