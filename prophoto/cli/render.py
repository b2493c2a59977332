"""Tables and panels the CLI prints. Text from the server is never markup."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from prophoto.cli.upload import Outcome

RESULT_STYLE = {"created": "green", "duplicate": "cyan", "rejected": "yellow", "error": "red"}
STATUS_STYLE = {
    "ready": "green",
    "failed": "red",
    "processing": "cyan",
    "pending": "white",
    "queued": "green",
    "refused": "yellow",
    "timeout": "yellow",
}
MAX_OK_ROWS = 50


def _columns(table: Table, *names: str) -> None:
    for name in names:
        if name == "uuid":  # copied into the next command: never folded
            table.add_column(name, no_wrap=True, min_width=36)
        else:
            table.add_column(name, overflow="fold")


def _t(value: Any, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style)


def _status(value: Any) -> Text:
    return _t(value, STATUS_STYLE.get(str(value), ""))


def upload_summary(console: Console, outcomes: list[Outcome], waited: bool) -> None:
    # every problem is listed; successful rows only while the table stays readable
    show_ok = len(outcomes) <= MAX_OK_ROWS
    table = Table(title="upload summary", title_justify="left")
    _columns(table, "file", "result", "uuid", "preview", "size", "reason")
    hidden = 0
    for o in outcomes:
        failed_preview = waited and o.uploaded and o.status != "ready"
        if o.uploaded and not failed_preview and not show_ok:
            hidden += 1
            continue
        table.add_row(
            _t(o.path),
            _t(o.result, RESULT_STYLE.get(o.result, "")),
            _t(o.uuid),
            _status(o.status),
            _t(decimal(o.size)),
            _t(o.reason),
        )
    if table.row_count:
        console.print(table)
    if hidden:
        console.print(f"({hidden} successful uploads not listed; `prophoto status` shows them)")
    counts = Counter(o.result for o in outcomes)
    line = ", ".join(
        f"{counts[k]} {k}" for k in ("created", "duplicate", "rejected", "error") if counts[k]
    )
    if waited:
        previews = Counter(o.status for o in outcomes if o.uploaded)
        line += "; previews: " + ", ".join(f"{n} {s}" for s, n in sorted(previews.items()))
    console.print(Text(f"{len(outcomes)} file(s): {line}"))


def upload_rate(console: Console, outcomes: Iterable[Outcome], elapsed: float) -> None:
    sent = sum(o.size for o in outcomes if o.result == "created")
    if sent and elapsed > 0:
        console.print(
            Text(f"sent {decimal(sent)} in {elapsed:.1f} s ({decimal(int(sent / elapsed))}/s)")
        )


def _short(uuid: Any) -> str:
    return str(uuid or "")[:8]


def _problem(p: dict[str, Any]) -> str:
    """A failure in words, once (the technical reason is in `prophoto status ID`)."""
    problem = p.get("problem")
    if isinstance(problem, dict) and problem.get("message"):
        return str(problem["message"])
    return str(p.get("preview_error") or p.get("metadata_error") or "")


def _stars(rating: Any) -> str:
    return "*" * int(rating) if isinstance(rating, int) and rating > 0 else ""


def proxy_table(console: Console, items: list[dict[str, Any]], more: bool) -> None:
    """File name first, an eight-character id the other commands take, then the cull and the
    preview; readable at 80 columns."""
    if not items:
        console.print("no proxies")
        return
    table = Table(pad_edge=False)
    table.add_column("file", overflow="fold", ratio=3)
    table.add_column("id", no_wrap=True, min_width=8)
    table.add_column("preview", no_wrap=True)
    table.add_column("flag", no_wrap=True)
    table.add_column("stars", no_wrap=True)
    table.add_column("problem", overflow="fold", ratio=3)
    for p in items:
        state = f"ingest {p['ingest_status']}" if p.get("ingest_status") else p.get("preview_status")
        table.add_row(_t(p.get("original_name")), _t(_short(p.get("uuid"))), _status(state),
                      _t(p.get("flag") or ""), _t(_stars(p.get("rating")), "yellow"), _t(_problem(p)))
    console.print(table)
    if more:
        console.print("(more proxies exist: raise --limit or filter with --status)")


def proxy_detail(console: Console, proxy: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in proxy.items():
        if key == "metadata" and isinstance(value, dict):
            for mkey, mvalue in value.items():
                if mvalue is not None:
                    table.add_row(_t(f"metadata.{mkey}"), _t(mvalue))
            continue
        if value is None:
            continue
        table.add_row(_t(key), _status(value) if key.endswith("_status") else _t(value))
    console.print(table)


def ingest_table(console: Console, results: list[dict[str, Any]]) -> None:
    table = Table(pad_edge=False)
    table.add_column("file", overflow="fold", ratio=2)
    table.add_column("id", no_wrap=True, min_width=8)
    table.add_column("status", no_wrap=True)
    table.add_column("kept as / reason", overflow="fold", ratio=3)
    for r in results:
        table.add_row(_t(r.get("file")), _t(_short(r.get("uuid"))), _status(r.get("status")),
                      _t(r.get("reason")))
    console.print(table)
    counts = Counter(str(r.get("status")) for r in results)
    console.print(Text(", ".join(f"{n} {s}" for s, n in sorted(counts.items()))))


def failed_table(console: Console, items: list[dict[str, Any]]) -> None:
    """One reason per job: the error when there is one (the kind of failure otherwise)."""
    if not items:
        console.print("no parked jobs")
        return
    table = Table(pad_edge=False)
    table.add_column("file", overflow="fold", ratio=2)
    table.add_column("id", no_wrap=True, min_width=8)
    table.add_column("step", no_wrap=True)
    table.add_column("why", overflow="fold", ratio=4)
    table.add_column("try", no_wrap=True)
    for i in items:
        table.add_row(_t(i.get("file") or ""), _t(_short(i.get("uuid"))),
                      _t(str(i.get("queue") or "").removeprefix("ingest-")),
                      _t(i.get("error") or i.get("reason")), _t(i.get("attempt")))
    console.print(table)
    console.print(f"{len(items)} parked job(s); `prophoto failed replay [ID...]` sends them back")
