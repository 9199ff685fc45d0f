"""Text with images to safe HTML: markdown around the images, each image a zoom button.

Images live in the text as markers (``service/images.py``); the markdown renderer
shows any other image as a link and loads nothing, so the markers are cut out first
and each becomes an ``<img>`` of the project's image URL, the only image a page of
Rankroom loads from an item (CSP ``img-src 'self'``).
"""

from __future__ import annotations

from markupsafe import Markup, escape

from service.images import image_url, parts
from service.rating.rendering import render_markdown


def render_with_images(text: str | None, project_id: int) -> Markup:
    """Render untrusted markdown with its images (numbered in order) as safe HTML."""
    if not text or "rankroom-image:" not in text:
        return render_markdown(text)
    html = []
    number = 0
    for kind, value in parts(text):
        if kind == "text":
            html.append(render_markdown(value))
            continue
        number += 1
        src = escape(image_url(project_id, value))
        html.append(
            Markup(
                '<figure class="item-image"><button type="button" class="image-zoom" '
                'aria-expanded="false" title="Enlarge (Enter); Esc closes">'
                f'<img src="{src}" alt="Image {number}"></button></figure>'
            )
        )
    return Markup("").join(html)
