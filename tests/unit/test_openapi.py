"""The published OpenAPI documents: valid, an example for every operation and answer, and every
example true to its schema. Generic over the routes that exist, so a new route or status without
an example fails here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from services.tracing import api_examples as tracing_examples
from services.tracing.app import create_app as tracing_app
from services.upload import examples as upload_examples
from services.upload.app import create_app as upload_app
from shared.apidocs import operations
from shared.settings import Settings

SETTINGS = Settings(env="development")
APPS = {"upload": (upload_app, upload_examples.EXAMPLES), "tracing": (tracing_app, tracing_examples.EXAMPLES)}


@pytest.fixture(scope="module", params=sorted(APPS))
def service(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], dict[str, Any]]:
    make, examples = APPS[request.param]
    app: FastAPI = make(SETTINGS)
    return request.param, app.openapi(), examples


def media_examples(media: dict[str, Any]) -> list[Any]:
    found = [e["value"] for e in media.get("examples", {}).values()]
    return found + ([media["example"]] if "example" in media else [])


def answers(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for key, op in operations(document).items():
        for status, answer in op["responses"].items():
            yield key, status, answer


def test_the_document_is_valid_openapi_3_1(service: Any) -> None:
    name, document, _ = service
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert len(operations(document)) >= (14 if name == "upload" else 4)


def test_every_operation_has_an_example_for_every_status_it_documents(service: Any) -> None:
    _, document, _ = service
    missing = []
    for key, status, answer in answers(document):
        if not answer.get("content"):  # no body: its headers say what happened
            headers = answer.get("headers", {})
            if status != "204" and not any("example" in h for h in headers.values()):
                missing.append(f"{key} {status}: no body, and no header with an example")
            if status.startswith("3") and "example" not in headers.get("Location", {}):
                missing.append(f"{key} {status}: Location header example")
        for media_type, media in answer.get("content", {}).items():
            if not media_examples(media):
                missing.append(f"{key} {status} {media_type}")
    for key, op in operations(document).items():
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if not media_examples(media):
                missing.append(f"{key} request body {media_type}")
        for param in op.get("parameters", []):
            if param.get("required") and "example" not in param:
                missing.append(f"{key} parameter {param['name']}")
    assert not missing, "no example for:\n" + "\n".join(missing)


def test_every_error_is_problem_json_with_a_realistic_body(service: Any) -> None:
    _, document, _ = service
    for key, status, answer in answers(document):
        if int(status) < 400:
            continue
        assert list(answer["content"]) == ["application/problem+json"], (key, status)
        for body in media_examples(answer["content"]["application/problem+json"]):
            assert body["status"] == int(status) and body["title"] and body["detail"], (key, status, body)


def test_no_example_names_an_operation_or_status_that_does_not_exist(service: Any) -> None:
    _, document, examples = service
    ops = operations(document)
    for key, given in examples.items():
        assert key in ops, f"examples for {key}, which the service does not have"
        for status in given.responses:
            assert str(status) in ops[key]["responses"], f"{key} does not document {status}"


def test_every_example_matches_its_schema(service: Any) -> None:
    _, document, _ = service
    checked = 0

    def check(schema: dict[str, Any], value: Any, where: str) -> None:
        nonlocal checked
        errors = list(OAS31Validator({**schema, "components": document["components"]}).iter_errors(value))
        assert not errors, f"{where}: {errors[0].message}"
        checked += 1

    for key, status, answer in answers(document):
        for media_type, media in answer.get("content", {}).items():
            for value in media_examples(media):
                if media_type == "text/event-stream":
                    for line in value.splitlines():
                        if line.startswith("data:"):
                            check({"$ref": "#/components/schemas/StatusEvent"}, json.loads(line[5:]),
                                  f"{key} {status} event")
                else:
                    check(media.get("schema", {}), value, f"{key} {status} {media_type}")
    for key, op in operations(document).items():
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            for value in media_examples(media):
                check(media.get("schema", {}), value, f"{key} request {media_type}")
    assert checked >= 10


def test_an_outage_answer_gets_the_common_example_and_retry_after_unless_the_operation_has_its_own() -> None:
    from shared.apidocs import Operation, install_api_docs, problem

    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/a", responses={503: {"description": "outage"}, 500: {"description": "bug"}})
    async def a() -> dict[str, str]:
        return {}

    @app.get("/b", responses={503: {"description": "outage"}})
    async def b() -> dict[str, str]:
        return {}

    own = problem(503, "Broker unavailable", "the broker is down", unavailable="broker")
    install_api_docs(app, {"GET /b": Operation(responses={503: [own]})}, {})
    ops = operations(app.openapi())
    a503 = ops["GET /a"]["responses"]["503"]
    assert a503["headers"]["Retry-After"]["example"] == 5
    titles = [e["value"]["title"] for e in a503["content"]["application/problem+json"]["examples"].values()]
    assert titles == ["Service temporarily unavailable"]
    assert media_examples(ops["GET /a"]["responses"]["500"]["content"]["application/problem+json"])
    b503 = ops["GET /b"]["responses"]["503"]["content"]["application/problem+json"]
    assert [e["value"]["title"] for e in b503["examples"].values()] == ["Broker unavailable"]
