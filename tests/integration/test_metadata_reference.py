"""Every corpus file's normalized fields against ExifTool's own print-converted reading of their source tags.

ExifTool is the reference. One batch call reads every file as a person
would see it (no `-n`, no `TAG#`: "0.9 m Below Sea Level", "37.386505000 N",
"Canon EF 100mm f/2.8L Macro IS USM"), and this test parses that text on its
own; the pipeline's reader (`ExifTool.read` + `normalize`) must agree: lens
names equal, capture times equal to the millisecond with the same offset,
GPS within 1e-6 with the same altitude sign, and the MWG-reconciled
descriptive fields equal.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.exif import ExifTool, ReadMode, clean_text, normalize
from tests.conftest import CORPUS

pytestmark = pytest.mark.integration

REFERENCE_TAGS = ("LensID", "LensModel", "Lens", "DateTimeOriginal", "CreateDate", "OffsetTimeOriginal",
                  "OffsetTimeDigitized", "OffsetTime", "GPSLatitude", "GPSLongitude", "GPSAltitude",
                  "Rating", "RatingPercent", "Description", "Creator", "Copyright", "City", "Country")
_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def _reference(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """One ExifTool call for the whole corpus, print-converted, coordinates in decimal degrees."""
    out = subprocess.run(
        ["exiftool", "-j", "-use", "MWG", "-c", "%.9f", "-charset", "filename=utf8",
         *(f"-{tag}" for tag in REFERENCE_TAGS), *map(str, paths)],
        capture_output=True, check=False, timeout=120)
    return {Path(row["SourceFile"]).resolve().as_posix(): row for row in json.loads(out.stdout)}


def _parse_date(text: Any) -> tuple[datetime, str | None] | None:
    m = _DATE.match(str(text or "").strip())
    if not m or m.group(1) == "0000":
        return None
    local = datetime(*(int(m.group(i)) for i in range(1, 7)))
    if m.group(7):
        local += timedelta(seconds=float("0" + m.group(7)))
    zone = m.group(8)
    return local, ("+00:00" if zone == "Z" else zone)


def _degrees(text: Any) -> float | None:
    m = re.match(r"^([\d.]+) ([NSEW])$", str(text or ""))
    if not m:
        return None
    return float(m.group(1)) * (-1 if m.group(2) in "SW" else 1)


def _altitude(text: Any) -> float | None:
    m = re.match(r"^(-?[\d.]+) m( Below| Above)? Sea Level$", str(text or ""))
    if not m:
        return None
    return -float(m.group(1)) if m.group(2) == " Below" else float(m.group(1))


@pytest.fixture(scope="module")
def readings() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip(f"the photo corpus is not present at {CORPUS}")
    corpus = CORPUS
    with open(corpus / "MANIFEST.tsv", newline="") as fh:
        paths = [corpus / row["path"] for row in csv.DictReader(fh, delimiter="\t")]
    reference = _reference(paths)
    tool = ExifTool(timeout=30)
    try:
        ours = [(p, normalize(tool.read(p, ReadMode.FULL))) for p in paths]
    finally:
        tool.close()
    return [(str(p.relative_to(corpus)), reference[p.resolve().as_posix()], n) for p, n in ours]


def test_the_whole_corpus_is_compared(readings):
    assert len(readings) >= 129
    assert sum(1 for _, _, ours in readings if ours["lens"]) >= 30
    assert sum(1 for _, _, ours in readings if ours["gps"]) >= 10
    assert sum(1 for _, _, ours in readings if ours["taken_at_local"]) >= 90


def test_lens_names_are_exiftools_printed_names(readings):
    for name, ref, ours in readings:
        printed = [clean_text(ref.get(tag), 100) for tag in ("LensID", "LensModel", "Lens")]
        identified = printed[0] if printed[0] and not printed[0].startswith("Unknown") else None
        if identified and " or " not in identified:
            assert ours["lens"] == identified, name
        elif any(printed):
            assert ours["lens"] in printed, name
        else:
            assert ours["lens"] is None, name
        assert not re.fullmatch(r"[\d.\s-]*", ours["lens"] or "x"), (name, ours["lens"])


def test_the_two_lenses_of_the_issue_have_their_human_names(readings):
    lens = {name: ours["lens"] for name, _, ours in readings}
    assert lens["jpeg/Sony_DSLR-A200.jpg"] == "Minolta/Sony AF DT 18-70mm F3.5-5.6 (D)"
    assert lens["jpeg/Nikon D5000.jpg"] == "AF-S DX VR Zoom-Nikkor 18-55mm f/3.5-5.6G"


def test_capture_times_match_to_the_millisecond_with_the_same_offset(readings):
    for name, ref, ours in readings:
        parsed = _parse_date(ref.get("DateTimeOriginal")) or _parse_date(ref.get("CreateDate"))
        if parsed is None:
            continue
        local, zone = parsed
        zone = zone or next((ref[t] for t in ("OffsetTimeOriginal", "OffsetTime") if ref.get(t)), None) \
            if _parse_date(ref.get("DateTimeOriginal")) else zone or ref.get("OffsetTimeDigitized") \
            or ref.get("OffsetTime")
        assert ours["taken_at_local"] is not None, name
        theirs_ms = local.replace(microsecond=local.microsecond // 1000 * 1000)
        got = datetime.fromisoformat(ours["taken_at_local"])
        assert got.replace(microsecond=got.microsecond // 1000 * 1000) == theirs_ms, name
        if zone:
            assert ours["taken_at_offset"] == zone and ours["taken_at_zone_source"] == "offset", name
            instant = datetime.fromisoformat(ours["taken_at"])
            assert instant.utcoffset() == datetime.fromisoformat(f"2000-01-01T00:00:00{zone}").utcoffset()
        else:
            assert ours["taken_at_zone_source"] != "offset", name


def test_gps_matches_within_a_millionth_of_a_degree_with_the_same_altitude_sign(readings):
    for name, ref, ours in readings:
        lat, lon = _degrees(ref.get("GPSLatitude")), _degrees(ref.get("GPSLongitude"))
        if lat is None or lon is None or (lat == 0 and lon == 0):
            assert ours["gps"] is None, name
            continue
        assert abs(ours["gps"]["latitude"] - lat) < 1e-6 and abs(ours["gps"]["longitude"] - lon) < 1e-6, name
        altitude = _altitude(ref.get("GPSAltitude"))
        if altitude is not None:
            assert abs(ours["gps"]["altitude"] - altitude) < 0.1, name  # printed cut to 0.1 m
            assert (ours["gps"]["altitude"] < 0) == (altitude < 0), name


def test_the_corpus_photo_taken_below_sea_level_stays_below_it(readings):
    ours = {name: n for name, _, n in readings}["raw/canon-r6.cr3"]
    assert ours["gps"]["altitude"] == pytest.approx(-0.9)


def test_descriptive_fields_are_the_mwg_reconciled_values(readings):
    def joined(value: Any) -> str | None:
        return clean_text("; ".join(map(str, value)) if isinstance(value, list) else value)

    for name, ref, ours in readings:
        assert ours["caption"] == clean_text(ref.get("Description"), 2000), name
        assert ours["creator"] == joined(ref.get("Creator")), name
        assert ours["copyright"] == clean_text(ref.get("Copyright"), 500), name
        assert (ours["location"] or {}).get("city") == clean_text(ref.get("City")), name
        rating, percent = ref.get("Rating"), ref.get("RatingPercent") or 0
        if rating is None and percent > 0:  # Windows' stars: 1, 25, 50, 75, 99
            rating = sum(percent >= step for step in (1, 25, 50, 75, 99))
        assert ours["rating"] == (int(rating) if rating is not None and -1 <= int(rating) <= 5 else None), name
