"""Bearer tokens, as the upload service takes them, plus a cookie for the browser.

The API takes `Authorization: Bearer <token>` (PROPHOTO_API_TOKENS). A browser
cannot add that header to a page load, so `/admin/ingest-traces?token=...`
moves the token into an HttpOnly, SameSite=Strict cookie and redirects to the
same URL without it; the page and its fetches then authenticate by cookie.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.upload.problems import ProblemError

COOKIE = "prophoto_token"
_bearer = HTTPBearer(auto_error=False, description="PROPHOTO_API_TOKENS token")


def user_for(tokens: dict[str, str], token: str | None) -> str | None:
    if not token:
        return None
    for known, user in tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            return user
    return None


def presented_token(request: Request, creds: HTTPAuthorizationCredentials | None) -> str | None:
    if creds is not None and creds.scheme.lower() == "bearer":
        return creds.credentials
    return request.cookies.get(COOKIE)


def current_user(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    token = presented_token(request, creds)
    if token is None:
        raise ProblemError(401, "Missing bearer token", "send Authorization: Bearer <token>")
    user = user_for(request.app.state.ctx.tokens, token)
    if user is None:
        raise ProblemError(401, "Invalid token", "the bearer token is not known")
    return user


CurrentUser = Annotated[str, Depends(current_user)]
