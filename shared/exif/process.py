"""One persistent ExifTool process (`-stay_open`), read in linear time with bounded output.

Each call has a deadline and an output limit. The answer's end marker is
looked for only in the bytes that just arrived (never by rescanning the
buffer), so reading n bytes costs O(n). When the output passes its limit,
reading stops at once and the process is killed; so is a process that misses
its deadline. A killed process is replaced on the next call. Paths are passed
as absolute arguments through the args pipe, never through a shell; a path
with a line break is refused, because the pipe is line-based.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import exiftool

from shared.exif.tags import ReadMode, read_args

_TAG_RE = re.compile(r"^[A-Za-z0-9_:-]+$")
#: a metadata answer (JSON, binary fields shown as their length) larger than this is hostile
MAX_READ_BYTES = 4 * 1024 * 1024
MAX_STDERR_BYTES = 256 * 1024


class ExifToolError(Exception):
    pass


class OutputTooLarge(ExifToolError):
    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"ExifTool's {what} passed its {limit}-byte limit; the process was replaced")
        self.limit = limit


class EmbeddedTooLarge(ExifToolError):
    def __init__(self, tag: str, size: int | None, limit: int) -> None:
        told = f"{size} bytes" if size is not None else "larger than that"
        super().__init__(f"embedded {tag} is {told}, over the {limit}-byte limit")
        self.tag, self.size, self.limit = tag, size, limit


def _checked_path(path: Path) -> str:
    text = str(Path(path).resolve())
    if "\n" in text or "\r" in text:
        raise ExifToolError("a path with a line break cannot be passed to ExifTool")
    return text


def _ends_with(buf: bytearray, new: int, end: bytes) -> int:
    """Where `end` (followed only by whitespace) starts in `buf`, or -1.

    Only the last `new` bytes (those just read) and the marker's length before
    them are looked at: the answer's end is found without rescanning the buffer.
    """
    start = max(0, len(buf) - new - len(end) - 8)
    tail = bytes(buf[start:]).rstrip()
    if tail.endswith(end):
        return start + len(tail) - len(end)
    return -1


class _TimedExifTool(exiftool.ExifTool):  # type: ignore[misc]
    """pyexiftool's process management with our own I/O: a deadline and an output limit.

    pyexiftool's reader loops forever once ExifTool's pipe reaches EOF, so a
    hung or killed ExifTool cannot be timed out through it. This `execute`
    speaks the same `-stay_open` protocol, reads stdout and stderr together
    with `select` (a chatty stderr cannot fill its pipe and deadlock us), and
    gives up at the deadline, at EOF, or when the output passes `max_out`.
    """

    deadline_s: float = 30.0

    def execute(self, *params: str | bytes, raw_bytes: bool = False, max_out: int = MAX_READ_BYTES,
                what: str = "output") -> str | bytes:
        if not self.running:
            raise ExifToolError("ExifTool is not running")
        seq = secrets.randbelow(900_000) + 100_000
        ready = f"{{ready{seq}}}".encode()
        post = f"post{seq}".encode()
        args = [p if isinstance(p, bytes) else p.encode("utf-8") for p in params]
        args += [b"-echo4", b"=${status}=" + post, f"-execute{seq}".encode()]
        proc = self._process
        try:
            proc.stdin.write(b"\n".join(args) + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            raise ExifToolError(f"ExifTool's input is closed: {exc}") from exc
        stdout, stderr = self._collect(proc, ready, post, max_out, what)
        stdout = stdout.rstrip(b"\r\n")
        self._last_status = 0
        if stderr.endswith(b"="):
            head, _, status = stderr[:-1].rpartition(b"=")
            self._last_stderr = head.decode("utf-8", "replace")
            try:
                self._last_status = int(status)
            except ValueError:
                pass
        self._last_stdout = stdout if raw_bytes else stdout.decode("utf-8", "replace")
        return self._last_stdout

    def _collect(self, proc: Any, ready: bytes, post: bytes, max_out: int, what: str
                 ) -> tuple[bytes, bytes]:
        deadline = time.monotonic() + self.deadline_s
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        bufs = {out_fd: bytearray(), err_fd: bytearray()}
        ends = {out_fd: ready, err_fd: post}
        limits = {out_fd: max_out + len(ready) + 16, err_fd: MAX_STDERR_BYTES}
        found: dict[int, int] = {}
        while len(found) < 2:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ExifToolError(f"ExifTool timed out after {self.deadline_s:g} s")
            readable, _, _ = select.select([fd for fd in bufs if fd not in found], [], [], left)
            for fd in readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise ExifToolError("ExifTool exited unexpectedly")
                buf = bufs[fd]
                buf += chunk
                at = _ends_with(buf, len(chunk), ends[fd])
                if at >= 0:
                    found[fd] = at
                elif len(buf) > limits[fd]:
                    raise OutputTooLarge(what if fd == out_fd else "error output", limits[fd])
        return bytes(bufs[out_fd][: found[out_fd]]), bytes(bufs[err_fd][: found[err_fd]]).rstrip()


class ExifTool:
    """Synchronous, one persistent process; not thread-safe (callers serialise or pool)."""

    def __init__(self, binary: str = "exiftool", timeout: float = 30.0,
                 max_read_bytes: int = MAX_READ_BYTES) -> None:
        self.binary = binary
        self.timeout = timeout
        self.max_read_bytes = max_read_bytes
        self._tool: exiftool.ExifTool | None = None

    @property
    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    @property
    def pid(self) -> int | None:
        """The running process's id (None before the first call or after a kill)."""
        proc = getattr(self._tool, "_process", None)
        return proc.pid if proc is not None and self._tool is not None and self._tool.running else None

    def _ensure(self) -> exiftool.ExifTool:
        if self._tool is None or not self._tool.running:
            if not self.available:
                raise ExifToolError(f"ExifTool not found ({self.binary!r})")
            tool = _TimedExifTool(executable=self.binary,
                                  common_args=["-charset", "filename=utf8"])
            tool.deadline_s = self.timeout
            self._tool = tool
            try:
                tool.run()
            except Exception as exc:
                self._kill()
                raise ExifToolError(f"ExifTool did not start: {exc}") from exc
        return self._tool

    def _kill(self) -> None:
        tool = self._tool
        self._tool = None
        proc = getattr(tool, "_process", None)
        if proc is not None:
            try:
                proc.kill()
                proc.wait(timeout=5)  # reap it: no zombies
            except (OSError, subprocess.SubprocessError):
                pass
            tool._running = False  # type: ignore[union-attr]  # pyexiftool must not talk to it again

    def _execute(self, *params: str, raw: bool = False, max_out: int | None = None,
                 what: str = "metadata") -> str | bytes:
        try:
            tool = self._ensure()  # start-up is under the same deadline (it asks for the version)
            return tool.execute(*params, raw_bytes=raw,  # type: ignore[no-any-return]
                                max_out=max_out or self.max_read_bytes, what=what)
        except ExifToolError as exc:
            self._kill()  # a timed-out, overflowing or broken process is never reused
            if "timed out" in str(exc):
                raise ExifToolError(f"{exc}; killed, a new one starts on the next call") from exc
            raise
        except Exception as exc:
            self._kill()
            raise ExifToolError(f"ExifTool failed: {exc}") from exc

    def read(self, path: Path, mode: ReadMode = ReadMode.FAST2) -> dict[str, Any]:
        """The file's metadata (`shared.exif.tags`: numeric where code computes, MWG-reconciled)."""
        out = self._execute(*read_args(mode), _checked_path(path))
        try:
            data = json.loads(out) if out else []
        except ValueError as exc:
            raise ExifToolError(f"ExifTool gave unreadable output: {exc}") from exc
        if not data or not isinstance(data[0], dict):
            raise ExifToolError("ExifTool returned no metadata")
        result: dict[str, Any] = data[0]
        return result

    def extract_binary(self, path: Path, tag: str, max_bytes: int | None = None) -> bytes | None:
        """The embedded `tag`'s bytes; past `max_bytes` the read stops and `EmbeddedTooLarge` is raised."""
        if not _TAG_RE.match(tag):
            raise ValueError(f"invalid tag name {tag!r}")
        limit = max_bytes if max_bytes is not None else self.max_read_bytes
        try:
            out = self._execute("-b", f"-{tag}", _checked_path(path), raw=True, max_out=limit,
                                what=f"embedded {tag}")
        except OutputTooLarge as exc:
            raise EmbeddedTooLarge(tag, None, limit) from exc
        data = out.encode() if isinstance(out, str) else (out or b"")
        if not data:
            return None
        if len(data) > limit:
            raise EmbeddedTooLarge(tag, len(data), limit)
        return data

    def extract_all(self, path: Path, declared: list[tuple[str, int]]) -> dict[str, bytes] | None:
        """Several embedded images in one call, split by the lengths the metadata declares.

        ExifTool writes the `-b` values one after another in the order asked;
        when the total is not the sum of the declared lengths (a length that
        lied) this returns None and the caller extracts them one by one. The
        read stops at the declared total, so nothing past it is taken in.
        """
        for tag, _ in declared:
            if not _TAG_RE.match(tag):
                raise ValueError(f"invalid tag name {tag!r}")
        total = sum(length for _, length in declared)
        try:
            out = self._execute("-b", *(f"-{tag}" for tag, _ in declared), _checked_path(path), raw=True,
                                max_out=total, what="embedded images")
        except OutputTooLarge:
            return None
        data = out.encode() if isinstance(out, str) else (out or b"")
        if len(data) != total:
            return None
        found, at = {}, 0
        for tag, length in declared:
            found[tag] = data[at:at + length]
            at += length
        return found

    def close(self) -> None:
        tool = self._tool
        self._tool = None
        if tool is not None and tool.running:
            try:
                tool.terminate(timeout=5)
            except Exception:
                self._tool = tool
                self._kill()
