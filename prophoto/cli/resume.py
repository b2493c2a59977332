"""`prophoto upload` for big files: tus, resumed where the server stopped.

Files of `RESUMABLE_BYTES` or more go through `/v1/tus/` in `CHUNK` pieces.
The upload's URL is remembered in a small JSON file in the user's cache folder,
keyed by the file's absolute path, size and modification time, so running the
same command again after a dropped connection (or Ctrl-C) sends only what the
server does not have yet. Inside one run a failed PATCH is retried from the
server's offset a few times before the file is reported as an error.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx

from prophoto import ApiError, ConnectionFailed
from prophoto.errors import error_for
from prophoto.models import Upload

RESUMABLE_BYTES = 32 * 1024 * 1024
CHUNK = 8 * 1024 * 1024
RETRIES = 5
TUS = {"Tus-Resumable": "1.0.0"}


def state_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prophoto" / "tus-uploads.json"


def _key(path: Path, server: str) -> str:
    st = path.stat()
    return f"{server}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _load() -> dict[str, str]:
    try:
        data = json.loads(state_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(key: str, url: str | None) -> None:
    known = _load()
    if url is None:
        known.pop(key, None)
    else:
        known[key] = url
    target = state_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(known))
    tmp.replace(target)


async def _call(http: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> httpx.Response:
    try:
        response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError as exc:
        raise ConnectionFailed(str(http.base_url), exc) from exc
    if response.status_code >= 400:
        raise error_for(response)
    return response


async def _offset(http: httpx.AsyncClient, url: str) -> int | None:
    """The server's offset, or None when it no longer knows the upload (expired, removed)."""
    try:
        response = await _call(http, "HEAD", url, headers=TUS)
    except ApiError as exc:
        if exc.status in (404, 410):
            return None
        raise
    return int(response.headers["Upload-Offset"])


async def upload_resumable(http: httpx.AsyncClient, path: Path, on_bytes: Callable[[int], None]) -> Upload:
    """Upload `path` through tus, resuming an earlier attempt; `on_bytes` sees new bytes only
    (the part the server already had is reported once, at the start)."""
    size = (await asyncio.to_thread(path.stat)).st_size
    key = await asyncio.to_thread(_key, path, str(http.base_url))
    url = _load().get(key)
    offset = await _offset(http, url) if url else None
    if url is None or offset is None:
        name = base64.b64encode(path.name.encode()).decode()
        created = await _call(http, "POST", "/v1/tus/", headers=TUS | {
            "Upload-Length": str(size), "Upload-Metadata": f"filename {name}"})
        url, offset = created.headers["Location"], 0
        _remember(key, url)
    on_bytes(offset)
    failures = 0
    with path.open("rb") as fh:
        while True:
            fh.seek(offset)
            chunk = await asyncio.to_thread(fh.read, CHUNK)
            try:
                response = await _call(http, "PATCH", url, content=chunk, headers=TUS | {
                    "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)})
            except (ConnectionFailed, ApiError) as exc:
                transient = isinstance(exc, ConnectionFailed) or exc.status >= 500 or exc.status in (409, 423)
                failures += 1
                if not transient or failures > RETRIES:
                    if not transient:
                        _remember(key, None)
                    raise
                await asyncio.sleep(min(2 ** failures, 30))
                known = await _offset(http, url)
                if known is None:
                    _remember(key, None)
                    raise
                if known > offset:
                    on_bytes(known - offset)
                offset = known
                continue
            failures = 0
            new_offset = int(response.headers["Upload-Offset"])
            on_bytes(new_offset - offset)
            offset = new_offset
            if response.status_code == 200:  # the last bytes: the accepted upload
                _remember(key, None)
                return Upload.model_validate(response.json())
