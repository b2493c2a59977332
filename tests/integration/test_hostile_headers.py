"""Property: no header of the tus or IETF-draft protocols, and no query parameter of any route,
makes either HTTP service answer 5xx. Hypothesis sends what a hostile or broken client would
(other scripts' digits, 5,000-digit numbers, NUL in metadata, years out of range) to the real
services, each a process."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.tracing.app import create_app as tracing_app
from services.upload.app import create_app as upload_app
from tests.conftest import make_settings
from tests.fixtures.hostile_client import Service, service_process

pytestmark = pytest.mark.integration

EXAMPLES = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
AUTH = {"Authorization": "Bearer tok-alice"}
OPERATOR = {"Authorization": "Bearer tok-oscar"}

#: what a header may carry on the wire (h11 refuses control characters before they leave)
_wire = st.binary(max_size=60).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F))
NUMBERS = st.one_of(
    st.integers(min_value=-10, max_value=10**30).map(lambda n: str(n).encode()),
    st.sampled_from(["²", "١٢", "𝟗", "1_000", " 7 ", "0x10", "1e3", "+5", "9" * 5000, "", "-0",
                     "?1", "?0", "12;a=1"]).map(lambda s: s.encode()),
    _wire)
METADATA = st.one_of(
    st.dictionaries(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8),
                    st.text(max_size=40), max_size=4).map(
        lambda d: ",".join(f"{k.replace(' ', '').replace(',', '')} "
                           f"{base64.b64encode(v.encode()).decode()}" for k, v in d.items()).encode()),
    st.sampled_from([b"filename " + base64.b64encode(b"a\x00b"), b"filename " + b"A" * 9000,
                     b"filename !!!", b"\xff\xfe", b",,,", b"k " + base64.b64encode(b"\xff")]),
    _wire)
HEADERS = st.fixed_dictionaries({}, optional={
    "Tus-Resumable": st.sampled_from([b"1.0.0", b"0.2", b""]),
    "Upload-Length": NUMBERS,
    "Upload-Offset": NUMBERS,
    "Upload-Defer-Length": NUMBERS,
    "Upload-Metadata": METADATA,
    "Upload-Checksum": st.one_of(st.sampled_from([b"sha256 " + base64.b64encode(b"x" * 32), b"md5 !",
                                                  b"crc32 AAAA", b"sha1"]), _wire),
    "Upload-Draft-Interop-Version": st.sampled_from([b"6", b"7", b"3", b"99", b"\xc2\xb2"]),
    "Upload-Complete": st.one_of(st.sampled_from([b"?1", b"?0", b"?2", b"1"]), _wire),
    "Content-Disposition": st.one_of(st.sampled_from([
        b'attachment; filename="a.jpg"', b"attachment; filename*=UTF-8''%00x.jpg",
        b"attachment; filename*=UTF-8''" + b"%41" * 3000]), _wire),
    "Content-Type": st.sampled_from([b"application/offset+octet-stream", b"application/partial-upload",
                                     b"image/jpeg", b"text/plain"]),
}).map(lambda headers: {k: v.strip(b" \t") for k, v in headers.items()})  # h11 sends no edge blanks


@dataclass
class Running:
    service: Service
    client: httpx.Client


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory, migrated: str) -> Iterator[dict[str, Running]]:
    config = make_settings(Path(tmp_path_factory.mktemp("headers")))
    roomy = {"PROPHOTO_TUS_MAX_INCOMPLETE": "1000000", "PROPHOTO_TUS_MAX_ROWS": "1000000",
             "PROPHOTO_QUOTA_UPLOADS_PER_MINUTE": "1000000"}  # every example creates an upload
    with service_process("upload", config, **roomy) as upload, service_process("tracing", config) as tracing:
        with httpx.Client(base_url=f"http://127.0.0.1:{upload.port}", timeout=20) as to_upload, \
                httpx.Client(base_url=f"http://127.0.0.1:{tracing.port}", timeout=20) as to_tracing:
            yield {"upload": Running(upload, to_upload), "tracing": Running(tracing, to_tracing)}


def _answer(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.request.method, r.request.url, r.request.headers, r.text[:300])
    if r.status_code >= 400 and r.request.method != "HEAD":
        assert r.headers["content-type"].startswith("application/problem+json"), r.text[:200]


@given(headers=HEADERS, body=st.binary(max_size=64), method=st.sampled_from(["POST", "PATCH", "HEAD",
                                                                           "DELETE", "OPTIONS"]))
@EXAMPLES
def test_no_tus_or_draft_header_answers_a_server_error(services: dict[str, Running],
                                                       headers: dict[str, bytes], body: bytes,
                                                       method: str) -> None:
    client = services["upload"].client
    created = client.post("/v1/tus/", headers=AUTH | {"Tus-Resumable": "1.0.0", "Upload-Length": "64"})
    assert created.status_code == 201
    target = "/v1/tus/" if method in ("POST", "OPTIONS") else created.headers["Location"]
    r = client.request(method, target, headers=AUTH | headers,
                       content=body if method in ("POST", "PATCH") else None)
    _answer(r)


def _query_routes(app: Any) -> list[tuple[str, list[str], list[str]]]:
    """(path, path parameters, query parameters) of every GET route in the app's OpenAPI."""
    routes = []
    for path, methods in app.openapi()["paths"].items():
        op = methods.get("get")
        if op is None:
            continue
        params = op.get("parameters", [])
        routes.append((path, [p["name"] for p in params if p["in"] == "path"],
                       [p["name"] for p in params if p["in"] == "query"]))
    return routes


_CONFIG = make_settings(Path("/tmp"))
ROUTES = ([("upload", *r) for r in _query_routes(upload_app(_CONFIG))]
          + [("tracing", *r) for r in _query_routes(tracing_app(_CONFIG))])
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-02-30", "²", "-1",
                     "9" * 5000, "nan", "inf", "true", "null", "\x00", "%00", "' OR 1=1 --",
                     "eyJ4IjoxfQ", "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzAxOjAwIiwgMV0"]),
    st.integers().map(str))


@given(route=st.sampled_from(ROUTES), data=st.data())
@EXAMPLES
def test_no_query_parameter_of_any_route_answers_a_server_error(services: dict[str, Running],
                                                                route: tuple[str, str, list[str], list[str]],
                                                                data: st.DataObject) -> None:
    name, path, path_params, query_params = route
    for param in path_params:
        path = path.replace("{" + param + "}", str(uuid.uuid4()) if "id" in param else "1")
    query = {q: data.draw(VALUES, label=q) for q in query_params
             if data.draw(st.booleans(), label=f"send {q}")}
    client = services[name].client
    _answer(client.get(path, params=query, headers=OPERATOR))
    _answer(client.get(path, params=query, headers=AUTH))
