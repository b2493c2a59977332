"""Tokens and secrets as settings: parsing `token=user` lists, and what production refuses.

Production refuses a secret shorter than 32 characters or containing one of
the words the repository's examples are made of, so a copied example never
guards a real deployment.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote, urlsplit

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


#: passwords that ship as defaults somewhere: production refuses them for a resource
KNOWN_DEFAULTS = ("minioadmin",)  # RabbitMQ's guest only ever logs in from loopback


def refused_password(value: str) -> str | None:
    """Why production refuses `value` as a resource's password (a repository placeholder, a
    product's shipped default), or None. Length is the operator's business here: a database
    password is not one of our tokens."""
    lowered = value.lower()
    for word in PLACEHOLDERS:
        if word in lowered:
            return f"it contains the repository's placeholder {word!r}"
    if lowered in KNOWN_DEFAULTS:
        return f"{value!r} is a product's default password"
    return None


def url_password(url: str) -> str | None:
    """The password in a `scheme://user:password@host/...` URL, if any."""
    try:
        password = urlsplit(url.strip()).password
    except ValueError:
        return None
    return unquote(password) if password else None


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


def refuse_placeholder_passwords(secrets: list[tuple[str, str | None]]) -> None:
    """ValueError naming the first variable whose password `refused_password` refuses."""
    for variable, secret in secrets:
        why = refused_password(secret) if secret else None
        if why is not None:
            raise ValueError(f"{variable}: the password is refused in production because {why}; "
                             f"set the resource's real password ({HOW_TO_MAKE})")


def dev_token_only_on_loopback(variable: str, env: str, hosts: dict[str, str]) -> None:
    """The published development token opens nothing but a development stack on this machine:
    ValueError in any other environment, or while a listener (`hosts`: variable -> bind
    address) binds beyond loopback."""
    if env != "development":
        raise ValueError(f"{variable}: the development token is accepted only with "
                         f"PROPHOTO_ENV=development; {HOW_TO_MAKE}")
    exposed = [f"{name}={host}" for name, host in hosts.items() if not _loopback(host)]
    if exposed:
        raise ValueError(f"{variable}: the development token is accepted only while the services "
                         f"listen on loopback ({', '.join(exposed)}); set real tokens to listen beyond "
                         f"this machine ({HOW_TO_MAKE})")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"
