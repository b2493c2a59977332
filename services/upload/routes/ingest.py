"""POST /v1/ingest: confirm proxies; each accepted one becomes a permanent Image."""

from __future__ import annotations

import json
import math
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from services.upload.deps import Ctx
from services.upload.ingest import confirm
from shared import exif
from shared.http.auth import CurrentUser
from shared.http.problems import responses

router = APIRouter(prefix="/v1")

MAX_INGEST_UUIDS = 500
MAX_TAGS = 50
MAX_ASSOCIATION_BYTES = 16 * 1024


class IngestRequest(BaseModel):
    uuids: list[UUID] = Field(min_length=1, max_length=MAX_INGEST_UUIDS)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    association: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        out: list[str] = []
        for tag in tags:
            text = exif.clean_text(tag, 100)
            if text and text not in out:
                out.append(text)
        return out

    @field_validator("association")
    @classmethod
    def _small_association(cls, value: dict[str, Any]) -> dict[str, Any]:
        _storable(value)
        if len(json.dumps(value).encode()) > MAX_ASSOCIATION_BYTES:
            raise ValueError(f"association is larger than {MAX_ASSOCIATION_BYTES} bytes of JSON")
        return value


def _storable(value: Any) -> None:
    """Refuse what Python's JSON parser accepts but jsonb does not (it would be a 500):
    NaN/Infinity, NUL characters, and lone surrogates from `\\udXXX` escapes."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("association may not contain NaN or Infinity")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("association may not contain NUL characters")
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise ValueError("association may not contain unpaired surrogates")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    elif isinstance(value, list):
        for item in value:
            _storable(item)


class IngestResult(BaseModel):
    uuid: UUID
    status: Literal["queued", "refused"]
    reason: str | None = None


class IngestAnswer(BaseModel):
    queued: int
    refused: int
    results: list[IngestResult]


@router.post("/ingest", status_code=202, response_model=IngestAnswer, responses=responses(401, 422),
             summary="Confirm proxies: each accepted one becomes a permanent Image")
async def ingest(body: IngestRequest, ctx: Ctx, user: CurrentUser) -> IngestAnswer:
    confirmed = await confirm(ctx, user, body.uuids, body.tags, body.association)
    results = [IngestResult(uuid=c.uuid, status="queued") if c.queued
               else IngestResult(uuid=c.uuid, status="refused", reason=c.reason) for c in confirmed]
    queued = sum(c.queued for c in confirmed)
    return IngestAnswer(queued=queued, refused=len(confirmed) - queued, results=results)
