"""Pages of a query: every list the service returns is cut into pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from service.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PER_PAGE = 50
# Larger pages are refused (422), so one request never drags a whole table out.
MAX_PER_PAGE = 200
# Pages past this are refused (422): no list is that long, and the offset of a page
# number from a URL must stay far inside the databases' 64-bit OFFSET.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, with where it sits in the whole list."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def links(self) -> dict[str, int | None]:
        """Return the page numbers around this one (None where there is none)."""
        return {
            "first": 1,
            "last": self.pages,
            "previous": self.page - 1 if self.page > 1 else None,
            "next": self.page + 1 if self.page < self.pages else None,
        }


def paginate(
    *, session: Session, query: Any, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page:
    """Run ``query`` (an ordered select of one entity) for one page, and count the whole.

    Every door (API, pages, CLI) pages through here, so the bounds are checked here.
    """
    for field, value, most in (("page", page, MAX_PAGE), ("per_page", per_page, MAX_PER_PAGE)):
        if not 1 <= value <= most:
            message = f"a whole number from 1 to {most}"
            raise InvalidInput(
                f"{field}: {message}.", errors=[{"field": field, "message": message}]
            )
    total = session.execute(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    rows = session.exec(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=list(rows), total=int(total), page=page, per_page=per_page)
