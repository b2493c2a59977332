"""A companion file (XMP sidecar, Live Photo movie) posted alone must be named: it joins its photo by name."""

from __future__ import annotations

import pytest

from tests.fixtures.upload import UploadServer


@pytest.mark.parametrize(("route", "example"), [("/v1/sidecars", "IMG_1234.xmp"),
                                                ("/v1/live-videos", "IMG_1234.MOV")])
@pytest.mark.parametrize("x_filename", [None, "IMG_1234", ""])
async def test_a_companion_without_a_name_with_an_extension_is_refused_with_a_problem(
    upload_server: UploadServer, route: str, example: str, x_filename: str | None
) -> None:
    headers = {} if x_filename is None else {"X-Filename": x_filename}
    async with upload_server.client() as http:
        answer = await http.post(route, content=b"anything", headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["title"] == "Missing X-Filename"
    assert problem["detail"].startswith("name the ") and f"X-Filename ({example})" in problem["detail"]
