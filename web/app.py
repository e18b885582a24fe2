"""The archive service (档案服务): FastAPI app with server-rendered pages in Chinese and a JSON API under /api.

It is the security boundary between the people and the archive: it alone
holds the master key (run as its own OS account, see infra/), and nothing but
``/login``, ``/healthz`` and ``/static`` answers without a session or a
script token; ``/openapi.json`` and ``/docs`` need one too. Every page and API
call goes through :class:`web.service.ArchiveService`, which asks the one
permission matrix (:mod:`web.access`) and audits.

``create_app(settings)`` opens the archive when the app starts and closes it
when it stops; ``dangan serve`` runs it with uvicorn.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from schemas.errors import (
    AccessDenied,
    DanganError,
    IndexUnavailable,
    InvalidRequest,
    NotFound,
    SignInFailed,
    SignInThrottled,
    StorageError,
    UnexpectedError,
)
from schemas.settings import Settings
from web.docs import DOCS_ASSETS
from web.session import CsrfRejected, NotSignedIn, check_csrf, identify, is_public

HERE = Path(__file__).resolve().parent
#: Content-Security-Policy of the pages: nothing from elsewhere, no inline script.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def create_app(settings: Settings, *, open_service: Callable[[Settings], Any] | None = None) -> FastAPI:
    """The service's app for the archive of ``settings``; the archive is opened at start-up.

    ``open_service`` (tests) makes the :class:`~web.service.ArchiveService`
    from the settings; by default the archive is opened with its master key.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = (open_service or open_archive_service)(settings)
        app.state.service = service
        from web.users import Users

        app.state.users = Users.of_index(service.index)
        try:
            yield
        finally:
            service.close()

    # /docs is the service's own page (web/docs.py: Swagger UI from a pinned package, nothing from elsewhere);
    # FastAPI's pages would load their scripts from a CDN.
    app = FastAPI(title="dangan 档案服务", version="1", lifespan=lifespan,
                  description="业主档案: search, view and correct the archive. Every call needs a session "
                              "(sign in at /login) or a script token (Authorization: Bearer ...).",
                  dependencies=[Depends(_csrf_guard)], docs_url=None, redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None)
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.middleware("http")(_gatekeeper)
    _add_error_handlers(app, settings)

    from web import (
        api,
        api_archives,
        api_catalogue,
        api_loans,
        api_requests,
        api_retention,
        api_rules,
        docs,
        loan_pages,
        views,
    )

    app.include_router(views.router)
    app.include_router(api.router)
    app.include_router(docs.router)
    app.include_router(api_rules.router)
    app.include_router(api_requests.router)
    app.include_router(api_loans.router)
    app.include_router(api_retention.router)
    app.include_router(loan_pages.router)
    app.include_router(api_catalogue.router)
    app.include_router(api_archives.router)
    app.include_router(api_archives.pages)
    return app


def open_archive_service(settings: Settings) -> Any:
    """Open the archive of ``settings`` (its master key) and the service over it."""
    from storage.vault import Vault
    from web.service import ArchiveService
    from web.uploads import Uploads

    os.umask(0o077)  # uploads and anything else written under DANGAN_HOME stay private to the service
    vault = Vault.open(settings)
    return ArchiveService(vault, Uploads(settings.home))


# --- every request ---------------------------------------------------------------------------------------


async def _gatekeeper(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Let through public paths; everything else needs a live session or a valid token."""
    if not is_public(request.url.path):
        try:
            identity = identify(request, request.app.state.users)
        except SignInFailed as e:
            return _error_response(request, 401, e)
        if identity is None:
            if _wants_json(request):
                return _error_response(request, 401, NotSignedIn("Sign in first (POST /login), or send a token."))
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            from urllib.parse import quote

            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        request.state.identity = identity
    response = await call_next(request)
    _harden(request, response)
    return response


async def _csrf_guard(request: Request) -> None:
    """Every state-changing request made with the session cookie carries the session's CSRF token."""
    if request.url.path == "/login":
        return  # the sign-in form has its own double-submit token
    await check_csrf(request, request.app.state.users)


def _harden(request: Request, response: Response) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    if not request.url.path.startswith(("/static/", DOCS_ASSETS)):
        headers["Cache-Control"] = "no-store"  # pages and images of the archive stay out of caches
    headers.setdefault("Content-Security-Policy", CSP)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/openapi.json", "/docs")) or "application/json" in request.headers.get(
        "accept", "")


# --- errors ---------------------------------------------------------------------------------------------

#: HTTP status and the Chinese heading of each kind of refusal.
_STATUS: tuple[tuple[type[DanganError], int, str], ...] = (
    (SignInThrottled, 429, "登录尝试过多"),
    (NotSignedIn, 401, "请先登录"),
    (SignInFailed, 401, "登录失败"),
    (CsrfRejected, 403, "页面已过期"),
    (AccessDenied, 403, "无权操作"),
    (NotFound, 404, "未找到"),
    (InvalidRequest, 400, "输入有误"),
    (IndexUnavailable, 503, "索引暂不可用"),
    (StorageError, 503, "存储暂不可用"),
)


def _add_error_handlers(app: FastAPI, settings: Settings) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DanganError)
        status = next((code for kind, code, _ in _STATUS if isinstance(exc, kind)), 500)
        return _error_response(request, status, exc)

    async def bug(request: Request, exc: Exception) -> Response:
        """A bug: its traceback goes to the error log under an id the answer names (as on the command line)."""
        from flows.errorlog import error_log_path, record_error

        error_id = record_error(exc, settings.home, context=f"serve {request.method} {request.url.path}")
        message = (f"internal error {error_id} ({type(exc).__name__}); the details are in "
                   f"{error_log_path(settings.home)}. Please report the error id.")
        return _error_response(request, 500, UnexpectedError(message))

    app.add_exception_handler(DanganError, handle)
    app.add_exception_handler(Exception, bug)


def _error_response(request: Request, status: int, error: DanganError) -> Response:
    title = next((t for kind, _, t in _STATUS if isinstance(error, kind)), "出错了")
    if _wants_json(request):
        return JSONResponse({"error": error.code, "message": error.message}, status_code=status)
    from web.views import page

    return page(request, "error.html", status_code=status, title=title, message=error.message, status=status)
