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


def proxy_table(console: Console, items: list[dict[str, Any]], more: bool) -> None:
    if not items:
        console.print("no proxies")
        return
    table = Table()
    _columns(table, "uuid", "name", "preview", "ingest", "size", "uploaded", "error")
    for p in items:
        table.add_row(
            _t(p.get("uuid")),
            _t(p.get("original_name")),
            _status(p.get("preview_status")),
            _status(p.get("ingest_status")),
            _t(decimal(int(p.get("size") or 0))),
            _t(str(p.get("uploaded_at") or "")[:19]),
            _t(p.get("preview_error") or p.get("metadata_error")),
        )
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
    table = Table()
    _columns(table, "uuid", "status", "reason")
    for r in results:
        table.add_row(_t(r.get("uuid")), _status(r.get("status")), _t(r.get("reason")))
    console.print(table)
    counts = Counter(str(r.get("status")) for r in results)
    console.print(Text(", ".join(f"{n} {s}" for s, n in sorted(counts.items()))))


def failed_table(console: Console, items: list[dict[str, Any]]) -> None:
    if not items:
        console.print("no parked jobs")
        return
    table = Table()
    _columns(table, "queue", "uuid", "reason", "error", "parked at", "attempt")
    for i in items:
        table.add_row(
            _t(i.get("queue")),
            _t(i.get("uuid")),
            _t(i.get("reason")),
            _t(i.get("error")),
            _t(i.get("parked_at")),
            _t(i.get("attempt")),
        )
    console.print(table)
    console.print(f"{len(items)} parked job(s); `prophoto failed replay [UUID...]` sends them back")
