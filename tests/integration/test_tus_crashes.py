"""The S3 tus commit, crashed between each of its steps: the upload always resumes from what was
recorded, the file that comes out is the one sent, and after the sweep no object is left over."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from services.upload.resumable import finish as finish_module
from services.upload.resumable.receive import Body
from shared import keys
from shared.db import tus as tus_db
from shared.storage.s3 import S3Store
from shared.storage.s3_partial import S3Partials, _S3Append
from tests.fixtures.upload import serve
from tests.integration.test_tus import padded_jpeg

pytestmark = pytest.mark.integration

STEP = 2 * 1024 * 1024 + 7  # never part-aligned: every append but the last leaves a tail
SIZE = 6 * 1024 * 1024 + 12345
#: the third append: it has an old tail to read, fills a 5 MiB part and leaves a new tail
MIDDLE = 2
LAST = -(-SIZE // STEP) - 1  # the index of the append that brings the last bytes


class Crash(BaseException):
    """The process dies here (nothing below this point runs)."""


class Trap:
    """Raises Crash at the first call of one step once armed."""

    def __init__(self) -> None:
        self.armed = False
        self.sprung = False

    def wrap(self, original: Callable[..., Any], when: Callable[..., bool] = lambda *a, **k: True
             ) -> Callable[..., Any]:
        async def step(*args: Any, **kwargs: Any) -> Any:
            if self.armed and when(*args, **kwargs):
                self.armed, self.sprung = False, True
                raise Crash
            return await original(*args, **kwargs)
        return step


#: step -> (where it is, its name there, which call, the append that crashes)
STEPS: dict[str, tuple[Any, str, Callable[..., bool], int]] = {
    "a part upload": (_S3Append, "_upload_part", lambda *a, **k: True, MIDDLE),
    "the new tail's write": (S3Store, "put_bytes", lambda store, key, *a, **k: ".tail-" in key, MIDDLE),
    "recording the offset": (tus_db, "record_append", lambda *a, **k: True, MIDDLE),
    "removing the old tail": (_S3Append, "committed", lambda *a, **k: True, MIDDLE),
    "the last part": (_S3Append, "_upload_part", lambda *a, **k: True, LAST),
    "recording the last offset": (tus_db, "record_append", lambda *a, **k: True, LAST),
    "after completing the multipart upload": (S3Store, "download", lambda *a, **k: True, LAST),
    "acceptance": (finish_module, "accept", lambda *a, **k: True, LAST),
    "removing the completed object": (S3Store, "delete",
                                      lambda store, key, *a, **k: key.startswith("ingest-temp/tus/")
                                      and ".tail-" not in key, LAST),
    "recording the outcome": (tus_db, "record_outcome", lambda *a, **k: True, LAST),
}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 256 * 1024):
        yield data[i:i + 256 * 1024]


@pytest.mark.parametrize("step", list(STEPS))
async def test_a_crash_at_any_step_of_the_s3_commit_leaves_a_resumable_upload_and_no_orphan(
        step: str, s3_settings_factory: Any, topology: Any, migrated: str, pool: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    where, name, when, crash_at = STEPS[step]
    trap = Trap()
    monkeypatch.setattr(where, name, trap.wrap(getattr(where, name), when))
    settings = s3_settings_factory(exchange=topology.settings.exchange,
                                   queue_preview=topology.settings.queue_preview)
    data = padded_jpeg(SIZE)
    user = f"alice-{settings.exchange}"
    async for server in serve(settings):
        resumable = server.app.state.ctx.extras["tus"]  # type: ignore[attr-defined]
        assert isinstance(resumable.partials, S3Partials)
        row = await resumable.create(user, len(data), {"filename": "crash.jpg"})
        upload_id = row["id"]
        appends, outcome = 0, None
        while outcome is None or outcome.proxy is None:
            offset = (await resumable.current(user, upload_id))["offset"]  # where a client resumes
            trap.armed = appends == crash_at and not trap.sprung
            try:
                outcome = await resumable.append(user, upload_id, offset,
                                                 Body(_chunks(data[offset:offset + STEP])), None)
            except Crash:
                pass  # the process died; a new one answers the client's HEAD and next PATCH
            appends += 1
            assert appends < 12, "the upload never completed"
        assert trap.sprung, f"the crash at {step} never happened"
        assert outcome.proxy["sha256"] == hashlib.sha256(data).hexdigest()
        store = server.app.state.ctx.temp_store  # type: ignore[attr-defined]
        stored = await store.get_bytes(outcome.proxy["temp_key"])
        assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
        for _ in range(2):  # an orphan goes at its second sighting
            await resumable.sweep_orphans()
        assert await store.list(keys.partial_key("")) == []
        recorded = await pool.fetchrow("SELECT state, storage FROM tus_uploads WHERE id = $1", upload_id)
        assert recorded["state"] == "accepted"
