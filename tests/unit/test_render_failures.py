"""How render failures are told apart: by their types, never by their words."""

from __future__ import annotations

import errno
import pickle
import subprocess
import sys

import pytest

from shared.imaging import ImagingError, OutOfMemory, TooManyPixels, refused
from shared.imaging.budget import OverBudget
from shared.worker.render_child import can_reserve, failure_of
from shared.worker.render_protocol import Failure, function_reference


def room() -> bool:
    return True


def no_room() -> bool:
    return False


def raised_from(error: BaseException, cause: BaseException) -> BaseException:
    try:
        raise error from cause
    except BaseException as exc:
        return exc


@pytest.mark.parametrize("exc", [
    MemoryError(),
    OutOfMemory("LibRaw could not decode the RAW: LibRawUnsufficientMemoryError: ..."),
    OSError(errno.ENOMEM, "Cannot allocate memory"),
    OSError(errno.EAGAIN, "Resource temporarily unavailable"),  # no thread could be started
    raised_from(ImagingError("libvips could not decode the image"), MemoryError()),
    raised_from(RuntimeError("wrapped twice"), raised_from(ValueError("x"), OSError(errno.ENOMEM, "x"))),
], ids=["memory", "decoder-out-of-memory", "enomem", "eagain", "cause-memory", "deep-cause"])
def test_a_process_that_ran_out_is_exhausted_even_when_it_has_room_again(exc: BaseException) -> None:
    assert failure_of(exc, room) is Failure.EXHAUSTED


@pytest.mark.parametrize("exc", [
    ImagingError("VipsJpeg: Insufficient memory (case 4)"),  # words about memory are only words
    ImagingError("no usable image data: out of memory"),
    ValueError("corrupt data"),
    OSError(errno.ENOENT, "No such file"),
    TooManyPixels(20000, 20000, 150_000_000),
])
def test_any_other_failure_of_a_process_with_room_is_an_error_of_that_input(exc: BaseException) -> None:
    assert failure_of(exc, room) is Failure.ERROR


def test_a_process_that_cannot_reserve_its_headroom_any_more_is_exhausted_whatever_failed() -> None:
    assert failure_of(ValueError("corrupt data"), no_room) is Failure.EXHAUSTED


def test_refusals_are_told_by_type_and_keep_it_across_the_pipe() -> None:
    pixels = TooManyPixels(20000, 20000, 150_000_000)
    budget = OverBudget(900 * 2**20, 512 * 2**20, "progressive JPEG 14000x10000")
    for exc in (pixels, budget):
        crossed = pickle.loads(pickle.dumps(exc))
        assert type(crossed) is type(exc) and crossed.reason == exc.reason and refused(crossed)
    assert pixels.reason.startswith("too many pixels: 20000x20000 is 400 MP")
    # a plain error with the same words is not a refusal: the type decides, not the text
    assert not refused(ImagingError(pixels.reason))
    assert not refused(ImagingError("needs ~900 MB, the budget is 512 MB"))
    assert not refused(OutOfMemory("LibRaw ran out"))


def test_out_of_memory_crosses_the_pipe_as_both_an_imaging_error_and_a_memory_error() -> None:
    crossed = pickle.loads(pickle.dumps(OutOfMemory("LibRaw ran out")))
    assert isinstance(crossed, ImagingError) and isinstance(crossed, MemoryError)
    assert crossed.reason == "LibRaw ran out"


def test_only_module_level_functions_can_be_sent_to_the_render_process() -> None:
    assert function_reference(refused) is refused
    assert function_reference(pickle.dumps) is pickle.dumps  # a builtin is importable too

    def closure() -> None: ...

    for fn in (lambda: None, closure, "shared.imaging:refused", Failure.ERROR.upper):
        with pytest.raises(TypeError):
            function_reference(fn)  # type: ignore[arg-type]


def test_reserving_address_space_fails_past_the_cap_and_succeeds_within_it() -> None:
    assert can_reserve(64 * 2**20)
    capped = (
        "import resource, sys\n"
        "from shared.worker.render_child import address_space, can_reserve\n"
        "limit = address_space() + 64 * 2**20\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "sys.exit(0 if can_reserve(32 * 2**20) and not can_reserve(128 * 2**20) else 1)\n"
    )
    assert subprocess.run([sys.executable, "-c", capped], timeout=60).returncode == 0
