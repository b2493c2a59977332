"""`python -m shared.worker.render_child CAP HEADROOM`: the render process (`shared.worker.render_process`).

Reads its set-up function (or None) from its input and runs it (e.g.
libvips' configuration), measures its own address space at rest, caps it at
that plus CAP bytes (`RLIMIT_AS`, every thread included), says it is ready,
then runs calls until its input closes. A failed allocation past the cap
either becomes an exception (libvips, LibRaw, Python) or ends this process
(the caller sees it die and starts another).

How a call failed is decided here, by type, and sent back as a `Failure`
(`failure_of`): EXHAUSTED when the exception or one of its causes is a
`MemoryError` (Python's, or a decoder's typed out-of-memory error such as
`shared.imaging.OutOfMemory`) or an `OSError` with ENOMEM or EAGAIN (no
memory, no thread), or when this process can no longer reserve HEADROOM
bytes of address space (it holds what it could not give back); this process
then answers and exits, since one that ran out may keep failing (half-made
threads, arenas). Anything else is ERROR: the input failed, the process goes on.
"""

from __future__ import annotations

import errno
import mmap
import pickle
import resource
import sys
from collections.abc import Callable, Iterator
from typing import Any

from shared.worker.render_protocol import Failure, read_frame, write_frame

#: what a process reports when it could not get memory or a thread
_RAN_OUT = (errno.ENOMEM, errno.EAGAIN)


def address_space() -> int:
    """This process's virtual size in bytes (VmSize)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def can_reserve(nbytes: int) -> bool:
    """Whether `nbytes` of address space can still be reserved (the cap counts reservations)."""
    if nbytes <= 0:
        return True
    try:
        # PROT_NONE (0): address space only, no memory is committed or touched
        probe = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=0)
    except OSError as exc:
        if exc.errno == errno.ENOMEM:
            return False
        raise
    probe.close()
    return True


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def failure_of(exc: BaseException, has_room: Callable[[], bool]) -> Failure:
    """EXHAUSTED when `exc` (or a cause) says this process ran out, or `has_room()` says it has."""
    for error in _chain(exc):
        if isinstance(error, MemoryError):
            return Failure.EXHAUSTED
        if isinstance(error, OSError) and error.errno in _RAN_OUT:
            return Failure.EXHAUSTED
    return Failure.ERROR if has_room() else Failure.EXHAUSTED


def _answer(fn: Callable[..., Any], args: tuple[Any, ...], headroom: int) -> tuple[Any, ...]:
    try:
        return ("ok", fn(*args))
    except Exception as exc:
        failure = failure_of(exc, lambda: can_reserve(headroom))
        if type(exc) is MemoryError:  # Python's own, from an allocation past the cap: say so
            exc = MemoryError(f"over the render process's hard memory cap: {exc}")
        return ("error", failure, exc)


def main() -> None:
    cap = int(sys.argv[1])
    headroom = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    setup: Callable[[], object] | None = read_frame(stdin)
    if setup is not None:
        setup()
    limit = address_space() + cap
    if cap > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    write_frame(stdout, ("ready", limit))
    while True:
        try:
            fn, args = read_frame(stdin)
        except EOFError:
            return
        answer = _answer(fn, args, headroom)
        try:
            write_frame(stdout, answer)
        except (pickle.PicklingError, TypeError, AttributeError):
            error = answer[-1]
            write_frame(stdout, ("error", Failure.ERROR if answer[0] == "ok" else answer[1],
                                 RuntimeError(f"{type(error).__name__}: {error}")))
        if answer[0] == "error" and answer[1] is Failure.EXHAUSTED:
            return  # a process that ran out may keep failing: the caller starts a fresh one


if __name__ == "__main__":
    main()
