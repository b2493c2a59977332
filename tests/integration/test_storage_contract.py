"""One contract, two backends and the unit tests' fake: every test runs against the FileStore
on a temp directory, the S3Store on a real S3 endpoint (moto, or MinIO when
PROPHOTO_TEST_S3_ENDPOINT is set) and the in-memory `MemoryStore`, so the fake
cannot drift from the stores it stands in for."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared.storage import InvalidKey, ObjectNotFound, ObjectStore, open_store
from shared.storage.fs import FileStore
from shared.storage.memory import MemoryStore
from shared.storage.s3 import S3Store
from tests.fixtures.s3 import S3Server, s3_settings, unique_bucket

pytestmark = pytest.mark.integration

HOSTILE_KEYS = [
    "../x", "a/../../x", "/abs", "/etc/passwd", "a//b", "a/./b", "./a", "a/", "a\\b", "..\\x",
    "a\x00b", "a\nb", "a\rb", "tab\there", "esc\x1b[0m", "del\x7f", "c1\x85", "", ".", "..",
    "x" * 1025,
]
ODD_KEYS = [
    "photos/Ünïcödé ñame/日本 語 ✓.jpg",
    "with space/a b+c&d=e?.jpg",
    "%20literal/x%2Fy;z,#frag.jpg",
    "emoji/📷 🌄.heic",
    "dots/.../.hidden",
    "nfd/Cafe\u0301.jpg",
]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def write_random(path: Path, size: int) -> str:
    """A file of `size` random bytes; returns its sha256."""
    h = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            h.update(block)
            fh.write(block)
            left -= len(block)
    return h.hexdigest()


def make_s3_store(tmp_path: Path, server: S3Server, bucket: str | None = None,
                  prefix: str = "objects") -> ObjectStore:
    settings = s3_settings(tmp_path, server)
    return open_store(f"s3://{bucket or unique_bucket()}/{prefix}", settings.stores.s3)


@pytest.fixture(params=["file", "s3", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "file":
        s: ObjectStore = FileStore(tmp_path / "store")
    elif request.param == "memory":
        s = MemoryStore()
    else:
        s = make_s3_store(tmp_path, request.getfixturevalue("s3_server"))
    yield s
    await s.close()


@pytest.fixture
async def s3_store(tmp_path: Path, s3_server: S3Server) -> AsyncIterator[ObjectStore]:
    s = make_s3_store(tmp_path, s3_server)
    yield s
    await s.close()


@pytest.fixture
async def file_store(tmp_path: Path) -> AsyncIterator[ObjectStore]:
    s = FileStore(tmp_path / "other-store")
    yield s
    await s.close()


async def all_objects(store: ObjectStore) -> list[str]:
    """Everything the backend holds, including anything outside the store's prefix."""
    if isinstance(store, S3Store):
        assert await store.ping()  # makes the bucket, which holds no object yet
        client = store._client
        return await asyncio.to_thread(
            lambda: sorted(o.object_name for o in client.list_objects(store.bucket, recursive=True)))
    if isinstance(store, MemoryStore):
        return sorted(store.objects)
    assert isinstance(store, FileStore)
    parent = store.root.parent
    return sorted(p.relative_to(parent).as_posix() for p in parent.rglob("*")
                  if p.is_file() and ".staging" not in p.parts)


async def test_bytes_put_in_come_back_out_with_their_size(store: ObjectStore) -> None:
    info = await store.put_bytes("a/b/c.jpg", b"\xff\xd8jpeg bytes", content_type="image/jpeg")
    assert (info.key, info.size) == ("a/b/c.jpg", 12)
    assert await store.get_bytes("a/b/c.jpg") == b"\xff\xd8jpeg bytes"
    assert await store.stat("a/b/c.jpg") == info
    assert await store.exists("a/b/c.jpg")


async def test_an_empty_object_is_an_object(store: ObjectStore, tmp_path: Path) -> None:
    await store.put_bytes("empty", b"")
    assert await store.get_bytes("empty") == b""
    assert [c async for c in store.iter_chunks("empty")] == []
    info = await store.stat("empty")
    assert info is not None and info.size == 0
    assert (await store.download("empty", tmp_path / "empty.out")).size == 0


async def test_put_file_copies_by_default_and_leaves_the_source(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"original")
    info = await store.put_file("k/copied.bin", src)
    assert info.size == 8
    assert src.read_bytes() == b"original"
    assert await store.get_bytes("k/copied.bin") == b"original"


async def test_put_file_with_move_hands_the_file_over_and_the_object_is_intact(
        store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "moved.bin"
    digest = write_random(src, 300_000)
    info = await store.put_file("k/moved.bin", src, move=True)
    assert info.size == 300_000
    assert not src.exists()
    out = tmp_path / "moved.out"
    await store.download("k/moved.bin", out)
    assert sha256_file(out) == digest


async def test_a_file_store_staging_file_moves_in_by_rename(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    staged = store.staging_file()
    staged.write_bytes(b"uploaded")
    inode = staged.stat().st_ino
    await store.put_file("final/x.jpg", staged, move=True)
    assert not staged.exists()
    assert (tmp_path / "store" / "final" / "x.jpg").stat().st_ino == inode
    assert await store.list() == ["final/x.jpg"]


async def test_a_large_file_streams_in_bounded_chunks_and_downloads_with_the_same_digest(
        store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "large.bin"
    size = 20 * 1024 * 1024 + 12345  # not a multiple of any chunk or part size
    digest = write_random(src, size)
    assert (await store.put_file("big/large.bin", src)).size == size

    h, seen, largest = hashlib.sha256(), 0, 0
    async for chunk in store.iter_chunks("big/large.bin", chunk_size=256 * 1024):
        h.update(chunk)
        seen += len(chunk)
        largest = max(largest, len(chunk))
    assert (h.hexdigest(), seen) == (digest, size)
    assert largest <= 256 * 1024

    out = tmp_path / "nested" / "large.out"
    out.parent.mkdir()
    assert (await store.download("big/large.bin", out)).size == size
    assert sha256_file(out) == digest
    assert [p.name for p in out.parent.iterdir()] == ["large.out"]  # no temp files left behind


async def test_a_missing_object_is_reported_as_missing_everywhere(store: ObjectStore, tmp_path: Path) -> None:
    assert await store.stat("no/such.jpg") is None
    assert not await store.exists("no/such.jpg")
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("no/such.jpg")
    with pytest.raises(ObjectNotFound):
        await store.download("no/such.jpg", tmp_path / "never.out")
    assert not (tmp_path / "never.out").exists()
    chunks = store.iter_chunks("no/such.jpg")
    with pytest.raises(ObjectNotFound):
        await chunks.__anext__()


async def test_a_key_that_only_prefixes_other_keys_is_missing(store: ObjectStore, tmp_path: Path) -> None:
    await store.put_bytes("dir/child.jpg", b"child")
    assert await store.stat("dir") is None
    assert not await store.exists("dir")
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("dir")
    with pytest.raises(ObjectNotFound):
        await store.iter_chunks("dir").__anext__()
    with pytest.raises(ObjectNotFound):
        await store.download("dir", tmp_path / "dir.out")
    assert await store.stat("dir/child.jpg/grandchild") is None
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("dir/child.jpg/grandchild")
    await store.delete("dir")  # deleting a "directory" key is deleting nothing
    assert await store.get_bytes("dir/child.jpg") == b"child"


async def test_delete_removes_the_object_and_deleting_again_is_fine(store: ObjectStore) -> None:
    await store.put_bytes("gone/soon.jpg", b"x")
    await store.delete("gone/soon.jpg")
    assert await store.stat("gone/soon.jpg") is None
    await store.delete("gone/soon.jpg")
    await store.delete("never/was.jpg")
    assert await store.list() == []


async def test_list_returns_keys_relative_to_the_store_filtered_by_a_string_prefix(store: ObjectStore) -> None:
    for key in ["a/1.jpg", "a/2.jpg", "ab/1.jpg", "b/1.jpg", "a/deep/er/3.jpg"]:
        await store.put_bytes(key, key.encode())
    assert await store.list() == ["a/1.jpg", "a/2.jpg", "a/deep/er/3.jpg", "ab/1.jpg", "b/1.jpg"]
    assert await store.list("a/") == ["a/1.jpg", "a/2.jpg", "a/deep/er/3.jpg"]
    assert await store.list("a") == ["a/1.jpg", "a/2.jpg", "a/deep/er/3.jpg", "ab/1.jpg"]
    assert await store.list("a/deep/er/3.jpg") == ["a/deep/er/3.jpg"]
    assert await store.list("zzz") == []


async def test_keys_that_look_like_the_file_stores_own_names_are_ordinary_keys(store: ObjectStore) -> None:
    keys = ["a/.tmp-1234", ".tmp-top", "photos/.staging/x.jpg", ".stagingx/y"]
    for key in keys:
        await store.put_bytes(key, b"mine")
    assert await store.list() == sorted(keys)
    for key in keys:
        assert await store.get_bytes(key) == b"mine"


@pytest.mark.parametrize("key", ODD_KEYS)
async def test_keys_with_non_ascii_spaces_and_url_characters_round_trip(
        store: ObjectStore, key: str, tmp_path: Path) -> None:
    data = f"content of {key}".encode()
    await store.put_bytes(key, data)
    assert await store.get_bytes(key) == data
    assert await store.stat(key) is not None
    assert await store.list() == [key]
    assert b"".join([c async for c in store.iter_chunks(key)]) == data
    url = await store.presigned_get(key)
    if url is not None:
        async with httpx.AsyncClient() as http:
            resp = await http.get(url)
        assert (resp.status_code, resp.content) == (200, data)
    await store.delete(key)
    assert await store.list() == []


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
async def test_hostile_keys_are_refused_by_every_operation_and_write_nothing(
        store: ObjectStore, key: str, tmp_path: Path) -> None:
    src = tmp_path / "payload.bin"
    src.write_bytes(b"payload")
    before = await all_objects(store)
    attempts = [
        lambda: store.put_bytes(key, b"payload"),
        lambda: store.put_file(key, src),
        lambda: store.put_file(key, src, move=True),
        lambda: store.get_bytes(key),
        lambda: store.download(key, tmp_path / "out.bin"),
        lambda: store.stat(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.presigned_get(key),
        lambda: store.iter_chunks(key).__anext__(),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidKey):
            await attempt()
    assert src.read_bytes() == b"payload"  # even a refused move leaves the file alone
    assert not (tmp_path / "out.bin").exists()
    assert await all_objects(store) == before
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()


async def test_a_file_store_refuses_keys_under_its_staging_directory(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    with pytest.raises(InvalidKey):
        await store.put_bytes(".staging/evil", b"x")


async def test_overwriting_replaces_content_and_readers_never_see_a_mix(
        store: ObjectStore, tmp_path: Path) -> None:
    size = 3 * 1024 * 1024
    old, new = b"o" * size, b"n" * size
    src = tmp_path / "new.bin"
    src.write_bytes(new)
    await store.put_bytes("photo.jpg", old)

    async def read() -> bytes:
        return await store.get_bytes("photo.jpg")

    results = await asyncio.gather(read(), read(), store.put_file("photo.jpg", src), read(), read())
    for body in results[:2] + results[3:]:
        assert isinstance(body, bytes)
        assert body in (old, new)
    assert await store.get_bytes("photo.jpg") == new
    info = await store.stat("photo.jpg")
    assert info is not None and info.size == size
    await store.put_bytes("photo.jpg", b"short")
    assert await store.get_bytes("photo.jpg") == b"short"
    assert await store.list() == ["photo.jpg"]


async def test_presigned_get_is_a_fetchable_url_on_s3_and_absent_on_the_file_store(
        store: ObjectStore) -> None:
    await store.put_bytes("share/me.jpg", b"shared bytes")
    url = await store.presigned_get("share/me.jpg", expires_s=60)
    if not isinstance(store, S3Store):
        assert url is None
        return
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as http:
        ok = await http.get(url)
    assert (ok.status_code, ok.content) == (200, b"shared bytes")


async def test_copy_between_two_buckets_on_one_endpoint_happens_on_the_server(
        tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_s3_store(tmp_path, s3_server, prefix="temp")
    target = make_s3_store(tmp_path, s3_server, prefix="final")
    src = tmp_path / "src.bin"
    digest = write_random(src, 6 * 1024 * 1024)
    await source.put_file("ingest-temp/abc.jpg", src)

    async def no_streaming(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bytes went through the client")

    for name in ("download", "get_bytes", "iter_chunks"):
        monkeypatch.setattr(source, name, no_streaming)
    info = await target.copy_from(source, "ingest-temp/abc.jpg", "2026/11/abc.jpg")
    assert info.size == 6 * 1024 * 1024
    monkeypatch.undo()

    out = tmp_path / "copied.out"
    await target.download("2026/11/abc.jpg", out)
    assert sha256_file(out) == digest
    assert await source.exists("ingest-temp/abc.jpg")  # a copy, not a move
    with pytest.raises(ObjectNotFound):
        await target.copy_from(source, "ingest-temp/missing.jpg", "2026/11/missing.jpg")
    assert await target.list() == ["2026/11/abc.jpg"]
    with pytest.raises(InvalidKey):
        await target.copy_from(source, "../escape", "ok.jpg")
    with pytest.raises(InvalidKey):
        await target.copy_from(source, "ingest-temp/abc.jpg", "../escape")
    await source.close()
    await target.close()


async def test_copy_from_the_file_store_to_s3_and_back(
        s3_store: ObjectStore, file_store: ObjectStore, tmp_path: Path) -> None:
    await file_store.put_bytes("temp/a é.jpg", b"from disk")
    info = await s3_store.copy_from(file_store, "temp/a é.jpg", "final/a é.jpg")
    assert info.size == 9
    assert await s3_store.get_bytes("final/a é.jpg") == b"from disk"
    assert await file_store.get_bytes("temp/a é.jpg") == b"from disk"

    await s3_store.put_bytes("temp/b.jpg", b"from s3")
    info = await file_store.copy_from(s3_store, "temp/b.jpg", "final/b.jpg")
    assert info.size == 7
    assert await file_store.get_bytes("final/b.jpg") == b"from s3"
    assert await s3_store.exists("temp/b.jpg")

    with pytest.raises(ObjectNotFound):
        await s3_store.copy_from(file_store, "temp/missing.jpg", "x.jpg")
    with pytest.raises(ObjectNotFound):
        await file_store.copy_from(s3_store, "temp/missing.jpg", "x.jpg")
    assert await s3_store.stat("x.jpg") is None
    assert await file_store.stat("x.jpg") is None


async def test_stores_report_their_disk_and_answer_ping(store: ObjectStore) -> None:
    assert await store.ping()
    if isinstance(store, S3Store):
        assert store.disk == f"s3:{store.bucket}"
        assert store.url == f"s3://{store.bucket}/objects"
    else:
        assert store.disk == ("memory" if isinstance(store, MemoryStore) else "file")


async def test_two_stores_on_one_new_bucket_both_create_it_without_conflict(
        tmp_path: Path, s3_server: S3Server) -> None:
    bucket = unique_bucket()
    first = make_s3_store(tmp_path, s3_server, bucket=bucket, prefix="p1")
    second = make_s3_store(tmp_path, s3_server, bucket=bucket, prefix="p2")
    await asyncio.gather(first.put_bytes("k", b"1"), second.put_bytes("k", b"2"))
    assert (await first.get_bytes("k"), await second.get_bytes("k")) == (b"1", b"2")
    assert await first.list() == ["k"] and await second.list() == ["k"]
    await first.close()
    await second.close()
