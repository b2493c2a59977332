"""Who and what: rating, label, title, caption, creator, rights, place names, keywords.

Read from ExifTool's MWG composites where the MWG defines one (Description,
Creator, Copyright, Keywords, City, State, Country, Location, Rating), so
EXIF, IPTC and XMP are reconciled as the guidelines say, and nothing the MWG
set aside (IPTC in a PNG, say) comes back through a side door; the others
from their XMP tag, then IPTC (docs/metadata.md lists each field's tags).
Values are untrusted: cleaned, capped, never raising.
"""

from __future__ import annotations

from typing import Any

from shared.exif.values import MAX_TEXT, clean_text, num

MAX_CAPTION = 2000
MAX_KEYWORDS = 200
#: hierarchical keyword tags and their separators (Lightroom, digiKam, Windows Photo Gallery)
_PATH_TAGS = (("HierarchicalSubject", "|"), ("TagsList", "/"), ("CatalogSets", "|"),
              ("LastKeywordXMP", "/"))


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _first_text(meta: dict[str, Any], tags: tuple[str, ...], limit: int = MAX_TEXT) -> str | None:
    for tag in tags:
        value = meta.get(tag)
        if isinstance(value, dict):  # an XMP language alternative under -struct
            value = value.get("x-default") or next(iter(value.values()), None)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value if v is not None)
        text = clean_text(value, limit)
        if text:
            return text
    return None


def rating(meta: dict[str, Any]) -> int | None:
    """-1 (rejected) .. 5: XMP Rating (the MWG's), else EXIF's, else Windows' RatingPercent."""
    value = num(meta.get("Rating"))
    if value is None:
        percent = num(meta.get("RatingPercent"))
        if percent is None or not 0 < percent <= 100:  # 0 is Windows' "not rated"
            return None
        value = sum(percent >= step for step in (1, 25, 50, 75, 99))  # 1,25,50,75,99 -> 1..5
    stars = round(value)
    return stars if -1 <= stars <= 5 and abs(value - stars) < 1e-6 else None


def keyword_paths(meta: dict[str, Any]) -> list[str]:
    """Hierarchical keywords as "A|B|C" paths (every separator written as "|")."""
    found: list[str] = []
    for tag, sep in _PATH_TAGS:
        for item in _items(meta.get(tag)):
            parts = [clean_text(p, 100) for p in str(item).split(sep)]
            path = "|".join(p for p in parts if p)
            if path and path not in found:
                found.append(path)
    return found[:MAX_KEYWORDS]


def keywords(meta: dict[str, Any], paths: list[str]) -> list[str]:
    """Flat tags: the MWG Keywords (IPTC Keywords / XMP dc:subject), then each path's leaf."""
    found: list[str] = []
    flat = [*_items(meta.get("Keywords")), *_items(meta.get("Subject"))]
    for item in [*flat, *(p.rsplit("|", 1)[-1] for p in paths)]:
        text = clean_text(item, 100)
        if text and text not in found:
            found.append(text)
    return found[:MAX_KEYWORDS]


def location(meta: dict[str, Any]) -> dict[str, str] | None:
    """IPTC place names (MWG: IPTC, else XMP photoshop/iptcCore/iptcExt)."""
    shown = meta.get("LocationShown")
    shown = shown[0] if isinstance(shown, list) and shown and isinstance(shown[0], dict) else {}
    out = {
        "sublocation": _first_text(meta, ("Location",))
        or clean_text(shown.get("Sublocation")),
        "city": _first_text(meta, ("City",)) or clean_text(shown.get("City")),
        "state": _first_text(meta, ("State",)) or clean_text(shown.get("ProvinceState")),
        "country": _first_text(meta, ("Country",))
        or clean_text(shown.get("CountryName")),
        "country_code": _first_text(meta, ("CountryCode", "Country-PrimaryLocationCode"), 3)
        or clean_text(shown.get("CountryCode"), 3),
    }
    kept = {k: v for k, v in out.items() if v}
    return kept or None


def describe(meta: dict[str, Any]) -> dict[str, Any]:
    """The descriptive fields of a normalized record."""
    paths = keyword_paths(meta)
    return {
        "rating": rating(meta),
        "label": _first_text(meta, ("Label",), 100),
        "title": _first_text(meta, ("Title", "ObjectName", "Headline")),
        "caption": _first_text(meta, ("Description",), MAX_CAPTION),
        "creator": _first_text(meta, ("Creator",)),
        "copyright": _first_text(meta, ("Copyright",), 500),
        "credit": _first_text(meta, ("Credit",)),
        "location": location(meta),
        "keywords": keywords(meta, paths),
        "keyword_paths": paths,
    }
