"""Examples for the culling operations: flag and rate a proxy, a kept Image's preview,
thumbnail and deletion (merged into `operations.EXAMPLES`)."""

from __future__ import annotations

from typing import Any

from shared.apidocs import Example, Operation, problem

JPEG: dict[str, Any] = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}


def culling_examples(proxy: dict[str, Any], unauthorized: list[Example], no_proxy: list[Example],
                     bad_uuid: list[Example], bad_image_id: list[Example]) -> dict[str, Operation]:
    no_image = problem(404, "Not found", "no image 4812")

    def rendition(name: str, size: str) -> Operation:
        return Operation(
            patch={"responses": {
                "200": {"description": f"The {size} JPEG made while the photo was a proxy", "content": JPEG},
                "307": {"description": "A presigned URL to it in S3",
                        "headers": {"Location": {"schema": {"type": "string"}, "example":
                                    "http://minio:9000/prophoto-final/shoots/2025/06/Canon-EOS-R5/"
                                    f".renditions/001-IMG_0001.CR3.{name}.jpg?X-Amz-Expires=900"}}}}},
            responses={200: [Example("JPEG bytes", "(binary JPEG)", "image/jpeg")], 401: unauthorized,
                       404: [no_image, problem(404, f"No {name}", f"image 4812 was kept without a {name} "
                                               "(its preview had failed)")],
                       422: bad_image_id})

    return {
        "PATCH /v1/proxies/{uuid}": Operation(
            request=[Example("Pick it and give it four stars", {"flag": "pick", "rating": 4}),
                     Example("Reject it", {"flag": "reject"}),
                     Example("Unflag it (the rating stays)", {"flag": None})],
            responses={
                200: [Example("Picked, four stars", proxy | {"flag": "pick", "rating": 4})],
                400: [problem(400, "Nothing to change", "name `flag`, `rating` or both")],
                401: unauthorized, 404: no_proxy,
                409: [problem(409, "Ingest in progress", "the proxy is being ingested (queued): its cull "
                              "is fixed")],
                422: [*bad_uuid, problem(422, "Invalid request", "the request does not match the API",
                                         summary="Six stars", errors=[{
                                             "loc": ["body", "rating"],
                                             "msg": "Input should be less than or equal to 5"}])],
            }),
        "GET /v1/images/{image_id}/preview": rendition("preview", "2048 px"),
        "GET /v1/images/{image_id}/thumbnail": rendition("thumbnail", "400x400"),
        "DELETE /v1/images/{image_id}": Operation(responses={
            204: [Example("Deleted (or already gone)", None)], 401: unauthorized, 422: bad_image_id}),
    }
