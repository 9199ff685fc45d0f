"""Query arguments and response headers shared by every list endpoint."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import request
from marshmallow import Schema, validate

from service.paging import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, Page
from service.schemas import TextInteger


class PageArgs(Schema):
    """``?page=&per_page=`` on every list endpoint."""

    page = TextInteger(
        load_default=1,
        validate=validate.Range(1, MAX_PAGE),
        metadata={"description": "Page number, from 1."},
    )
    per_page = TextInteger(
        load_default=DEFAULT_PER_PAGE,
        validate=validate.Range(1, MAX_PER_PAGE),
        metadata={"description": f"Rows per page (at most {MAX_PER_PAGE})."},
    )


PAGE_HEADERS = {
    "X-Total-Count": {"description": "Rows in the whole list.", "schema": {"type": "integer"}},
    "X-Pagination": {
        "description": "JSON: total, pages, page, per_page, first, last, previous, next.",
        "schema": {"type": "string"},
    },
    "Link": {"description": "RFC 8288 links to the first, previous, next and last pages."},
}


def page_headers(page: Page[Any]) -> dict[str, str]:
    """Describe ``page`` in response headers (the body stays a plain list)."""
    around = page.links()
    info = {"total": page.total, "pages": page.pages, "page": page.page, "per_page": page.per_page}
    args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
    links = []
    for rel, number in around.items():
        if number is not None:
            query = urlencode({**args, "page": number, "per_page": page.per_page})
            links.append(f'<{request.base_url}?{query}>; rel="{rel}"')
    return {
        "X-Total-Count": str(page.total),
        "X-Pagination": json.dumps({**info, **around}),
        "Link": ", ".join(links),
    }
