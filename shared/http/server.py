"""How both HTTP services listen: uvicorn with httptools, plus the connection limits it lacks.

Limits are applied before any work, cheapest first (docs/operations.md, "Limits"):

1. the connection, here: the request head (line and headers) may be at most
   `max_header_bytes` and `max_headers` fields, and must arrive within
   `header_timeout_s` of its first byte (431 / 408 otherwise, then the
   connection closes); a connection with no request in progress closes after
   `idle_timeout_s` (uvicorn's keep-alive timer, also armed before the first
   request); a body must keep arriving at `body_min_bytes` per `body_window_s`
   or the connection closes (408 if nothing was answered yet);
2. who is calling, then the body's size per route (`shared.http.gate`);
3. parsing (FastAPI), then the work.

uvicorn's own knobs are used where they exist (`timeout_keep_alive`,
`limit_concurrency`); its header limit (`h11_max_incomplete_event_size`) binds
only its pure-Python h11 parser, and httptools, which the services use for
speed, has none, nor does either parser bound the time a head or a body may
take. `GuardedProtocol` adds those to uvicorn's httptools protocol by counting
bytes before they reach the parser, so a 100 MiB header costs the event loop
one buffer of work, not 100 MiB of string concatenation.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.resource_settings import ConnectionLimits

PROBLEM_JSON = b"application/problem+json"


#: how long, and for how many bytes, a refused body is still read (and dropped) before closing
LINGER_S = 2.0
LINGER_BYTES = 8 * 1024 * 1024


class _Lingering:
    """The connection's transport, with a close that first lets the client read our answer.

    Closing a socket with unread bytes in it sends a reset, and the client's
    kernel may drop our answer (a 401, 413) before the client reads it. So a
    close while a request body is still arriving sends FIN, then reads and
    drops at most `LINGER_BYTES` for at most `LINGER_S`, then closes for real.
    """

    def __init__(self, transport: asyncio.Transport, protocol: GuardedProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.lingering = False
        self.dropped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        if self._protocol.body_pending() and self._transport.can_write_eof():
            self.lingering = True
            self._transport.write_eof()
            self._transport.resume_reading()
            self._protocol.loop.call_later(LINGER_S, self._transport.close)
            return
        self._transport.close()

    def drop(self, data: bytes) -> None:
        self.dropped += len(data)
        if self.dropped > LINGER_BYTES:
            self._transport.close()


class _Refusal(Exception):
    """Raised inside a parser callback: the head broke a limit (answered by `send_400_response`)."""


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head size, field count, head and body deadlines."""

    LIMITS = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._fields = 0
        self._refusal: tuple[int, str, str] | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0
        self._paused_last_window = False

    # --- connection ---
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._lingering = _Lingering(transport, self)
        super().connection_made(self._lingering)  # type: ignore[arg-type]
        # uvicorn arms its idle timer only after a response: a client that connects and
        # says nothing would otherwise hold the connection forever
        self.timeout_keep_alive_task = self.loop.call_later(self.LIMITS.idle_timeout_s,
                                                            self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def body_pending(self) -> bool:
        """A request's body is still arriving (its head was read, its end not yet)."""
        return not self._in_head

    def data_received(self, data: bytes) -> None:
        if self._lingering.lingering:
            self._lingering.drop(data)
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.LIMITS.max_header_bytes \
                and not self.transport.is_closing():
            self._refuse(431, "Request header fields too large",
                         f"the request line and headers may be at most {self.LIMITS.max_header_bytes} bytes")

    def send_400_response(self, msg: str) -> None:
        refusal, self._refusal = self._refusal, None
        status, title, detail = refusal or (400, "Invalid HTTP request", msg)
        self._refuse(status, title, detail)

    # --- parser callbacks ---
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._fields = 0
        self._head_timer = self.loop.call_later(self.LIMITS.header_timeout_s, self._head_too_slow)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > self.LIMITS.max_headers:
            self._refusal = (431, "Too many header fields",
                             f"a request may have at most {self.LIMITS.max_headers} header fields")
            raise _Refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel(self._head_timer)
        self._body_bytes = 0
        self._paused_last_window = False
        self._body_timer = self.loop.call_later(self.LIMITS.body_window_s, self._check_body)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel(self._body_timer)
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    # --- deadlines ---
    def _head_too_slow(self) -> None:
        if self._in_head and not self.transport.is_closing():
            self._refuse(408, "Request header timeout",
                         "the request line and headers must arrive within "
                         f"{self.LIMITS.header_timeout_s:g} s")

    def _check_body(self) -> None:
        if self.transport.is_closing():
            return
        # a paused read is the application's doing (it is not taking the body yet), not the client's
        paused = self.flow.read_paused
        if self._body_bytes < self.LIMITS.body_min_bytes and not paused and not self._paused_last_window:
            detail = (f"the body must arrive at {self.LIMITS.body_min_bytes} bytes per "
                      f"{self.LIMITS.body_window_s:g} s or faster")
            if self.cycle is not None and not self.cycle.response_started:
                self._refuse(408, "Request body too slow", detail)
            else:
                self.transport.close()
            return
        self._paused_last_window = paused
        self._body_bytes = 0
        self._body_timer = self.loop.call_later(self.LIMITS.body_window_s, self._check_body)

    def _refuse(self, status: int, title: str, detail: str) -> None:
        """Answer a problem+json `status` and close: nothing more is read from this client."""
        self._cancel_timers()
        body = json.dumps({"type": "about:blank", "title": title, "status": status,
                           "detail": detail}).encode()
        reason = {400: b"Bad Request", 408: b"Request Timeout",
                  431: b"Request Header Fields Too Large"}.get(status, b"Error")
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: " + PROBLEM_JSON + b"\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.response_complete = True  # the application's answer, if any, goes nowhere
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """A protocol class with `limits` (uvicorn builds one instance per connection)."""
    return type("Guarded", (GuardedProtocol,), {"LIMITS": limits})


def server_config(app: Any, host: str, port: int, limits: ConnectionLimits, **kwargs: Any) -> uvicorn.Config:
    """The uvicorn configuration both services (and the tests' servers) run with."""
    return uvicorn.Config(
        app, host=host, port=port, http=guarded_protocol(limits),
        timeout_keep_alive=limits.idle_timeout_s, limit_concurrency=limits.max_connections,
        log_level="warning", access_log=False,
        proxy_headers=False,  # shared.http decides whom to believe (PROPHOTO_TRUSTED_PROXIES)
        **kwargs)
