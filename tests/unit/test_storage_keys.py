"""`validate_key`: which object keys every store accepts, and which it refuses."""

from __future__ import annotations

import pytest

from shared.storage import InvalidKey, validate_key

ACCEPTED = [
    "a",
    "ingest-temp/0b5e6c1e-8f6a-4d3e-9a55-1f2f3c4d5e6f.jpg",
    "2026/11/28/IMG_0001.CR3",
    "with space/a b.jpg",
    "photos/Ünïcödé/日本 語 ✓.jpg",
    "nfd/Cafe\u0301.jpg",
    "emoji/📷.heic",
    "...",
    "a/.../b",
    ".hidden",
    "a/.tmp-1",
    "a/..b/c..",
    "%2e%2e/x",  # percent escapes are literal characters, not a way to spell '..'
    "plus+and&amp=?#.jpg",
    "trailing-dot.",
    "x" * 1024,
]

REFUSED = [
    ("", "empty"),
    ("x" * 1025, "longer than 1024"),
    ("/abs", "absolute"),
    ("/", "root"),
    ("a\\b", "backslash"),
    ("..\\x", "backslash climb"),
    ("a\x00b", "NUL"),
    ("a\nb", "newline"),
    ("a\rb", "carriage return"),
    ("a\tb", "tab"),
    ("\x1b[31mred", "escape sequence"),
    ("del\x7f", "DEL"),
    ("c1\x85", "C1 control"),
    ("..", "parent"),
    (".", "current"),
    ("../x", "leading parent"),
    ("a/../../x", "inner parent"),
    ("a/..", "trailing parent"),
    ("./a", "leading current"),
    ("a/./b", "inner current"),
    ("a//b", "empty segment"),
    ("a/", "trailing slash"),
    ("//host/share", "UNC-like"),
]


@pytest.mark.parametrize("key", ACCEPTED, ids=repr)
def test_an_ordinary_key_is_accepted_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(("key", "why"), REFUSED, ids=[why for _, why in REFUSED])
def test_a_key_that_could_escape_or_confuse_a_store_is_refused(key: str, why: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_invalid_key_is_a_value_error_so_callers_can_map_it_to_400() -> None:
    assert issubclass(InvalidKey, ValueError)


def test_a_kept_images_renditions_sit_in_a_hidden_folder_beside_its_original() -> None:
    from shared.keys import kept_rendition_key

    original = "shoots/2025/06/Canon-EOS-R5/001-IMG_0001.CR3"
    assert kept_rendition_key(original, "preview") == \
        "shoots/2025/06/Canon-EOS-R5/.renditions/001-IMG_0001.CR3.preview.jpg"
    assert kept_rendition_key("001-a.jpg", "thumb") == ".renditions/001-a.jpg.thumb.jpg"


def test_a_renditions_key_comes_from_its_name_and_the_first_two_keep_their_older_folders():
    from shared.keys import kept_rendition_key, preview_key, rendition_key, thumb_key

    uuid = "3f2b8c1e-9d4a-4f6e-b7c2-5a1d0e8f9b34"
    assert rendition_key(uuid, "preview") == preview_key(uuid) == f"ingest-temp/previews/{uuid}.jpg"
    assert rendition_key(uuid, "thumbnail") == thumb_key(uuid) == f"ingest-temp/thumbs/{uuid}.jpg"
    assert rendition_key(uuid, "web") == f"ingest-temp/renditions/web/{uuid}.jpg"
    assert kept_rendition_key("a/001-x.jpg", "thumbnail") == "a/.renditions/001-x.jpg.thumb.jpg"
    assert kept_rendition_key("a/001-x.jpg", "web") == "a/.renditions/001-x.jpg.web.jpg"
