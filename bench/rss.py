"""How much memory a server takes while it works: its resident size sampled on a thread."""

from __future__ import annotations

import threading
import time

import psutil


class PeakRss:
    """The peak resident size of a process (with `children`, plus its children: a worker and its
    render process) while in `with`, sampled every `every_s`; `before` is its size at the start."""

    def __init__(self, pid: int, *, children: bool = False, every_s: float = 0.005) -> None:
        self.proc = psutil.Process(pid)
        self.children = children
        self.every_s = every_s
        self.before = self.peak = self.now()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def now(self) -> int:
        """Resident bytes now (a process that is gone counts 0)."""
        total = 0
        try:
            procs = [self.proc, *(self.proc.children(recursive=True) if self.children else [])]
        except psutil.Error:
            return 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.every_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def before_mb(self) -> float:
        return self.before / 2**20

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / 2**20
