"""Hostile request bodies: every byte counts toward the upload limit, whatever part it is in."""

from __future__ import annotations

import pytest

from shared.storage import open_store
from tests.conftest import make_settings
from tests.fixtures.upload import serve
from tests.integration.test_upload_api import jpeg_bytes, wait_for_jobs

pytestmark = pytest.mark.integration

LIMIT = 50_000
BOUNDARY = "hostileboundary"


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"


def body(preamble: bytes = b"", extra: list[bytes] | None = None, epilogue: bytes = b"") -> bytes:
    parts = part("file", jpeg_bytes(64, 48), "small.jpg") + b"".join(extra or [])
    return preamble + b"\r\n" + parts + f"--{BOUNDARY}--\r\n".encode() + epilogue


def chunked(data: bytes, size: int = 16384):
    async def gen():
        for i in range(0, len(data), size):
            yield data[i:i + size]
    return gen()


#: body -> the answer; 413 when only counting every byte of the body stops it
CASES = {
    "a 1 MB preamble": (body(preamble=b"p" * 1_000_000), 400),  # the parser wants the boundary first
    "a 1 MB epilogue": (body(epilogue=b"e" * 1_000_000), 413),
    "4000 empty parts with 250-byte headers": (body(extra=[part("n" * 200, b"") for _ in range(4000)]), 413),
    "one extra part of 1 MB": (body(extra=[part("note", b"x" * 1_000_000)]), 400),
    "a hundred extra parts of 1 KB": (body(extra=[part(f"n{i}", b"x" * 1000) for i in range(100)]), 400),
    "an extra part with a 20 KB header": (body(extra=[part("h" * 20_000, b"x")]), 400),
    "a second file part of 1 MB": (body(extra=[part("file", b"y" * 1_000_000, "b.jpg")]), 400),
}


async def test_chunked_bodies_with_hostile_framing_are_refused_and_leave_nothing(tmp_path, topology, migrated):
    settings = make_settings(tmp_path, max_upload_bytes=LIMIT, exchange=topology.settings.exchange,
                             queue_preview=topology.settings.queue_preview)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    answers = {}
    async for server in serve(settings):
        async with server.client() as c:
            for name, (data, _) in CASES.items():
                r = await c.post("/v1/uploads", content=chunked(data), headers=headers)
                answers[name] = (r.status_code, r.headers["content-type"], r.json())
            fine = await c.post("/v1/uploads", content=chunked(body()), headers=headers)
            assert (await c.get("/healthz")).status_code == 200
        await wait_for_jobs(settings, 1)  # published before the test's exchange goes
    for name, (_, expected) in CASES.items():
        status, ctype, problem = answers[name]
        assert status == expected, (name, problem)
        assert ctype.startswith("application/problem+json") and problem["detail"], name
    assert fine.status_code == 201, fine.text  # a well-formed small body still goes through
    keys = await open_store(settings.temp_store, settings.stores.s3).list("ingest-temp")
    assert keys and all(fine.json()["uuid"] in k for k in keys)
