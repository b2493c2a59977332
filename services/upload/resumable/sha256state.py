"""SHA-256 whose running state can be saved between requests and resumed.

`hashlib` cannot export its state, and a resumable upload is hashed across
many HTTP requests, possibly by different processes (a restart, a second
instance behind the balancer). OpenSSL's low-level `SHA256_Init/Update/Final`
work on a plain `SHA256_CTX` struct (112 bytes: eight state words, the bit
count, the unfinished block and its fill), so its bytes *are* the state: we
keep them in the database and load them into the next request's context. The
hashing itself is OpenSSL's (same speed as hashlib, GIL released).

The saved state is native-endian: all instances of one deployment must share
the byte order (every x86-64 and arm64 machine does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib

_SHA_LONG = ctypes.c_uint


class _Ctx(ctypes.Structure):
    _fields_ = [
        ("h", _SHA_LONG * 8),
        ("nl", _SHA_LONG),
        ("nh", _SHA_LONG),
        ("data", _SHA_LONG * 16),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    ]


STATE_BYTES = ctypes.sizeof(_Ctx)


def _load() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
    lib = ctypes.CDLL(name)
    for fn in ("SHA256_Init", "SHA256_Update", "SHA256_Final"):
        getattr(lib, fn).restype = ctypes.c_int
    lib.SHA256_Init.argtypes = [ctypes.POINTER(_Ctx)]
    lib.SHA256_Update.argtypes = [ctypes.POINTER(_Ctx), ctypes.c_void_p, ctypes.c_size_t]
    lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Ctx)]
    return lib


_lib = _load()


class ResumableSha256:
    """`update()` like hashlib; `state()` to save, `ResumableSha256(saved)` to go on."""

    def __init__(self, state: bytes | None = None) -> None:
        self._ctx = _Ctx()
        if state is None:
            if _lib.SHA256_Init(ctypes.byref(self._ctx)) != 1:
                raise RuntimeError("SHA256_Init failed")
        else:
            if len(state) != STATE_BYTES:
                raise ValueError(f"a saved SHA-256 state is {STATE_BYTES} bytes, not {len(state)}")
            ctypes.memmove(ctypes.byref(self._ctx), state, STATE_BYTES)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if isinstance(data, bytes):
            _lib.SHA256_Update(ctypes.byref(self._ctx), data, len(data))
            return
        view = memoryview(data)
        if not view.nbytes:
            return
        if view.readonly:  # ctypes needs a writable buffer to take an address from
            buf = ctypes.c_char_p(bytes(view))
            _lib.SHA256_Update(ctypes.byref(self._ctx), buf, view.nbytes)
        else:
            arr = (ctypes.c_char * view.nbytes).from_buffer(view)
            _lib.SHA256_Update(ctypes.byref(self._ctx), arr, view.nbytes)

    def state(self) -> bytes:
        return ctypes.string_at(ctypes.byref(self._ctx), STATE_BYTES)

    def copy(self) -> ResumableSha256:
        return ResumableSha256(self.state())

    def hexdigest(self) -> str:
        ctx = _Ctx.from_buffer_copy(self.state())  # Final consumes its context
        out = ctypes.create_string_buffer(32)
        _lib.SHA256_Final(out, ctypes.byref(ctx))
        return out.raw.hex()


def _self_check() -> None:
    h = ResumableSha256()
    h.update(b"a" * 100)
    resumed = ResumableSha256(h.state())
    resumed.update(memoryview(bytearray(b"b" * 37)))
    if resumed.hexdigest() != hashlib.sha256(b"a" * 100 + b"b" * 37).hexdigest():
        raise RuntimeError("libcrypto's SHA256_CTX layout is not the one this module expects")


_self_check()
