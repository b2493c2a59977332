"""Examples for every operation and answer of the upload API, keyed by operation.

Attached to the OpenAPI document by `shared.apidocs` (not in the route modules,
so routes can move between modules). Values are answers as the service sends
them; `tests/integration/test_openapi.py` checks each against its schema and
fails for an operation or status without one.
"""

from __future__ import annotations

from typing import Any

from services.upload import api_examples_lanes as lanes
from services.upload import api_examples_tus as tus
from services.upload.api_examples_culling import culling_examples
from shared.apidocs import Example, Operation, problem

UUID = "3f2b8c1e-9d4a-4f6e-b7c2-5a1d0e8f9b34"
OTHER = "c91e4d27-0b6f-4a83-9e15-7f2d3a6b8c40"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SUPPORTED = ("Supported: JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF, AVIF and camera RAW "
             "(CR2, CR3, CRW, NEF, NRW, ARW, SR2, SRF, DNG, RAF, ORF, RW2, PEF, SRW, X3F, 3FR, IIQ, "
             "ERF, MRW, KDC, DCR, MOS).")

#: an example per parameter name, for every operation that has it
PARAMETERS: dict[str, Any] = {
    "uuid": UUID, "image_id": 4812, "limit": 50, "status": "ready", "camera": "Canon EOS R5",
    "tag": "wedding", "day": "2025-06-14", "flag": "pick", "min_rating": 3, "keep_copy": False,
    "taken_from": "2025-06-01T00:00:00Z", "taken_to": "2025-07-01T00:00:00Z",
    "queue": "preview", "run_id": 12, "bulk": False, "x-filename": "IMG_0001.CR3", "x-content-sha256": SHA,
} | tus.PARAMETERS

SUMMARY = {"camera_make": "Canon", "camera_model": "Canon EOS R5", "lens": "RF24-70mm F2.8 L IS USM",
           "width": 8192, "height": 5464, "taken_at": "2025-06-14T16:32:07", "orientation": 1,
           "has_gps": True, "exposure_display": "1/250", "f_number": 2.8, "iso": 400, "focal_length_mm": 50.0}
UPLOAD: dict[str, Any] = {"uuid": UUID, "status": "pending", "duplicate": False,
                          "original_name": "IMG_0001.CR3",
          "size": 47_316_992, "sha256": SHA, "format": "cr3",
          "thumbnail": {"url": f"/v1/proxies/{UUID}/thumbnail",
                        "inline": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA4KCw0LCQ4N"},
          "metadata": SUMMARY}
PROXY = {"uuid": UUID, "original_name": "IMG_0001.CR3", "format": "cr3", "mime": "image/x-canon-cr3",
         "size": 47_316_992, "sha256": SHA, "preview_status": "ready", "preview_error": None,
         "preview_width": 2048, "preview_height": 1365, "preview_method": "embedded:JpgFromRaw",
         "preview_degraded": None, "enhancement_status": None, "ingest_status": None,
         "metadata_error": None, "problem": None, "flag": None, "rating": None,
         "preview_url": f"/v1/proxies/{UUID}/preview",
         "thumbnail_url": f"/v1/proxies/{UUID}/thumbnail", "metadata": SUMMARY,
         "uploaded_at": "2025-06-14T18:02:11.408Z"}
FAILED_PROXY = PROXY | {"uuid": OTHER, "original_name": "IMG_0002.jpg", "format": "jpeg",
                        "mime": "image/jpeg", "size": 6_204_118, "preview_status": "failed",
                        "preview_error": "VipsJpeg: Premature end of input file", "preview_width": None,
                        "preview_height": None, "preview_method": None, "preview_url": None,
                        "problem": {"message": "This file is damaged: the image data ends early or cannot "
                                    "be read.", "technical": "VipsJpeg: Premature end of input file",
                                    "retryable": False},
                        "thumbnail_url": f"/v1/proxies/{OTHER}/thumbnail"}
_IMAGE_META = {
    "camera_make": "Canon", "camera_model": "Canon EOS R5", "camera": "Canon EOS R5",
    "lens": "Canon RF 24-70mm F2.8L IS USM", "exposure_time": 0.004, "exposure_display": "1/250",
    "f_number": 2.8, "iso": 400, "focal_length_mm": 50.0, "color_space": "sRGB", "bit_depth": 14,
    "hdr_gain_map": None, "taken_at": "2025-06-14T16:32:07.450000+02:00",
    "taken_at_local": "2025-06-14T16:32:07.450000", "taken_at_offset": "+02:00", "taken_at_zone": None,
    "taken_at_zone_source": "offset",
    "gps": {"latitude": 48.8583701, "longitude": 2.2944813, "altitude": 35.2},
    "width": 8192, "height": 5464, "orientation": 1, "rating": 4, "label": "Green",
    "title": "First dance", "caption": "Anna and Paul, first dance", "creator": "Jo Doe",
    "copyright": "© 2025 Jo Doe", "credit": None,
    "location": {"city": "Paris", "country": "France", "country_code": "FR"},
    "keywords": ["wedding", "Paris"], "keyword_paths": ["Places|France|Paris"],
    "software": "Firmware Version 1.8.1", "file_type": "CR3", "image_unique_id": None,
    "content_identifier": None, "sources": {"rating": "sidecar", "title": "sidecar", "caption": "embedded"},
    "mime": "image/x-canon-cr3", "format": "cr3", "reader": "exiftool-full",
}
IMAGE = {"id": 4812, "proxy_uuid": UUID, "path": "shoots/2025/06/Canon-EOS-R5/001-IMG_0001.CR3",
         "original_name": "IMG_0001.CR3", "sha256": SHA, "size": 47_316_992,
         "taken_at": "2025-06-14T16:32:07.450000+02:00", "taken_at_local": "2025-06-14T16:32:07.450000",
         "taken_at_offset": "+02:00", "taken_at_zone": None, "taken_at_zone_source": "offset",
         "camera_make": "Canon", "camera_model": "Canon EOS R5", "camera": "Canon EOS R5",
         "lens": "Canon RF 24-70mm F2.8L IS USM", "rating": 4, "label": "Green", "title": "First dance",
         "caption": "Anna and Paul, first dance", "creator": "Jo Doe", "copyright": "© 2025 Jo Doe",
         "credit": None, "location": {"sublocation": None, "city": "Paris", "state": None,
                                      "country": "France", "country_code": "FR"},
         "gps": {"latitude": 48.8583701, "longitude": 2.2944813, "altitude": 35.2},
         "tags": ["wedding", "ceremony", "Paris"], "keywords": ["wedding", "Paris"],
         "keyword_paths": ["Places|France|Paris"], "color_space": "sRGB", "bit_depth": 14,
         "hdr_gain_map": None, "sources": _IMAGE_META["sources"], "association": {"album": 42},
         "metadata": _IMAGE_META,
         "original_url": "/v1/images/4812/original", "preview_url": "/v1/images/4812/preview",
         "thumbnail_url": "/v1/images/4812/thumbnail", "created_at": "2025-06-14T18:05:40.112Z"}
EVENT = {"uuid": UUID, "field": "preview", "status": "ready", "error": None, "preview_width": 2048,
         "preview_height": 1365}
SSE_STREAM = (
    f'event: status\ndata: {{"uuid": "{UUID}", "field": "preview", "status": "pending", "error": null, '
    '"preview_width": null, "preview_height": null}\n\n'
    f'event: status\ndata: {{"uuid": "{UUID}", "field": "preview", "status": "processing", '
    '"error": null, "preview_width": null, "preview_height": null, "image_id": null}\n\n'
    ": keep-alive\n\n"
    f'event: status\ndata: {{"uuid": "{UUID}", "field": "preview", "status": "ready", "error": null, '
    '"preview_width": 2048, "preview_height": 1365, "image_id": null}\n\n'
)
#: the data of each `status` event on `GET /v1/proxies/{uuid}/events`
SCHEMAS: dict[str, Any] = {"StatusEvent": {
    "title": "StatusEvent", "type": "object", "required": ["uuid", "field", "status"],
    "additionalProperties": True,
    "properties": {
        "uuid": {"type": "string", "format": "uuid"},
        "field": {"type": "string", "enum": ["preview", "enhancement", "ingest"]},
        "status": {"type": "string", "description": "preview/enhancement: pending, processing, ready, "
                   "failed; ingest: queued, processing, ingested, failed"},
        "error": {"type": ["string", "null"]},
        "preview_width": {"type": ["integer", "null"]},
        "preview_height": {"type": ["integer", "null"]},
        "image_id": {"type": ["integer", "null"], "description": "the Image, once ingested"},
    }}}
JPEG: dict[str, Any] = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
JPEG_BYTES = Example("JPEG bytes", "(binary JPEG)", "image/jpeg")

UNAUTHORIZED = [
    problem(401, "Missing bearer token", "send Authorization: Bearer <token>"),
    problem(401, "Invalid token", "the bearer token is not known"),
]
NO_PROXY = [problem(404, "Not found", f"no proxy {UUID}")]
BAD_UUID = [problem(422, "Invalid request", "the request does not match the API", summary="Not a UUID",
                    errors=[{"loc": ["path", "uuid"], "msg": "Input should be a valid UUID, invalid "
                             "character: expected an optional prefix of `urn:uuid:` followed by "
                             "[0-9a-fA-F-], found `x` at 1"}])]
BAD_IMAGE_ID = [problem(422, "Invalid request", "the request does not match the API",
                        summary="Not a positive id",
                        errors=[{"loc": ["path", "image_id"], "msg": "Input should be greater than or "
                                 "equal to 1"}])]


def _invalid(loc: list[str | int], msg: str, summary: str) -> Example:
    return problem(422, "Invalid request", "the request does not match the API", summary=summary,
                   errors=[{"loc": loc, "msg": msg}])


UPLOAD_BODY: dict[str, Any] = {"required": True, "description": (
    "The photo, either as `multipart/form-data` with a `file` field (browsers, `curl -F`), or "
    "as the raw bytes with any image Content-Type or `application/octet-stream` and the name in "
    "`X-Filename` (the fast path: nothing to decode). The type is detected from the bytes. "
    "`X-Content-SHA256` lets the service answer a duplicate before reading the body."),
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "the original"}}}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    }}

EXAMPLES: dict[str, Operation] = {
    "POST /v1/uploads": Operation(
        patch={"requestBody": UPLOAD_BODY},
        request=[
            Example("Multipart form (curl -F file=@IMG_0001.CR3)", {"file": "(binary: IMG_0001.CR3)"},
                    "multipart/form-data"),
            Example("Raw body with X-Filename: IMG_0001.CR3", "(binary: the bytes of IMG_0001.CR3)",
                    "application/octet-stream"),
        ],
        responses={
            201: [Example("A new original", UPLOAD)],
            200: [Example("The same bytes again", UPLOAD | {"status": "ready", "duplicate": True,
                                                            "thumbnail": {"url": UPLOAD["thumbnail"]["url"],
                                                                          "inline": None}}),
                  Example("A photo you already kept", UPLOAD | {
                      "status": "ingested", "duplicate": True,
                      "thumbnail": {"url": "/v1/images/4812/thumbnail", "inline": None}, "metadata": {},
                      "kept_image": {"id": 4812, "path": "shoots/2025/06/Canon-EOS-R5/001-IMG_0001.CR3",
                                     "url": "/v1/images/4812"}})],
            400: [problem(400, "Empty upload", "the body has no bytes"),
                  problem(400, "Checksum mismatch", "X-Content-SHA256 does not match the bytes received",
                          sha256=SHA),
                  problem(400, "Missing file field", "send the photo in a multipart field named 'file'"),
                  problem(400, "Invalid X-Content-SHA256", "expected 64 hex characters")],
            401: UNAUTHORIZED,
            411: [problem(411, "Length Required", "send Content-Length or a chunked body")],
            413: [problem(413, "Upload too large", "the limit is 524288000 bytes", limit=524_288_000)],
            415: [problem(415, "Unsupported media type",
                          f"the bytes are not a supported photo format. {SUPPORTED}"),
                  problem(415, "Wrong content type", "application/json is not an upload: use "
                          "multipart/form-data or the raw image bytes"),
                  problem(415, "Missing Content-Type", "send multipart/form-data with a 'file' field, "
                          "or the raw bytes with X-Filename")],
            422: [_invalid(["header", "content-length"], "Input should be a valid integer, unable to "
                           "parse string as an integer", "Content-Length is not a number")],
        }),
    "GET /v1/proxies": Operation(responses={
        200: [Example("A page of proxies", {"items": [PROXY, FAILED_PROXY],
                                            "next_cursor": "WyIyMDI1LTA2LTE0VDE4OjAyOjExLjQwOFoiXQ=="}),
              Example("The last page", {"items": [PROXY], "next_cursor": None})],
        400: [problem(400, "Invalid cursor", "use next_cursor from a previous page")],
        401: UNAUTHORIZED,
        422: [_invalid(["query", "limit"], "Input should be greater than or equal to 1", "limit 0"),
              _invalid(["query", "status"], "String should match pattern "
                       "'^(pending|processing|ready|failed)$'", "Unknown status")],
    }),
    "GET /v1/proxies/{uuid}": Operation(responses={
        200: [Example("Preview ready", PROXY), Example("Preview failed", FAILED_PROXY)],
        401: UNAUTHORIZED, 404: NO_PROXY, 422: BAD_UUID,
    }),
    "DELETE /v1/proxies/{uuid}": Operation(responses={
        401: UNAUTHORIZED, 404: NO_PROXY,
        409: [problem(409, "Ingest in progress", "the proxy is being ingested")], 422: BAD_UUID,
    }),
    "GET /v1/proxies/{uuid}/events": Operation(
        patch={"responses": {"200": {
            "description": (
                "`text/event-stream`. Every event is named `status`; its `data` is a JSON "
                "`StatusEvent`: `field` (`preview`, `enhancement` or `ingest`) moved to `status` "
                "(preview and enhancement: `pending`, `processing`, `ready`, `failed`; ingest: "
                "`queued`, `processing`, `ingested`, `failed`), with `error`, the preview's size "
                "and, once ingested, `image_id`. The proxy's current state comes first; comments "
                "(`: keep-alive`) every 15 s on a quiet stream; the stream ends when nothing is "
                "under way."),
            "content": {"text/event-stream": {
                "schema": {"type": "string", "description": "a stream of `status` events whose data "
                           "is a StatusEvent (see components.schemas.StatusEvent)"}}}}}},
        responses={200: [Example("A preview from pending to ready", SSE_STREAM, "text/event-stream")],
                   401: UNAUTHORIZED, 404: NO_PROXY, 422: BAD_UUID}),
    "GET /v1/proxies/{uuid}/preview": Operation(
        patch={"responses": {"200": {"description": "The preview JPEG (2048 px on the long side, or "
                                     "wider once enhanced); a 307 to the store on S3", "content": JPEG}}},
        responses={200: [JPEG_BYTES], 401: UNAUTHORIZED, 404: NO_PROXY,
                   409: [problem(409, "Preview not ready", "the preview is processing",
                                 preview_status="processing")],
                   422: BAD_UUID}),
    "GET /v1/proxies/{uuid}/thumbnail": Operation(
        patch={"responses": {"200": {"description": "The 400x400 thumbnail JPEG, or the EXIF "
                                     "thumbnail while the preview is pending", "content": JPEG}}},
        responses={200: [JPEG_BYTES], 401: UNAUTHORIZED,
                   404: [*NO_PROXY, problem(404, "No thumbnail yet", "no thumbnail exists for this photo "
                                            "yet", preview_status="pending")],
                   422: BAD_UUID}),
    "POST /v1/proxies/{uuid}/retry": Operation(responses={
        202: [Example("A failed preview goes back",
                      {"uuid": UUID, "requeued": "preview", "removed_parked": 1}),
              Example("A failed ingest goes back",
                      {"uuid": UUID, "requeued": "ingest", "removed_parked": 0})],
        401: UNAUTHORIZED, 404: NO_PROXY,
        409: [problem(409, "Nothing to retry", "neither the preview nor the ingest has failed"),
              problem(409, "Not failed", "the preview is no longer failed")],
        422: BAD_UUID,
    }),
    "POST /v1/proxies/{uuid}/enhance": Operation(
        request=[Example("1.25x the current width (the default): no body", {}),
                 Example("A target width", {"target_width": 3000}), Example("A factor", {"factor": 2.0})],
        responses={
            202: [Example("Queued", {"uuid": UUID, "enhancement_status": "pending", "target_width": 2560,
                                     "limit": 8192, "source": "original"})],
            401: UNAUTHORIZED, 404: NO_PROXY,
            409: [problem(409, "Preview not ready", "the preview is processing", preview_status="processing"),
                  problem(409, "Being ingested", "the proxy is confirmed; its preview is going away"),
                  problem(409, "Already enhancing", "enhancement is pending", enhancement_status="pending")],
            422: [problem(422, "Too wide", "the widest preview this photo can get is 8192 px", limit=8192,
                          current_width=2048),
                  problem(422, "Not wider", "the preview is already 2048 px wide", limit=8192,
                          current_width=2048),
                  _invalid(["body"], "Value error, give target_width or factor, not both", "Both given")],
        }),
    "POST /v1/ingest": Operation(
        request=[Example("Two proxies, tagged, with the app's own ids", {
            "uuids": [UUID, OTHER], "tags": ["wedding", "ceremony"],
            "association": {"album": 42, "client": "Dupont"}})],
        responses={
            202: [Example("One queued, one refused", {"queued": 1, "refused": 1, "results": [
                {"uuid": UUID, "status": "queued", "reason": None},
                {"uuid": OTHER, "status": "refused", "reason": "preview processing"}]})],
            401: UNAUTHORIZED,
            422: [_invalid(["body", "uuids"], "List should have at least 1 item after validation, not 0",
                           "No uuids"),
                  _invalid(["body", "association"], "Value error, association is larger than 16384 bytes "
                           "of JSON", "Association too large")],
        }),
    "GET /v1/images": Operation(responses={
        200: [Example("A page of images", {"items": [IMAGE], "next_cursor": 4811}),
              Example("The last page", {"items": [IMAGE], "next_cursor": None})],
        401: UNAUTHORIZED,
        422: [problem(422, "Invalid date", "taken_from is out of range"),
              _invalid(["query", "limit"], "Input should be less than or equal to 200", "limit too big")],
    }),
    "GET /v1/images/{image_id}": Operation(responses={
        200: [Example("An image", IMAGE)], 401: UNAUTHORIZED,
        404: [problem(404, "Not found", "no image 4812")], 422: BAD_IMAGE_ID,
    }),
    "GET /v1/images/{image_id}/original": Operation(
        patch={"responses": {
            "200": {"description": "The original's bytes, with its type, Content-Disposition and the "
                                   "SHA-256 as ETag",
                    "content": {"application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"}}}},
            "307": {"description": "A presigned URL to the original in S3",
                    "headers": {"Location": {"schema": {"type": "string"}, "example":
                                "http://minio:9000/prophoto-final/shoots/2025/06/Canon-EOS-R5/"
                                "001-IMG_0001.CR3?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900"}}}}},
        responses={200: [Example("The original", "(binary: IMG_0001.CR3)", "application/octet-stream")],
                   401: UNAUTHORIZED,
                   404: [problem(404, "Not found", "no image 4812"),
                         problem(404, "Original missing", "the stored original is not there")],
                   422: BAD_IMAGE_ID}),
    "GET /v1/failed": Operation(responses={
        200: [Example("One parked preview job", {"items": [
            {"queue": "ingest-preview", "uuid": OTHER, "reason": "permanent",
             "error": "VipsJpeg: Premature end of input file", "parked_at": "2025-06-14T18:02:13.951Z",
             "attempt": 1}]})],
        401: UNAUTHORIZED,
        422: [problem(422, "Unknown queue", "use one of ['enhance', 'finalize', 'ingest', 'preview']")],
    }),
    "POST /v1/failed/replay": Operation(
        request=[Example("These proxies' parked jobs", {"uuids": [OTHER]}),
                 Example("Everything parked in one queue", {"queue": "preview"})],
        responses={200: [Example("Replayed", {"replayed": 1})], 401: UNAUTHORIZED,
                   422: [problem(422, "Unknown queue",
                                 "use one of ['enhance', 'finalize', 'ingest', 'preview']")]}),
}
EXAMPLES |= tus.tus_examples(UPLOAD, PROXY)
EXAMPLES |= culling_examples(PROXY, UNAUTHORIZED, NO_PROXY, BAD_UUID, BAD_IMAGE_ID)
EXAMPLES |= lanes.lanes_examples(UNAUTHORIZED, NO_PROXY, BAD_UUID)
