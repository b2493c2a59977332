"""The one auth module: token lookup, operator role, session cookies, production secrets."""

from __future__ import annotations

import secrets

import pytest

from shared.http.auth import SESSION_SECONDS, Principal, TokenBook
from shared.settings import Settings

STRONG = secrets.token_urlsafe(32)


def book() -> TokenBook:
    return TokenBook({"tok-alice": "alice", "tok-bob": "bob"}, {"tok-oscar": "oscar"})


def test_tokens_map_to_users_and_operator_tokens_to_operators() -> None:
    b = book()
    assert b.lookup("tok-alice") == Principal("alice")
    assert b.lookup("tok-oscar") == Principal("oscar", operator=True)
    for wrong in ("", None, "tok-alic", "tok-alice ", "TOK-ALICE", "tok-oscar\0"):
        assert b.lookup(wrong) is None


def test_a_session_cookie_names_its_principal_until_it_expires() -> None:
    b = book()
    cookie = b.issue_session(Principal("oscar", operator=True), now=1000.0)
    assert b.session(cookie, now=1000.0 + SESSION_SECONDS - 1) == Principal("oscar", True)
    assert b.session(cookie, now=1000.0 + SESSION_SECONDS) is None  # expired


def test_a_forged_or_foreign_session_cookie_names_nobody() -> None:
    b = book()
    cookie = b.issue_session(Principal("alice"), now=1000.0)
    payload, signature = cookie.split(".")
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for forged in (f"{forged_payload}.{signature}", f"{payload}.{signature[::-1]}", payload,
                   "", "a.b.c", f"{payload}.", "not base64!.x"):
        assert b.session(forged, now=1000.0) is None
    other = TokenBook({"tok-alice": "alice"}, {"tok-new": "oscar"})  # tokens changed: signed out
    assert other.session(cookie, now=1000.0) is None


@pytest.mark.parametrize(("variable", "value", "why"), [
    ("PROPHOTO_API_TOKENS", "", "must be set"),
    ("PROPHOTO_API_TOKENS", "dev-token=dev", "shorter than 32"),
    ("PROPHOTO_API_TOKENS", "x=photographer", "shorter than 32"),
    ("PROPHOTO_API_TOKENS", "CHANGE-ME-token-with-enough-characters-to-pass=photographer",
     "placeholder"),
    ("PROPHOTO_ADMIN_TOKENS", "short", "shorter than 32"),
    ("PROPHOTO_ADMIN_TOKENS", "replace-me-with-a-long-random-operator-token", "placeholder"),
])
def test_production_refuses_weak_tokens_naming_the_variable_and_how_to_make_one(
    variable: str, value: str, why: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROPHOTO_ENV", "production")
    monkeypatch.setenv("PROPHOTO_API_TOKENS", f"{STRONG}=photographer")
    monkeypatch.setenv("PROPHOTO_ADMIN_TOKENS", "")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=why) as refused:
        TokenBook.from_settings(Settings())
    assert variable in str(refused.value)
    if why != "must be set":
        assert "secrets.token_urlsafe(32)" in str(refused.value)


def test_production_starts_with_strong_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = secrets.token_urlsafe(32)
    settings = Settings(env="production", api_tokens=f"{STRONG}=photographer", admin_tokens=admin)
    b = TokenBook.from_settings(settings)
    assert b.lookup(STRONG) == Principal("photographer")
    assert b.lookup(admin) == Principal("operator", operator=True)
