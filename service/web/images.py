"""Image files of items, served to the people who may see them (``items.images.viewable``).

The URL holds the project and the image's sha256 only: nothing of the model, the
source or the import. The file is sent with the type its magic bytes proved at import
(``X-Content-Type-Options: nosniff`` and the strict CSP come with every response).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, send_file

from service import db
from service.errors import NotFound
from service.http.auth import current_user, requires
from service.images import ImageStore
from service.items import images

bp = Blueprint("images", __name__)


@bp.route("/images/<int:project_id>/<sha256>")
@requires("admin", "engineer", "rater", scope="export")
def image(project_id: int, sha256: str) -> Any:
    """Send one image of a project's items."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise NotFound("No such image.")
    row, path = images.viewable(
        session=db.session(),
        store=ImageStore.from_config(current_app.config),
        project_id=project_id,
        sha256=sha256,
        user=current_user(),
    )
    return send_file(path, mimetype=row.media_type, conditional=False, etag=False)
