"""The pipe between a worker and its render process: frames, and how a call failed.

Length-prefixed pickles both ways. The worker sends its set-up function (or
None) once, then `(function, args)` per call; the child answers
`("ready", limit)` once, then `("ok", result)` or `("error", Failure,
exception)` per call. A function crosses as a reference (pickle names it by
module and qualified name, and the child imports it), so only a module-level
function can be sent: `function_reference` checks that before anything is
written. Both processes run our code as the same user; the pipe is not a
trust boundary.
"""

from __future__ import annotations

import enum
import pickle
import struct
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar

_FRAME = struct.Struct(">Q")
F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


class Renderer(Protocol):
    """Where a job's decodes run: `RenderProcess` (a child whose address space is capped); in
    unit tests, the caller's own process (`tests/fakes/jobs.py`)."""

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...


class Failure(enum.StrEnum):
    """How a call failed, decided in the child, where the exception and its causes are whole."""

    #: the call raised: that input failed, the process takes the next call
    ERROR = "error"
    #: the process ran out (memory, threads, address space): it answers, then exits
    EXHAUSTED = "exhausted"


def function_reference(fn: F) -> F:
    """`fn`, when the child can import it by name; TypeError for a lambda, a closure or a bound method."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    found: object = module
    for part in getattr(fn, "__qualname__", "<unnamed>").split("."):
        found = getattr(found, part, None)
    importable = module is not None and module.__name__ != "__main__" and found is fn
    if not importable:
        raise TypeError(f"{fn!r} is not a module-level function the render process can import")
    return fn


def write_frame(fh: Any, payload: Any) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_FRAME.pack(len(data)) + data)
    fh.flush()


def _read_exact(fh: Any, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = fh.read(left)
        if not chunk:
            raise EOFError("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fh: Any) -> Any:
    (size,) = _FRAME.unpack(_read_exact(fh, _FRAME.size))
    return pickle.loads(_read_exact(fh, size))  # noqa: S301 - our own child, same user
