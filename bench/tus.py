"""Resumable-upload benchmark: `python -m bench.tus [--quick]` (part of `make bench`).

The real upload service (child process, real PostgreSQL, RabbitMQ, ExifTool,
file store) on loopback, in one run:
- throughput of a 100 MB photo sent through tus in 5 MB PATCHes against the
  same size sent as one direct `POST /v1/uploads` (the same lean HTTP/1.1
  client, `bench.client.LeanClient`, on one keep-alive connection; alternating
  runs, medians); target: tus / direct >= 0.8;
- the server's RSS growth during the tus upload; target: < 30 MB;
- a tus upload sent as one PATCH through a proxy that drops the connection at
  50% of the bytes, then resumed from the server's offset; target: the resume
  sends at most 55% of the file again.
A missed target is listed in the result's `missed` (which fails `make bench`);
`python -m bench.tus` exits 1 on a miss, except in a `--quick` smoke run.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from bench.client import TOKEN, LeanClient, post_photo
from bench.common import command_line, photo, save, unique_copy, upload_stack
from bench.rss import PeakRss

TUS = {"Tus-Resumable": "1.0.0"}
PATCH = TUS | {"Content-Type": "application/offset+octet-stream"}
CHUNK = 5 * 1024 * 1024
TARGETS = {"throughput ratio min": 0.8, "rss growth mb max": 30.0, "resent fraction max": 0.55}


def body_of(size: int) -> bytes:
    """A real JPEG padded to `size`, unique per call (never a duplicate of an earlier upload)."""
    head = unique_copy(photo(4, name="tus-seed").read_bytes())
    return head + b"\0" * (size - len(head))


def _pieces(data: bytes, step: int = 1024 * 1024) -> Iterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(data), step):
        yield bytes(view[i:i + step])


async def direct(client: LeanClient, data: bytes) -> float:
    started = time.perf_counter()
    await post_photo(client, data, "direct.jpg")
    return time.perf_counter() - started


def create(client: httpx.Client, size: int) -> str:
    r = client.post("/v1/tus/", headers=TUS | {"Upload-Length": str(size)})
    if r.status_code != 201:
        raise RuntimeError(f"tus creation answered {r.status_code}: {r.text[:200]}")
    return r.headers["Location"]


async def tus(client: LeanClient, data: bytes) -> float:
    started = time.perf_counter()
    status, headers, answer = await client.request("POST", "/v1/tus/", b"", TUS | {"Upload-Length": str(len(data))})
    if status != 201:
        raise RuntimeError(f"tus creation answered {status}: {answer[:200]!r}")
    url = headers["location"]
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK):
        status, _, answer = await client.request("PATCH", url, view[offset:offset + CHUNK],
                                                 PATCH | {"Upload-Offset": str(offset)})
        if status not in (200, 204):
            raise RuntimeError(f"tus PATCH answered {status}: {answer[:200]!r}")
    return time.perf_counter() - started


def cutting_proxy(upstream: int, cut_after: int) -> int:
    """A loopback proxy for one connection that drops it after `cut_after` client bytes."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])

    def serve() -> None:
        client, _ = listener.accept()
        server = socket.create_connection(("127.0.0.1", upstream))
        sent = 0

        def back() -> None:
            try:
                while chunk := server.recv(65536):
                    client.sendall(chunk)
            except OSError:
                pass

        threading.Thread(target=back, daemon=True).start()
        try:
            while sent < cut_after and (chunk := client.recv(min(65536, cut_after - sent))):
                server.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        for s in (client, server, listener):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    threading.Thread(target=serve, daemon=True).start()
    return port


def resume_after_cut(url: str, port: int, data: bytes) -> dict[str, Any]:
    with httpx.Client(base_url=url, headers=TOKEN, timeout=300) as client:
        upload = create(client, len(data))
    proxy = cutting_proxy(port, cut_after=len(data) // 2)
    try:
        httpx.patch(f"http://127.0.0.1:{proxy}{upload}", content=_pieces(data), timeout=300,
                    headers=TOKEN | PATCH | {"Upload-Offset": "0"})
        raise RuntimeError("the cut connection answered")
    except httpx.TransportError:
        pass
    with httpx.Client(base_url=url, headers=TOKEN, timeout=300) as client:
        offset = int(client.head(upload, headers=TUS).headers["Upload-Offset"])
        r = client.patch(upload, content=bytes(memoryview(data)[offset:]),
                         headers=PATCH | {"Upload-Offset": str(offset)})
    if r.status_code != 200 or r.json()["size"] != len(data):
        raise RuntimeError(f"the resumed upload answered {r.status_code}: {r.text[:200]}")
    return {"kept_bytes": offset, "resent_bytes": len(data) - offset,
            "resent_fraction": (len(data) - offset) / len(data)}


def run(quick: bool = False) -> dict[str, Any]:
    size = (20 if quick else 100) * 2**20
    rounds = 1 if quick else 3
    with upload_stack("tus", PROPHOTO_MAX_UPLOAD_BYTES=str(400 * 2**20)) as up:
        direct_s: list[float] = []
        tus_s: list[float] = []
        growth: list[float] = []


        async def timed() -> None:
            # one keep-alive connection for both, with a client that costs little of its own
            # (httpx's CPU per request and per MB was charged to the 21 tus requests)
            client = LeanClient(up.url, TOKEN)
            try:
                await tus(client, body_of(8 * 2**20))  # warm-up: connections, ExifTool, imports
                for _ in range(rounds):
                    direct_s.append(await direct(client, body_of(size)))
                    data = body_of(size)
                    with PeakRss(up.upload.pid) as rss:
                        tus_s.append(await tus(client, data))
                    growth.append(rss.growth_mb)
            finally:
                await client.close()

        asyncio.run(timed())
        resume = resume_after_cut(up.url, int(up.env["PROPHOTO_UPLOAD_PORT"]), body_of(size))
    mb = size / 2**20
    result = {
        "bytes": size, "chunk_bytes": CHUNK, "rounds": rounds,
        "direct_mb_s": mb / statistics.median(direct_s), "tus_mb_s": mb / statistics.median(tus_s),
        "direct_s": direct_s, "tus_s": tus_s, "rss_growth_mb": max(growth), "resume": resume,
        "targets": TARGETS,
    }
    result["throughput_ratio"] = result["tus_mb_s"] / result["direct_mb_s"]
    result["missed"] = missed(result)
    report(result)
    print(f"saved {save('tus', result)}")
    return result


def missed(result: dict[str, Any]) -> list[str]:
    out = []
    if result["throughput_ratio"] < TARGETS["throughput ratio min"]:
        out.append(f"tus throughput {result['throughput_ratio']:.2f} x direct (target >= 0.8)")
    if result["rss_growth_mb"] >= TARGETS["rss growth mb max"]:
        out.append(f"server RSS grew {result['rss_growth_mb']:.1f} MB during tus (target < 30)")
    if result["resume"]["resent_fraction"] > TARGETS["resent fraction max"]:
        out.append(f"resume re-sent {result['resume']['resent_fraction']:.0%} (target <= 55%)")
    return out


def report(result: dict[str, Any]) -> None:
    mb = result["bytes"] / 2**20
    print(f"tus {mb:.0f} MB in {result['chunk_bytes'] // 2**20} MB PATCHes: {result['tus_mb_s']:.0f} MB/s; "
          f"direct POST {result['direct_mb_s']:.0f} MB/s; ratio {result['throughput_ratio']:.2f} (>= 0.8)")
    print(f"server RSS growth during tus: {result['rss_growth_mb']:.1f} MB (< 30)")
    r = result["resume"]
    print(f"cut at 50%: server kept {r['kept_bytes'] / 2**20:.1f} MB, resume sent "
          f"{r['resent_bytes'] / 2**20:.1f} MB = {r['resent_fraction']:.0%} of the file (<= 55%)")
    for line in result["missed"]:
        print(f"MISSED: {line}")


def main() -> None:
    args = command_line(__doc__, "20 MB, one round (smoke run)").parse_args()
    result = run(quick=args.quick)
    sys.exit(1 if result["missed"] and not args.quick else 0)  # a quick run is a smoke test


if __name__ == "__main__":
    main()
