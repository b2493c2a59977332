"""`start_writeback` asks the kernel to begin writing a range out; it never fails a write."""

from __future__ import annotations

import os
from pathlib import Path

from shared.storage.writeback import start_writeback


def test_starting_writeback_keeps_the_bytes_and_accepts_empty_and_past_end_ranges(tmp_path: Path) -> None:
    path = tmp_path / "partial"
    with open(path, "wb", buffering=0) as fh:
        fh.write(b"x" * 300_000)
        start_writeback(fh.fileno(), 0, 300_000)
        start_writeback(fh.fileno(), 0, 0)
        start_writeback(fh.fileno(), 250_000, 10**9)
        os.fdatasync(fh.fileno())
    assert path.read_bytes() == b"x" * 300_000
