"""What the `renditions` column of a proxy or an Image holds (migration 0070), and the keys it names.

`{name: {"key": ..., "width": ..., "height": ...}}`, one entry per rendition made
(`shared.imaging.renditions`). The preview's and thumbnail's keys are also in
`preview_path` and `thumbnail_path`, written by the same statements.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Recorded(TypedDict, total=False):
    key: str
    width: int
    height: int


Renditions = dict[str, Recorded]
#: the renditions that also have a column of their own
COLUMNS = {"preview": "preview_path", "thumbnail": "thumbnail_path"}


def recorded(row: Any) -> Renditions:
    """The row's renditions by name (a row from before migration 0070's backfill: its two columns)."""
    found: Renditions = dict(row["renditions"] or {}) if "renditions" in row else {}
    for name, column in COLUMNS.items():
        if name not in found and row[column]:
            found[name] = {"key": row[column]}
    return found


def rendition_keys(row: Any) -> list[str]:
    """Every object the row's renditions name (its preview and thumbnail columns included), once."""
    found = [r.get("key") for r in recorded(row).values()]
    found += [row[column] for column in COLUMNS.values()]
    return list(dict.fromkeys(k for k in found if k))


def columns_for(made: Renditions) -> dict[str, Any]:
    """The `renditions`, `preview_path` and `thumbnail_path` values that record `made`."""
    return {"renditions": made, **{column: made.get(name, {}).get("key") for name, column in COLUMNS.items()}}
