"""Tokens and secrets as settings: parsing `token=user` lists, and what production refuses.

Production refuses a secret shorter than 32 characters or containing one of
the words the repository's examples are made of, so a copied example never
guards a real deployment.
"""

from __future__ import annotations

MIN_SECRET_CHARS = 32
#: words the repository's example secrets are made of; production refuses a secret containing one
PLACEHOLDERS = ("change-me", "changeme", "placeholder", "dev-token", "replace-me", "example-")
HOW_TO_MAKE = 'make one with: python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def refused_secret(value: str) -> str | None:
    """Why production refuses `value` as a secret, or None when it is acceptable."""
    lowered = value.lower()
    if len(value) < MIN_SECRET_CHARS:
        return f"it is shorter than {MIN_SECRET_CHARS} characters"
    for word in PLACEHOLDERS:
        if word in lowered:
            return f"it contains the repository's placeholder {word!r}"
    return None


def parse_token_list(variable: str, raw: str, *, bare_user: str | None = None) -> dict[str, str]:
    """"token=id,token2=id2" -> {token: id}; a bare token gets `bare_user` if allowed."""
    pairs: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        token, sep, user = item.partition("=")
        if not sep and bare_user is not None:
            token, sep, user = item, "=", bare_user
        if not sep or not token or not user:
            raise ValueError(f"{variable} entry {item[:6]!r}... is not token=user_id")
        pairs[token] = user
    return pairs
