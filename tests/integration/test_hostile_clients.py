"""Hostile clients against the real upload service (a process), by raw sockets.

Each attack is measured, not assumed: the bounds are the ones docs/operations.md
promises, and a victim's time is compared with the same request made before the
attack (the machine may be loaded; the attack must not be what slows it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fixtures.hostile_client import (
    Service,
    baseline,
    healthz,
    pour,
    probing,
    read_status,
    request,
    upload_process,
)

pytestmark = pytest.mark.integration

BIG = 300 * 1000 * 1000


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, migrated: str) -> Iterator[Service]:
    settings = make_settings(Path(tmp_path_factory.mktemp("hostile")))
    with upload_process(settings, PROPHOTO_HTTP_HEADER_TIMEOUT_S="1", PROPHOTO_HTTP_IDLE_TIMEOUT_S="2",
                        PROPHOTO_HTTP_BODY_WINDOW_S="1", PROPHOTO_HTTP_BODY_MIN_BYTES="1024") as s:
        yield s


def _json_head(path: str, length: int | None, token: str | None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: t", "Content-Type: application/json"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _attack_json(service: Service, path: str, token: str | None, chunked: bool) -> tuple[int, float]:
    """Send the head of a 300 MB JSON body and keep pouring; the status and time to the answer."""
    with service.connect() as sock:
        started = time.perf_counter()
        sock.sendall(_json_head(path, None if chunked else BIG, token))
        body = b"%x\r\n" % (1 << 20) + b"[" * (1 << 20) + b"\r\n" if chunked else b"[" * (1 << 20)
        writer = threading.Thread(target=pour, args=(sock, BIG), kwargs={"block": body}, daemon=True)
        writer.start()
        status, answer = read_status(sock)
        took = time.perf_counter() - started
        assert answer.split(b"\r\n\r\n", 1)[1].startswith(b"{"), answer  # a problem body
        writer.join(15)
        return status, took


@pytest.mark.parametrize("path", ["/v1/ingest", "/v1/failed/replay",
                                  "/v1/proxies/00000000-0000-0000-0000-000000000000/enhance"])
@pytest.mark.parametrize(("token", "chunked", "expected"), [
    (None, False, 401), ("tok-alice", False, 413), ("wrong-token", False, 401), ("tok-alice", True, 413)])
def test_a_300_mb_json_body_is_answered_within_100_ms_without_growing_the_service(
        service: Service, path: str, token: str | None, chunked: bool, expected: int) -> None:
    quiet = baseline(lambda: request(service, _json_head(path, 2, token) + b"{}")[2], n=5)
    rss = service.rss_mb()
    status, took = _attack_json(service, path, token, chunked)
    assert status == expected
    assert took < 0.1 + quiet, f"answered after {took * 1000:.0f} ms (quiet request {quiet * 1000:.0f} ms)"
    assert service.rss_mb() - rss < 64
    assert healthz(service) < 1


def test_a_10_mib_header_is_431_within_a_second_while_healthz_stays_fast(service: Service) -> None:
    quiet = baseline(lambda: healthz(service))
    with probing(service) as timings, service.connect() as sock:
        started = time.perf_counter()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ")
        pour(sock, 10 * 1024 * 1024, chunk=64 * 1024)
        status, answer = read_status(sock)
        took = time.perf_counter() - started
        time.sleep(0.2)
    assert status == 431, answer
    assert took < 1
    assert timings and max(timings) < 0.05 + quiet, (max(timings), quiet)


def test_more_header_fields_than_allowed_is_431(service: Service) -> None:
    fields = "".join(f"X-F{i}: v\r\n" for i in range(150))
    status, answer, _ = request(service, f"GET /healthz HTTP/1.1\r\nHost: t\r\n{fields}\r\n".encode())
    assert status == 431
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["title"] == "Too many header fields"


def test_a_head_sent_a_byte_at_a_time_is_408_at_the_header_deadline(service: Service) -> None:
    with service.connect() as sock:
        started = time.perf_counter()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        deadline = started + 5
        answer = b""
        sock.settimeout(0.3)
        while time.perf_counter() < deadline and not answer:
            try:
                sock.sendall(b"X")
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
        took = time.perf_counter() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 0.9 < took < 3


def test_a_connection_that_says_nothing_is_closed_after_the_idle_deadline(service: Service) -> None:
    with service.connect() as sock:
        started = time.perf_counter()
        assert sock.recv(10) == b""  # closed by the server
        assert 1.5 < time.perf_counter() - started < 5


def test_a_body_slower_than_the_minimum_rate_is_408(service: Service) -> None:
    with service.connect() as sock:
        sock.sendall(b"POST /v1/uploads HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok-alice\r\n"
                     b"Content-Type: image/jpeg\r\nX-Filename: slow.jpg\r\nContent-Length: 100000\r\n\r\n")
        started = time.perf_counter()
        sock.settimeout(0.2)
        answer = b""
        while not answer and time.perf_counter() - started < 6:
            try:
                sock.sendall(b"\xff")
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.perf_counter() - started < 4


def test_a_malformed_request_line_is_a_problem_not_plain_text(service: Service) -> None:
    status, answer, _ = request(service, b"GET /healthz HTTP/1.1\r\nHost t\r\nBad\x00: x\r\n\r\n")
    assert status == 400
    assert b"application/problem+json" in answer
