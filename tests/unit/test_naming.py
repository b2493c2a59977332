"""Final keys from the schema pattern: real cameras, hostile metadata, bad patterns."""

from __future__ import annotations

import csv
import random
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared import exif, keys, naming
from shared.settings import Settings
from shared.storage import validate_key
from tests.conftest import CORPUS

UPLOADED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CORPUS_MANIFEST = CORPUS / "MANIFEST.tsv"


def values(make=None, model=None, lens=None, taken_at=None, user="alice", ext="jpg") -> naming.NamingValues:
    return naming.NamingValues(
        taken_at=taken_at, uploaded_at=UPLOADED, make=make, model=model,
        camera=exif.camera_name(make, model), lens=lens, user=user, ext=ext,
    )


def key_for(pattern: str, v: naming.NamingValues, name: str = "IMG_1234.jpg", seq: int = 1) -> str:
    return keys.final_key(naming.render_directory(pattern, v), seq, name)


def assert_safe(key: str, pattern: str) -> None:
    validate_key(key)  # the storage layer's own rules: no '..', no empty segment, no control chars
    assert len(key.split("/")) == (len(pattern.split("/")) if pattern else 0) + 1
    prefix = naming.literal_prefix(pattern)
    assert key.startswith(prefix + "/") if prefix else True
    for segment in key.split("/"):
        assert segment == unicodedata.normalize("NFC", segment)
        assert not any(unicodedata.category(c)[0] == "C" for c in segment)
        assert segment and not segment.startswith(("-", ".")) and not segment.endswith((".", " "))
        assert len(segment) <= naming.SEGMENT_MAX_CHARS + 4
        assert len(segment.encode()) <= 255


def test_the_documented_example_renders_exactly():
    v = values("Canon", "Canon EOS R5", taken_at=datetime(2025, 1, 17, 10, 0, 0))
    assert key_for("shoots/{year}/{month}/{camera}", v) == "shoots/2025/01/Canon-EOS-R5/001-IMG_1234.jpg"


@pytest.mark.parametrize(("make", "model", "camera"), [
    ("Canon", "Canon EOS R6", "Canon-EOS-R6"),
    ("NIKON CORPORATION", "NIKON D70", "NIKON-D70"),
    ("NIKON", "COOLPIX P6000", "NIKON-COOLPIX-P6000"),
    ("SONY", "ILCE-7M3", "SONY-ILCE-7M3"),
    ("Google", "Pixel 6 Pro", "Google-Pixel-6-Pro"),
    ("motorola", "moto g(9) plus", "motorola-moto-g(9)-plus"),
    ("OLYMPUS OPTICAL CO.,LTD", "C960Z,D460Z", "OLYMPUS-OPTICAL-CO.,LTD-C960Z,D460Z"),
    ("Samsung Techwin", "<Digimax i50 MP3, Samsung #1 MP3>", "Samsung-Techwin-Digimax-i50-MP3,-Samsung-1-MP3"),
    ("FLIR Systems AB", None, "FLIR-Systems-AB"),
    (None, "Jolla", "Jolla"),
    (None, None, "Unknown-Camera"),
    ("", "   ", "Unknown-Camera"),
])
def test_camera_joins_make_and_model_without_repeating_the_make(make, model, camera):
    assert naming.token_values(values(make, model))["camera"] == camera


def manifest_cameras() -> list[tuple[str | None, str | None]]:
    if not CORPUS_MANIFEST.exists():
        return []
    with CORPUS_MANIFEST.open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = []
    for row in rows:
        make, _, model = row["make_model"].partition(" / ")
        out.append((None if make == "-" else make, model or None))
    return out


@pytest.mark.skipif(not CORPUS_MANIFEST.exists(), reason="the photo corpus is not checked out beside the repo")
@pytest.mark.parametrize(("make", "model"), manifest_cameras())
def test_every_corpus_camera_renders_a_safe_single_segment(make, model):
    for pattern in ("shoots/{year}/{month}/{camera}", "{user}/{make}/{model}/{lens}/{ext}"):
        key = key_for(pattern, values(make, model, lens="EF 24-70mm f/2.8L II USM"))
        assert_safe(key, pattern)
    camera = naming.token_values(values(make, model))["camera"]
    assert " " not in camera
    if make is None and model is None:
        assert camera == "Unknown-Camera"


def test_the_date_comes_from_the_photo_then_the_upload_time():
    local = datetime(2024, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert naming.token_values(values(taken_at=local))["year"] == "2024"  # the photo's wall clock, not UTC
    assert naming.token_values(values(taken_at=local))["day"] == "31"
    assert naming.token_values(values())["month"] == "03"  # no EXIF date: the upload's


def test_exif_taken_at_prefers_date_time_original_then_create_date():
    both = {"DateTimeOriginal": "2020:05:06 07:08:09", "CreateDate": "2021:01:01 00:00:00"}
    assert exif.capture_time(both, None).local.year == 2020
    assert exif.capture_time({"CreateDate": "2021:02:03 00:00:00"}, None).local.month == 2
    assert exif.capture_time({"DateTimeOriginal": "0000:00:00 00:00:00"}, None) is None


HOSTILE = [
    "../../etc/passwd", "..", ".", "/", "\\", "a/b\\c", "C:\\Windows", "", "   ", "\x00", "\x1f\x7f",
    "line\nbreak", "tab\tbed", "\u202eexe.jpg", "zero\u200bwidth", "\ufeffbom", "e\u0301", "x" * 300,
    "😀" * 300, "-rf", ".hidden", "trailing.", "%2e%2e%2f", "?query#frag", "con:stream", "\ud800",
    "\u2028sep\u2029", "<script>", "a" + "/" * 50 + "b",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_exif_values_never_leave_the_pattern_prefix(hostile):
    pattern = "shoots/{year}/{month}/{camera}/{make}/{model}/{lens}/{user}/{ext}"
    v = values(hostile, hostile, lens=hostile, user=hostile, ext=hostile)
    assert_safe(key_for(pattern, v, name=hostile), pattern)


@pytest.mark.parametrize(("name", "expected"), [
    ("IMG_1234.jpg", "IMG_1234.jpg"),
    ("My Photo  (1).JPG", "My Photo (1).JPG"),
    ("../../etc/passwd", "etc-passwd"),
    ("..", "unknown"),
    ("", "unknown"),
    ("....jpg", "unknown.jpg"),
    ("\u202egpj.exe", "gpj.exe"),
    ("e\u0301te\u0301.heic", "\u00e9t\u00e9.heic"),
    ("zero\u200bwidth.png", "zerowidth.png"),
])
def test_original_names_are_sanitized_into_one_segment(name, expected):
    assert naming.sanitize_filename(name) == expected


def test_long_names_are_truncated_keeping_the_extension():
    name = naming.sanitize_filename("x" * 300 + ".jpeg")
    assert len(name) == naming.SEGMENT_MAX_CHARS and name.endswith(".jpeg")
    wide = naming.sanitize_filename("写真" * 150 + ".cr3")
    assert wide.endswith(".cr3") and len(wide.encode()) <= naming.SEGMENT_MAX_BYTES


def test_random_hostile_strings_always_give_safe_keys():
    rng = random.Random(20261128)
    alphabet = [*"/\\.:-_ aZ9é😀", "\x00", "\n", "\u202e", "\u200b", "..", "\ufeff", "\u0301"]
    pattern = "p/{camera}/{lens}"
    for _ in range(2000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert_safe(key_for(pattern, values(s, s, lens=s), name=s, seq=rng.randint(1, 5000)), pattern)


def test_sequence_numbers_are_zero_padded_to_three_digits_and_grow_past_999():
    assert keys.final_key("d", 7, "a.jpg") == "d/007-a.jpg"
    assert keys.final_key("d", 1234, "a.jpg") == "d/1234-a.jpg"
    with pytest.raises(ValueError):
        keys.final_key("d", 0, "a.jpg")


@pytest.mark.parametrize(("pattern", "message"), [
    ("shoots/{year}/{camera_name}", "unknown token {camera_name}"),
    ("shoots/{}", "unknown token {}"),
    ("shoots/{0}", "unknown token {0}"),
    ("shoots/{year:04d}", "takes no format spec"),
    ("shoots/{year!r}", "takes no format spec or conversion"),
    ("shoots/{year", "malformed"),
    ("/shoots/{year}", "must be relative"),
    ("shoots/{year}/", "must be relative"),
    ("shoots/../{year}", "'..'"),
    ("shoots//{year}", "empty"),
    ("shoots/\x00/{year}", "control characters"),
])
def test_bad_patterns_are_refused_with_a_clear_message(pattern, message):
    with pytest.raises(naming.PatternError, match=message.replace("{", r"\{").replace("}", r"\}")):
        naming.validate_pattern(pattern)


def test_settings_refuse_an_unknown_token_so_every_service_refuses_to_start():
    with pytest.raises(ValidationError, match="unknown token"):
        Settings(schema_pattern="shoots/{yaer}")


@pytest.mark.parametrize("pattern", [
    "shoots/{year}/{month}/{camera}", "{user}/{year}-{month}-{day}", "archive", "{camera}_{lens}.{ext}",
])
def test_good_patterns_are_accepted(pattern):
    assert naming.validate_pattern(pattern) == pattern
    assert_safe(key_for(pattern, values("Canon", "Canon EOS R5", lens="RF 24-105mm F4 L")), pattern)
