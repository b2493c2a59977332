"""Examples for the lanes' operations: prioritize a photo, re-render runs (`operations.py` merges them)."""

from __future__ import annotations

from typing import Any

from shared.apidocs import Example, Operation, problem

UUID = "3f2b8c1e-9d4a-4f6e-b7c2-5a1d0e8f9b34"
OPERATORS_ONLY = [problem(403, "Operators only", "this view covers every user; it needs a token "
                          "from PROPHOTO_ADMIN_TOKENS")]
RUN: dict[str, Any] = {"id": 12, "user_id": None, "status": "queueing", "requested_by": "oscar",
                       "started_at": "2025-06-20T09:00:00Z", "finished_queueing_at": None,
                       "total": 48_210, "queued": 12_000, "rendered": 9_874}
DONE_RUN = RUN | {"id": 11, "user_id": "studio-7", "status": "queued",
                  "finished_queueing_at": "2025-06-19T14:03:12Z", "total": 2_000, "queued": 2_000,
                  "rendered": 2_000}
BAD_RUN_ID = [problem(422, "Invalid request", "the request does not match the API", summary="Not a number",
                      errors=[{"loc": ["path", "run_id"], "msg": "Input should be a valid integer, "
                               "unable to parse string as an integer"}])]


def lanes_examples(unauthorized: list[Example], no_proxy: list[Example], bad_uuid: list[Example]
                   ) -> dict[str, Operation]:
    return {
        "POST /v1/proxies/{uuid}/prioritize": Operation(responses={
            202: [Example("Moved to the front of the interactive lane",
                          {"uuid": UUID, "queued": True, "preview_status": "pending"})],
            200: [Example("Asked for already: nothing queued again",
                          {"uuid": UUID, "queued": False, "preview_status": "pending"}),
                  Example("Being rendered now", {"uuid": UUID, "queued": False,
                                                 "preview_status": "processing"}),
                  Example("Ready already", {"uuid": UUID, "queued": False, "preview_status": "ready"})],
            401: unauthorized, 404: no_proxy,
            422: [*bad_uuid, problem(422, "Too many photos asked for first",
                                     "200 of your photos are already asked for first (the limit is 200); "
                                     "ask again once some are ready", limit=200)],
        }),
        "POST /v1/rerender": Operation(
            request=[Example("Every user's previews", {}), Example("One user's", {"user_id": "studio-7"})],
            responses={
                202: [Example("Started", RUN | {"queued": 0, "rendered": 0})],
                401: unauthorized, 403: OPERATORS_ONLY,
                422: [problem(422, "Invalid request", "the request does not match the API",
                              summary="An empty user id", errors=[{"loc": ["body", "user_id"],
                              "msg": "String should have at least 1 character"}])],
            }),
        "GET /v1/rerender": Operation(responses={
            200: [Example("The latest runs", [RUN, DONE_RUN])],
            401: unauthorized, 403: OPERATORS_ONLY,
        }),
        "GET /v1/rerender/{run_id}": Operation(responses={
            200: [Example("Half way", RUN), Example("Every preview queued", DONE_RUN)],
            401: unauthorized, 403: OPERATORS_ONLY,
            404: [problem(404, "Not found", "no re-render run 99")], 422: BAD_RUN_ID,
        }),
    }
