"""`prophoto upload` of a big file through tus: an interrupted run is resumed by the next one."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from prophoto.cli import resume
from tests.integration.test_tus import padded_jpeg

pytestmark = pytest.mark.integration


class Interrupted(Exception):
    pass


async def test_a_second_run_sends_only_what_the_first_did_not(upload_server, pool, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(resume, "CHUNK", 1024 * 1024)
    data = padded_jpeg(5 * 1024 * 1024 + 123)
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    first: list[int] = []

    def stop_after_two_chunks(n: int) -> None:
        first.append(n)
        if sum(first) >= 2 * 1024 * 1024:
            raise Interrupted  # Ctrl-C after two chunks reached the server

    async with httpx.AsyncClient(base_url=upload_server.url, timeout=60,
                                 headers={"Authorization": "Bearer tok-alice"}) as http:
        with pytest.raises(Interrupted):
            await resume.upload_resumable(http, path, stop_after_two_chunks)
        assert resume.state_file().exists()
        second: list[int] = []
        answer = await resume.upload_resumable(http, path, second.append)
    assert second[0] == 2 * 1024 * 1024  # reported as already there, not sent again
    assert sum(second[1:]) == len(data) - 2 * 1024 * 1024
    assert answer.sha256 == hashlib.sha256(data).hexdigest() and answer.original_name == "big.jpg"
    user = upload_server.settings.tokens()["tok-alice"]
    assert await pool.fetchval("SELECT count(*) FROM proxy_images WHERE user_id = $1 AND sha256 = $2",
                               user, answer.sha256) == 1
    assert str(path.resolve()) not in resume.state_file().read_text()  # forgotten once done
