"""Real tus clients against the upload service: tuspy over the whole corpus, and a
connection cut in the middle of a big file, a service restart and a resume."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from pathlib import Path

import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from shared.storage import open_store
from tests.fixtures.upload import free_port, serve
from tests.integration.test_tus import padded_jpeg

pytestmark = pytest.mark.integration


def tus_upload(url: str, token: str, path: Path, chunk: int = 2 * 1024 * 1024,
               upload_url: str | None = None) -> tuple[int, bytes]:
    """Upload `path` with tuspy (checksums on); returns the last PATCH's status and body."""
    client = tus_client.TusClient(url, headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(str(path), chunk_size=chunk, metadata={"filename": path.name},
                               retries=0, upload_checksum=True, url=upload_url)
    uploader.upload()
    return uploader.request.status_code, uploader.request.response_content


async def test_tuspy_uploads_every_corpus_file_with_the_same_outcome_as_the_direct_upload(
        upload_server, corpus: Path):
    files = sorted(p for p in corpus.rglob("*")  # noqa: ASYNC240
                   if p.is_file() and p.name != "MANIFEST.tsv" and not p.name.startswith("."))
    assert len(files) > 100
    token = "tok-alice"
    created = 0
    async with upload_server.client(token="tok-bob") as bob:
        for path in files:
            data = path.read_bytes()
            direct = await bob.post("/v1/uploads", content=data, headers={
                "Content-Type": "application/octet-stream", "X-Filename": "x"})
            try:
                status, body = await asyncio.to_thread(
                    tus_upload, f"{upload_server.url}/v1/tus/", token, path)
            except TusUploadFailed as exc:
                status, body = exc.status_code, exc.response_content
            assert status in (direct.status_code, 200 if direct.status_code == 201 else -1), path
            answer = json.loads(body)
            if direct.status_code in (200, 201):
                assert answer["sha256"] == hashlib.sha256(data).hexdigest(), path
                assert answer["format"] == direct.json()["format"], path
                assert answer["original_name"] == path.name
                created += 1
            else:
                assert answer["title"] == direct.json()["title"], path
    assert created > 100


class CuttingProxy:
    """A loopback TCP proxy that drops both sockets after `cut_after` client bytes."""

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.port = free_port()
        self.forwarded = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def client_to_server() -> None:
            while chunk := await reader.read(65536):
                room = self.cut_after - self.forwarded
                if room <= 0:
                    break
                chunk = chunk[:room]
                self.forwarded += len(chunk)
                up_writer.write(chunk)
                await up_writer.drain()
            for w in (writer, up_writer):  # the cut: both sides see the socket go
                w.transport.abort()

        async def server_to_client() -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await up_reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()

        await asyncio.gather(client_to_server(), server_to_client(), return_exceptions=True)


async def test_a_cut_connection_and_a_restart_resume_to_one_proxy_with_the_files_sha256(
        settings, topology, migrated, pool, tmp_path: Path):
    data = padded_jpeg(24 * 1024 * 1024)
    path = tmp_path / "big-shoot.jpg"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    user = settings.tokens()["tok-alice"]

    async for first in serve(settings):
        port = int(first.url.rsplit(":", 1)[1])
        async with CuttingProxy(port, cut_after=len(data) // 2) as proxy:
            client = tus_client.TusClient(f"http://127.0.0.1:{proxy.port}/v1/tus/",
                                          headers={"Authorization": "Bearer tok-alice"})
            uploader = client.uploader(str(path), chunk_size=len(data), retries=0,
                                       metadata={"filename": path.name})
            with pytest.raises((TusUploadFailed, TusCommunicationError)):
                await asyncio.to_thread(uploader.upload)
            upload_path = uploader.url.split(f":{proxy.port}", 1)[1]
    # the service is gone and back (a new process would see exactly this: the database and the store)
    async for second in serve(settings):
        async with second.client() as c:
            head = await c.head(upload_path, headers={"Tus-Resumable": "1.0.0"})
        kept = int(head.headers["Upload-Offset"])
        assert len(data) // 4 < kept <= len(data) // 2
        status, body = await asyncio.to_thread(
            tus_upload, f"{second.url}/v1/tus/", "tok-alice", path, len(data), second.url + upload_path)
    assert status == 200
    answer = json.loads(body)
    assert answer["sha256"] == sha
    assert await pool.fetchval(
        "SELECT count(*) FROM proxy_images WHERE user_id = $1 AND sha256 = $2", user, sha) == 1
    stored = await open_store(settings.temp_store, settings.stores.s3).get_bytes(f"ingest-temp/{answer['uuid']}.jpg")
    assert hashlib.sha256(stored).hexdigest() == sha
