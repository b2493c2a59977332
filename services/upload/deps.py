"""The upload service's long-lived resources and request dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.upload.problems import ProblemError
from shared.broker import AmqpPublisher
from shared.exif import AsyncExifTool
from shared.metrics import UploadMetrics
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.topology import Topology


@dataclass
class UploadContext:
    settings: Settings
    pool: asyncpg.Pool
    publisher: AmqpPublisher
    topology: Topology
    temp_store: ObjectStore
    final_store: ObjectStore
    exif: AsyncExifTool
    metrics: UploadMetrics
    relay: OutboxRelay
    tokens: dict[str, str]
    extras: dict[str, Any] = field(default_factory=dict)


def get_ctx(request: Request) -> UploadContext:
    ctx: UploadContext = request.app.state.ctx
    return ctx


_bearer = HTTPBearer(auto_error=False, description="PROPHOTO_API_TOKENS token")


def current_user(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if creds is None or creds.scheme.lower() != "bearer":
        raise ProblemError(401, "Missing bearer token", "send Authorization: Bearer <token>")
    user = get_ctx(request).tokens.get(creds.credentials)
    if user is None:
        raise ProblemError(401, "Invalid token", "the bearer token is not known")
    return user


Ctx = Annotated[UploadContext, Depends(get_ctx)]
CurrentUser = Annotated[str, Depends(current_user)]
