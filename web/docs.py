"""The API's documentation page (/docs, 接口文档): Swagger UI served by the service itself.

FastAPI's own /docs and /redoc load their scripts and styles from a CDN,
which a company intranet may not reach and which would run a script from
outside the service. This page loads Swagger UI 5 (it reads OpenAPI 3.1, which
FastAPI writes) from the files of the pinned PyPI package ``fastapi-offline``
under :data:`DOCS_ASSETS` (only the files the page needs) and starts it with
``/static/docs.js``, under the same Content-Security-Policy as every other
page. Like ``/openapi.json``, it needs a session or a token.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from schemas.errors import NotFound

router = APIRouter(include_in_schema=False)

#: Where the page's Swagger UI files are served.
DOCS_ASSETS = "/docs/assets/"
#: The files of the package the page uses, and their media types.
_ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                "favicon.png": "image/png"}


def _asset_folder() -> Path:
    from importlib.resources import files

    return Path(str(files("fastapi_offline") / "static"))


@router.get("/docs")
def docs_page(request: Request) -> Response:
    """接口文档: the JSON API (``/openapi.json``) in Swagger UI; calls made from it carry the session."""
    from web.views import page

    return page(request, "docs.html", assets=DOCS_ASSETS)


@router.get(DOCS_ASSETS + "{name}")
def docs_asset(name: str) -> Response:
    """One of Swagger UI's files (cacheable: they change only with the package's pinned version)."""
    media_type = _ASSET_TYPES.get(name)
    if media_type is None:
        raise NotFound("The API documentation has no such file.")
    return FileResponse(_asset_folder() / name, media_type=media_type,
                        headers={"Cache-Control": "private, max-age=86400"})
