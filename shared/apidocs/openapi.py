"""The OpenAPI document as published: problem+json errors, and examples for every answer.

Examples live in one module per service, keyed by operation (`"GET /v1/proxies"`),
not in the route modules, so they survive routes moving between modules; they
are attached when the document is built. `tests/integration/test_openapi.py`
fails for an operation or status without an example, and for an example that
does not match its schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; some answers add fields (`limit`, `errors`, "
                   "`preview_status`...).",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "description": "422 only: where the request is wrong",
                   "items": {"type": "object", "properties": {
                       "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                       "msg": {"type": "string"}}}},
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@dataclass(frozen=True)
class Example:
    """One example; `media_type` only where the answer has several (or is not JSON)."""

    summary: str
    value: Any
    media_type: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Operation:
    """Examples of one operation: per status, for the request body, and per parameter.

    `patch` is OpenAPI merged into the operation for what the route cannot declare
    itself (a body it streams, an event stream); a `content` given there replaces
    the generated one.
    """

    responses: Mapping[int, Sequence[Example]]
    request: Sequence[Example] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    patch: Mapping[str, Any] = field(default_factory=dict)


ApiExamples = Mapping[str, Operation]


def problem(status: int, title: str, detail: str | None = None, summary: str | None = None,
            **extra: Any) -> Example:
    """An example problem+json answer, shaped as the services send it."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return Example(summary or title, body | extra, PROBLEM_JSON)


def _common() -> dict[int, list[Example]]:
    """Answers any operation may give that say nothing about the operation itself (the
    service's own failure, an outage), used where an operation documents one without its own."""
    return {
        500: [problem(500, "Internal error", "the server failed; this is a bug")],
        503: [problem(503, "Service temporarily unavailable",
                      "the database is unavailable; try again shortly", unavailable="database")],
    }


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer"}, "example": 5}}


def install_openapi(app: FastAPI, examples: ApiExamples, parameters: Mapping[str, Any],
                    schemas: Mapping[str, Any]) -> None:
    """Build `app`'s document once, then publish it with errors and examples attached.

    `parameters` gives an example per parameter name for every operation (`uuid`...);
    `schemas` adds components no route returns as a model (an SSE event's data)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = decorate(build(), examples, parameters, schemas)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def operations(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every operation of a document by key (`"POST /v1/uploads"`)."""
    return {f"{method.upper()} {path}": op for path, item in document.get("paths", {}).items()
            for method, op in item.items() if method in _METHODS}


_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def decorate(document: dict[str, Any], examples: ApiExamples, parameters: Mapping[str, Any],
             schemas: Mapping[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components.update(_plain(schemas))
    for key, op in operations(document).items():
        for status, answer in op.get("responses", {}).items():
            if int(status) >= 400:  # every error is problem+json, whatever the route declared
                answer["content"] = {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}}
            if status == "503":
                answer.setdefault("headers", {}).update(RETRY_AFTER)
        given = examples.get(key)
        if given is not None:
            _merge(op, given.patch)
            _attach(op, given)
        for status, items in _common().items():
            answer = op.get("responses", {}).get(str(status))
            if answer is not None and not given_for(given, status):
                _add_examples(answer["content"], items, PROBLEM_JSON)
        for param in op.get("parameters", []):
            value = (given.parameters if given else {}).get(param["name"], parameters.get(param["name"]))
            if value is not None:
                param["example"] = value
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, never sent
        if unused in components and f'"#/components/schemas/{unused}"' not in json.dumps(document):
            del components[unused]
    return document


def given_for(given: Operation | None, status: int) -> bool:
    return given is not None and bool(given.responses.get(status))


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if key != "content" and isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _attach(op: dict[str, Any], given: Operation) -> None:
    for status, items in given.responses.items():
        answer = op.get("responses", {}).get(str(status))
        if answer is None:
            continue  # the coverage test names examples for statuses the route does not declare
        _add_examples(answer.setdefault("content", {}), items, JSON if status < 400 else PROBLEM_JSON)
    if given.request and "requestBody" in op:
        _add_examples(op["requestBody"].setdefault("content", {}), given.request, JSON)


def _add_examples(content: dict[str, Any], items: Sequence[Example], default: str) -> None:
    for item in items:
        media = item.media_type or (next(iter(content)) if len(content) == 1 else default)
        entry: dict[str, Any] = {"summary": item.summary, "value": item.value}
        if item.description:
            entry["description"] = item.description
        content.setdefault(media, {}).setdefault("examples", {})[_slug(item.summary)] = entry


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "example"
