"""Examples for the culling operations: flag and rate a proxy, a kept Image's renditions
and deletion (merged into `operations.EXAMPLES`)."""

from __future__ import annotations

from typing import Any

from shared import keys
from shared.apidocs import Example, Operation, problem
from shared.imaging.renditions import PREVIEW, THUMBNAIL

JPEG: dict[str, Any] = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}


def culling_examples(proxy: dict[str, Any], unauthorized: list[Example], no_proxy: list[Example],
                     bad_uuid: list[Example], bad_image_id: list[Example]) -> dict[str, Operation]:
    no_image = problem(404, "Not found", "no image 4812")

    def rendition(name: str, size: str, missing: Example | None = None) -> Operation:
        kept = keys.kept_rendition_key("shoots/2025/06/Canon-EOS-R5/001-IMG_0001.CR3", name)
        return Operation(
            patch={"responses": {
                "200": {"description": f"The {size} JPEG made while the photo was a proxy", "content": JPEG},
                "307": {"description": "A presigned URL to it in S3",
                        "headers": {"Location": {"schema": {"type": "string"}, "example":
                                    f"http://minio:9000/prophoto-final/{kept}?X-Amz-Expires=900"}}}}},
            responses={200: [Example("JPEG bytes", "(binary JPEG)", "image/jpeg")], 401: unauthorized,
                       404: [no_image, missing or problem(404, f"No {name}", f"image 4812 was kept without "
                                                          f"a {name} (its preview had failed, or there is "
                                                          "no such rendition)")],
                       422: bad_image_id})

    no_such = problem(404, "No such rendition", "image 4812 has no rendition 'web' (not made yet, failed, "
                                                "or not in the list)")
    proxy_lacks = problem(404, "No such rendition", f"proxy {proxy['uuid']} has no rendition 'web' (not made "
                                                    "yet, failed, or not in the list)")

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
        "GET /v1/images/{image_id}/preview": rendition("preview", f"{PREVIEW.long_edge} px"),
        "GET /v1/images/{image_id}/thumbnail": rendition("thumbnail",
                                                         f"{THUMBNAIL.width}x{THUMBNAIL.height}"),
        "GET /v1/images/{image_id}/renditions/{name}": rendition("thumbnail", "named rendition's", no_such),
        "GET /v1/proxies/{uuid}/renditions/{name}": Operation(
            patch={"responses": {
                "200": {"description": "The rendition's JPEG", "content": JPEG},
                "307": {"description": "A presigned URL to it in S3",
                        "headers": {"Location": {"schema": {"type": "string"}, "example":
                                    "http://minio:9000/prophoto-temp/"
                                    f"{keys.thumb_key(proxy['uuid'])}?X-Amz-Expires=900"}}}}},
            responses={200: [Example("JPEG bytes", "(binary JPEG)", "image/jpeg")], 401: unauthorized,
                       404: [*no_proxy, proxy_lacks], 422: bad_uuid}),
        "DELETE /v1/images/{image_id}": Operation(responses={
            204: [Example("Deleted (or already gone)", None)], 401: unauthorized, 422: bad_image_id}),
    }
