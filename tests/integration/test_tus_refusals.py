"""A refused resumable upload answers its refusal again, also when it was recorded before the
refusal was stored as a domain error kind (migration 0006 translates the older rows)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

pytestmark = pytest.mark.integration

V = {"Tus-Resumable": "1.0.0"}
LEGACY = {
    415: {"status": 415, "title": "Unsupported media type", "detail": "a PDF is not a photo"},
    413: {"status": 413, "title": "Upload too large", "detail": "over the limit", "limit": 1000},
    410: {"status": 410, "title": "Upload lost", "detail": "the bytes are gone: x"},
    422: {"status": 422, "title": "Refused", "detail": "too many pixels"},
}


async def test_refusals_recorded_with_an_http_status_answer_the_same_after_the_migration(upload_server, pool):
    user = upload_server.settings.tokens()["tok-alice"]
    ids = {status: uuid.uuid4() for status in LEGACY}
    for status, problem in LEGACY.items():
        await pool.execute(
            """INSERT INTO tus_uploads (id, user_id, length, "offset", filename, hash_state, state,
                   problem, expires_at) VALUES ($1, $2, 10, 10, 'a.jpg', '\\x00', 'rejected', $3, $4)""",
            ids[status], user, problem, datetime.now(UTC) + timedelta(hours=1))
    sql = (resources.files("shared") / "migrations" / "0006_tus_problem_kind.sql").read_text()
    await pool.execute(sql)  # the translation of rows written before it; rows with a kind are left
    try:
        async with upload_server.client() as c:
            for status, problem in LEGACY.items():
                r = await c.get(f"/v1/tus/{ids[status]}/proxy")
                assert r.status_code == status, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json() == {"type": "about:blank"} | problem
                head = await c.head(f"/v1/tus/{ids[status]}", headers=V)
                assert head.status_code == 200 and head.headers["Upload-Offset"] == "10"
        stored = await pool.fetchval("SELECT problem FROM tus_uploads WHERE id = $1", ids[413])
        assert stored == {"kind": "TooLarge", "title": "Upload too large", "detail": "over the limit",
                          "limit": 1000}
    finally:
        await pool.execute("DELETE FROM tus_uploads WHERE id = ANY($1::uuid[])", list(ids.values()))
