"""`python -m shared.worker.render_child CAP SETUP`: the render process (see `shared.worker.render_process`).

Runs the optional set-up (`module:function`, e.g. libvips' configuration),
measures its own address space at rest, caps it at that plus CAP bytes
(`RLIMIT_AS`, every thread included), says it is ready, then runs calls
until its input closes. An exception goes back to the caller; a failed
allocation past the cap either becomes an exception (libvips, Python) or
ends this process (the caller sees it die and starts another).
"""

from __future__ import annotations

import importlib
import pickle
import resource
import sys
from typing import Any

from shared.worker.render_process import _read_frame, _write_frame


def address_space() -> int:
    """This process's virtual size in bytes (VmSize)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _call(module: str, function: str, args: tuple[Any, ...]) -> Any:
    return getattr(importlib.import_module(module), function)(*args)


def main() -> None:
    cap, setup = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else ""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    if setup:
        module, _, function = setup.partition(":")
        _call(module, function, ())
    limit = address_space() + cap
    if cap > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _write_frame(stdout, ("ready", limit))
    while True:
        try:
            module, function, args = _read_frame(stdin)
        except EOFError:
            return
        try:
            result: tuple[str, Any] = ("ok", _call(module, function, args))
        except MemoryError as exc:
            result = ("error", MemoryError(f"over the render process's hard memory cap: {exc}"))
        except Exception as exc:
            result = ("error", exc)
        try:
            _write_frame(stdout, result)
        except (pickle.PicklingError, TypeError, AttributeError):
            _write_frame(stdout, ("error", RuntimeError(f"{type(result[1]).__name__}: {result[1]}")))
        if result[0] == "error" and exhausted(result[1]):
            return  # a process that ran out may keep failing (half-made threads, arenas): retire it


def exhausted(exc: BaseException) -> bool:
    """Whether an error says this process hit its limit (the caller starts a fresh one)."""
    text = f"{type(exc).__name__} {exc}".lower()
    return any(word in text for word in ("memory", "resource temporarily unavailable", "mempool"))


if __name__ == "__main__":
    main()
