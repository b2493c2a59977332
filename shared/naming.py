"""Final object keys: the schema pattern, rendered from metadata that cannot be trusted.

A key is `<pattern rendered>/<sequence:03d>-<original name>`, for example
`shoots/2025/01/Canon-EOS-R5/001-IMG_1234.jpg`. The pattern's literal parts
come from the operator and are checked once by `validate_pattern` (services
refuse to start on a bad one). Every token value comes from EXIF or a user
and is sanitized into a single harmless segment component, so no value can
add a segment, climb out with `..`, or leave the pattern's literal prefix.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime

TOKENS = ("year", "month", "day", "make", "model", "camera", "lens", "user", "ext")
SEGMENT_MAX_CHARS = 100
#: ext4 and most filesystems allow 255 bytes per name; stay well inside with the "001-" prefix
SEGMENT_MAX_BYTES = 200
MAX_EXT_CHARS = 10
KEY_MAX = 1024
UNKNOWN = "unknown"
UNKNOWN_CAMERA = "Unknown-Camera"

# characters that separate paths somewhere (POSIX, Windows, S3 consoles), are reserved on
# Windows, or end/escape a URL path (keys appear in URLs and presigned links)
_UNSAFE = re.compile(r'[/\\:*?"<>|#%]')
_DASHES = re.compile(r"-{2,}")


class PatternError(ValueError):
    """The schema pattern cannot be used."""


@dataclass(frozen=True)
class NamingValues:
    """What a key is made of, before sanitizing."""

    taken_at: datetime | None  # DateTimeOriginal, else CreateDate (local time of the photo)
    uploaded_at: datetime
    make: str | None
    model: str | None
    camera: str | None  # make and model without repeating the make
    lens: str | None
    user: str
    ext: str


def _fields(pattern: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise PatternError(f"schema pattern {pattern!r} is malformed: {exc}") from exc


def validate_pattern(pattern: str) -> str:
    """Return the pattern if it is usable, else raise `PatternError` saying why."""
    if pattern.startswith("/") or pattern.endswith("/"):
        raise PatternError(f"schema pattern {pattern!r} must be relative, without a leading or trailing '/'")
    if any(unicodedata.category(c)[0] == "C" for c in pattern) or "\\" in pattern:
        raise PatternError(f"schema pattern {pattern!r} has control characters or a backslash")
    for _literal, name, spec, conversion in _fields(pattern):
        if name is None:
            continue
        if name not in TOKENS:
            shown = "{" + name + "}" if name else "{}"
            raise PatternError(
                f"schema pattern {pattern!r} has an unknown token {shown}; "
                f"known tokens: {', '.join('{' + t + '}' for t in TOKENS)}"
            )
        if spec or conversion:
            raise PatternError(
                f"schema pattern {pattern!r}: token {{{name}}} takes no format spec or conversion"
            )
    if pattern:
        for segment in pattern.split("/"):
            if segment in ("", ".", ".."):
                raise PatternError(f"schema pattern {pattern!r} has an empty, '.' or '..' segment")
    return pattern


def literal_prefix(pattern: str) -> str:
    """The segments before the first token: every key of this pattern starts with them."""
    fixed: list[str] = []
    for segment in pattern.split("/") if pattern else []:
        if "{" in segment:
            break
        fixed.append(segment)
    return "/".join(fixed)


def _clean(value: object) -> str:
    text = unicodedata.normalize("NFC", "" if value is None else str(value))
    # C* = control, format (zero-width, bidi overrides), surrogates, private use, unassigned
    kept = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    return unicodedata.normalize("NFC", kept)  # removing a character can make a pair composable


def _bound(text: str, limit_chars: int, limit_bytes: int) -> str:
    text = text[:limit_chars]
    while len(text.encode()) > limit_bytes:
        text = text[:-1]
    return text


def _trim(text: str) -> str:
    # no hidden files, nothing that reads as an option, no Windows-hostile trailing dot or space
    return text.lstrip("-. ").rstrip("-. ")


def sanitize_segment(value: object, fallback: str = UNKNOWN, limit: int = SEGMENT_MAX_CHARS) -> str:
    """One token value as a safe key component: whitespace and separators become '-'."""
    text = _UNSAFE.sub("-", _clean(value))
    text = "-".join(text.split())
    text = _trim(_DASHES.sub("-", text))
    text = _trim(_bound(text, limit, SEGMENT_MAX_BYTES))
    return text or fallback


def sanitize_filename(name: object, limit: int = SEGMENT_MAX_CHARS) -> str:
    """A user's file name as the last key segment; truncation keeps the extension."""
    text = _UNSAFE.sub("-", _clean(name))
    text = _DASHES.sub("-", " ".join(text.split()))
    stem, dot, ext = text.rpartition(".")
    if not dot or not ext or len(ext) > MAX_EXT_CHARS or not ext.isalnum():
        stem, ext = text, ""
    suffix = f".{ext}" if ext else ""
    stem = _trim(_bound(_trim(stem), limit - len(suffix), SEGMENT_MAX_BYTES - len(suffix.encode())))
    return (stem or UNKNOWN) + suffix


def token_values(values: NamingValues) -> dict[str, str]:
    when = values.taken_at or values.uploaded_at
    return {
        "year": f"{when.year:04d}",
        "month": f"{when.month:02d}",
        "day": f"{when.day:02d}",
        "make": sanitize_segment(values.make),
        "model": sanitize_segment(values.model),
        "camera": sanitize_segment(values.camera, fallback=UNKNOWN_CAMERA),
        "lens": sanitize_segment(values.lens),
        "user": sanitize_segment(values.user),
        "ext": sanitize_segment((values.ext or "").lower()),
    }


def render_directory(pattern: str, values: NamingValues) -> str:
    """The pattern with every token replaced by its sanitized value."""
    validate_pattern(pattern)
    tokens = token_values(values)
    parts: list[str] = []
    for literal, name, _, _ in _fields(pattern):
        parts.append(literal)
        if name is not None:
            parts.append(tokens[name])
    directory = "".join(parts)
    _check_inside(directory, pattern)
    return directory


def _check_inside(directory: str, pattern: str) -> None:
    """Belt and braces: the sanitizers already guarantee this."""
    prefix = literal_prefix(pattern)
    segments = directory.split("/") if directory else []
    if any(s in ("", ".", "..") for s in segments):
        raise PatternError(f"rendered directory {directory!r} has an empty, '.' or '..' segment")
    if prefix and not (directory == prefix or directory.startswith(prefix + "/")):
        raise PatternError(f"rendered directory {directory!r} leaves the prefix {prefix!r}")
    if len(segments) != (len(pattern.split("/")) if pattern else 0):
        raise PatternError(f"rendered directory {directory!r} does not have the pattern's segments")
