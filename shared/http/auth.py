"""Who is calling: bearer tokens for both HTTP services, one signed cookie for the debug page.

Tokens come from settings: `PROPHOTO_API_TOKENS` ("token=user_id,...") belong
to users, `PROPHOTO_ADMIN_TOKENS` ("token=operator_id,..." or bare tokens) to
operators. Every lookup compares the presented token with every known one in
constant time (`hmac.compare_digest` on SHA-256 digests, no early exit), so
neither a dict lookup's timing nor a prefix match says anything about a token.

A token in the query string is refused: it would land in proxy logs and
browser history. The browser's way in is `issue_session`, a POST login that
sets a signed, expiring cookie (HttpOnly, SameSite=Strict); only apps that call
`install_auth(..., cookies=True)` accept it. The cookie's key is derived from
all known tokens, so changing the tokens signs everyone out.

    install_auth(app, TokenBook.from_settings(settings))
    @router.get("/x")
    async def x(caller: Caller) -> ...: ...          # any known token
    async def y(op: Operator) -> ...: ...            # 403 problem for a user token
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import cookie_parser

from shared.http.problems import ProblemError
from shared.settings import Settings

COOKIE = "prophoto_session"
#: where `shared.http.gate` leaves the caller it found, in the request's scope state
STATE_KEY = "principal"
SESSION_SECONDS = 8 * 3600
#: query parameters that look like a credential; any of them on a request is refused
QUERY_CREDENTIALS = ("token", "access_token", "api_key", "apikey", "key")

bearer_scheme = HTTPBearer(auto_error=False, description="a token from PROPHOTO_API_TOKENS "
                                                   "or PROPHOTO_ADMIN_TOKENS")


@dataclass(frozen=True)
class Principal:
    """The caller: a user id, and whether it holds an operator token."""

    user_id: str
    operator: bool = False
    #: a browser session's id and expiry (epoch seconds); None for a bearer token
    session: str | None = field(default=None, compare=False)
    expires: int = field(default=0, compare=False)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenBook:
    """Every known token and who it belongs to; compares in constant time."""

    def __init__(self, users: Mapping[str, str], operators: Mapping[str, str] | None = None) -> None:
        self._entries = [(_digest(t), Principal(u)) for t, u in users.items()]
        self._entries += [(_digest(t), Principal(u, operator=True))
                          for t, u in (operators or {}).items()]
        material = b"\0".join(sorted(d for d, _ in self._entries))
        self._session_key = hmac.new(b"prophoto-session-v1", material, hashlib.sha256).digest()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenBook:
        """Raises ValueError (naming the variable) for tokens production refuses."""
        return cls(settings.tokens(), settings.operator_tokens())

    def lookup(self, token: str | None) -> Principal | None:
        if not token:
            return None
        presented = _digest(token)
        found: Principal | None = None
        for digest, principal in self._entries:  # no early exit: same time wherever it matches
            if hmac.compare_digest(digest, presented):
                found = principal
        return found

    # --- browser sessions (the debug page) ---
    def issue_session(self, principal: Principal, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        body = json.dumps({"u": principal.user_id, "o": principal.operator, "e": expires,
                           "s": secrets.token_urlsafe(16)}, separators=(",", ":")).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{payload}.{self._sign(payload)}"

    def session(self, cookie: str | None, now: float | None = None) -> Principal | None:
        """The principal of a cookie this book signed and that has not expired, else None."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            user, operator, expires = str(data["u"]), bool(data["o"]), int(data["e"])
            session = str(data["s"])  # a cookie from before sessions had ids: sign in again
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= (now if now is not None else time.time()):
            return None
        return Principal(user, operator, session, expires)

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._session_key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")


Revoked = Callable[[str], Awaitable[bool]]


def install_auth(app: FastAPI, book: TokenBook, *, cookies: bool = False,
                 revoked: Revoked | None = None) -> None:
    """Make `book` the app's token book; `cookies=True` also accepts session cookies, except
    those `revoked` (a session id -> ended server-side, e.g. by logout) refuses."""
    app.state.auth = book
    app.state.auth_cookies = cookies
    app.state.session_revoked = revoked


async def live_session(app: Any, principal: Principal | None) -> Principal | None:
    """`principal`, unless it is a browser session its owner ended."""
    revoked: Revoked | None = getattr(app.state, "session_revoked", None)
    if principal is not None and principal.session and revoked is not None \
            and await revoked(principal.session):
        return None
    return principal


def token_book(request: Request) -> TokenBook:
    book: TokenBook = request.app.state.auth
    return book


def refuse_query_credentials(request: Request) -> None:
    named = [k for k in request.query_params if k.lower() in QUERY_CREDENTIALS]
    if named:
        _refuse_named(named[0])


async def principal_of(request: Request,
                       creds: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The caller by bearer token, or by session cookie where the app accepts one."""
    book = token_book(request)
    if creds is not None and creds.scheme.lower() == "bearer":
        return book.lookup(creds.credentials)
    if getattr(request.app.state, "auth_cookies", False):
        return await live_session(request.app, book.session(request.cookies.get(COOKIE)))
    return None


async def authenticate_headers(app: Any, headers: Mapping[str, str], query: bytes) -> Principal:
    """The caller of a request by its headers alone (no body is read), or a 401 ProblemError."""
    if query and any(k.lower() in QUERY_CREDENTIALS for k, _ in parse_qsl(query.decode("latin-1"))):
        _refuse_named(next(k for k, _ in parse_qsl(query.decode("latin-1"))
                           if k.lower() in QUERY_CREDENTIALS))
    book: TokenBook = app.state.auth
    cookies = getattr(app.state, "auth_cookies", False)
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        principal = book.lookup(token.strip())
    elif cookies and COOKIE in (jar := cookie_parser(headers.get("cookie", ""))):
        principal = await live_session(app, book.session(jar[COOKIE]))
    else:
        raise ProblemError(401, "Missing bearer token", "send Authorization: Bearer <token>")
    if principal is None:
        raise ProblemError(401, "Invalid token", "the bearer token is not known")
    return principal


def _refuse_named(name: str) -> None:
    raise ProblemError(401, "Token in query string refused",
                       f"send Authorization: Bearer <token>, not ?{name}=; "
                       "URLs end up in logs and browser history")


# The dependencies are coroutines: FastAPI runs a plain `def` dependency in a worker
# thread, a hand-off that cost more than a small request's whole work.
async def current_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    found = request.scope.get("state", {}).get(STATE_KEY)
    if isinstance(found, Principal):  # the gate already looked the caller up
        return found
    refuse_query_credentials(request)
    if creds is None and not (getattr(request.app.state, "auth_cookies", False)
                              and COOKIE in request.cookies):
        raise ProblemError(401, "Missing bearer token", "send Authorization: Bearer <token>")
    principal = await principal_of(request, creds)
    if principal is None:
        raise ProblemError(401, "Invalid token", "the bearer token is not known")
    return principal


async def require_operator(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.operator:
        raise ProblemError(403, "Operators only",
                           "this view covers every user; it needs a token from PROPHOTO_ADMIN_TOKENS")
    return principal


async def current_user(principal: Annotated[Principal, Depends(current_principal)]) -> str:
    return principal.user_id


Caller = Annotated[Principal, Depends(current_principal)]
Operator = Annotated[Principal, Depends(require_operator)]
CurrentUser = Annotated[str, Depends(current_user)]
