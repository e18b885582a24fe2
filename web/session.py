"""Who is asking: the session cookie or a script's token, and the CSRF check of every state-changing request.

* Browsers sign in at ``/login`` and get two cookies, both ``HttpOnly`` and
  ``SameSite=Strict`` (and ``Secure`` when the service is reached over HTTPS):
  the session id (kept hashed server-side by :class:`web.users.Users`; idle
  and absolute expiry) and the session's CSRF token, which the pages put into
  every form. A POST with a session cookie must carry that token (form field
  ``csrf_token`` or header ``X-CSRF-Token``), checked against the session.
* Scripts send ``Authorization: Bearer <token>`` (``dangan user token``);
  such requests carry no ambient credential, so no CSRF token is asked.
* The sign-in form itself is protected by a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.responses import Response

from schemas.errors import AccessDenied, SignInFailed
from web.access import Identity

if TYPE_CHECKING:
    from web.users import Users

SESSION_COOKIE = "dangan_session"
CSRF_COOKIE = "dangan_csrf"
LOGIN_CSRF_COOKIE = "dangan_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: Paths that answer without a session (sign-in, health, static files).
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/favicon.ico"})
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRejected(AccessDenied):
    """A state-changing request without the session's CSRF token (a forged or stale form)."""

    code = "csrf_rejected"


class NotSignedIn(AccessDenied):
    """No session or token: sign in first."""

    code = "not_signed_in"


def is_public(path: str) -> bool:
    """Whether ``path`` answers without a session."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def bearer_token(request: Request) -> str | None:
    """The script token of an ``Authorization: Bearer`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def identify(request: Request, users: Users) -> Identity | None:
    """The identity of the request: its bearer token (SignInFailed when bad) or its live session, else None."""
    token = bearer_token(request)
    if token is not None:
        return users.verify_token(token)
    session_id = request.cookies.get(SESSION_COOKIE)
    return users.session(session_id) if session_id else None


async def check_csrf(request: Request, users: Users) -> None:
    """Refuse a state-changing request made with the session cookie but without its CSRF token."""
    if request.method not in _UNSAFE or bearer_token(request) is not None:
        return
    token = request.headers.get(CSRF_HEADER)
    if not token and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not users.csrf_ok(request.cookies.get(SESSION_COOKIE, ""), token or ""):
        raise CsrfRejected("The form was stale or did not come from this site; reload the page and try again.")


def csrf_token(request: Request) -> str:
    """The CSRF token to put into the forms of a page (the session's, as handed out at sign-in)."""
    return request.cookies.get(CSRF_COOKIE, "")


def secure(request: Request) -> bool:
    """Whether the request came over HTTPS (then cookies are ``Secure``)."""
    return request.url.scheme == "https"


def start_session(response: Response, request: Request, session_id: str, csrf: str) -> None:
    """Hand out the session and CSRF cookies (HttpOnly, SameSite=Strict, Secure over HTTPS)."""
    for name, value in ((SESSION_COOKIE, session_id), (CSRF_COOKIE, csrf)):
        response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure(request), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")


def end_session(response: Response) -> None:
    """Remove the session cookies from the browser."""
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/")


def login_csrf(request: Request) -> str:
    """The sign-in form's double-submit token (the cookie's, or a new one)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(response: Response, request: Request, token: str) -> None:
    """Keep the sign-in form's token in a short-lived cookie for the form's POST."""
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request),
                        path="/login", max_age=3600)


def check_login_csrf(request: Request, submitted: str) -> None:
    """The sign-in POST must carry the token its form was given (the cookie's)."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, submitted or ""):
        raise SignInFailed("The sign-in form was stale; reload the page and sign in again.")
