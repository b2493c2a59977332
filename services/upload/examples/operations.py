"""Examples for every operation and answer of the upload API, keyed by operation (the
tus and culling operations come from their own modules)."""

from __future__ import annotations

from services.upload.examples import tus
from services.upload.examples.companions import companion_examples
from services.upload.examples.culling import culling_examples
from services.upload.examples.lanes import OPERATORS_ONLY, lanes_examples
from services.upload.examples.values import (
    BAD_IMAGE_ID,
    BAD_UUID,
    FAILED_PROXY,
    IMAGE,
    JPEG,
    JPEG_BYTES,
    NO_PROXY,
    OTHER,
    PROXY,
    SHA,
    SSE_STREAM,
    SUPPORTED,
    UNAUTHORIZED,
    UPLOAD,
    UPLOAD_BODY,
    UUID,
    invalid,
)
from shared.apidocs import Example, Operation, problem

#: listings and replays of parked jobs share one per-user rate (PROPHOTO_QUOTA_PARKED_SCANS_*)
SCANS_QUOTA = problem(429, "Too many requests", "parked-job scans per minute: at most 30 per 60 s",
                      quota="parked-job scans per minute", retry_after=12, limit=30)

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
            422: [invalid(["header", "content-length"], "Input should be a valid integer, unable to "
                           "parse string as an integer", "Content-Length is not a number")],
        }),
    "GET /v1/proxies": Operation(responses={
        200: [Example("A page of proxies", {"items": [PROXY, FAILED_PROXY],
                                            "next_cursor": "WyIyMDI1LTA2LTE0VDE4OjAyOjExLjQwOFoiXQ=="}),
              Example("The last page", {"items": [PROXY], "next_cursor": None})],
        400: [problem(400, "Invalid cursor", "use next_cursor from a previous page")],
        401: UNAUTHORIZED,
        422: [invalid(["query", "limit"], "Input should be greater than or equal to 1", "limit 0"),
              invalid(["query", "status"], "String should match pattern "
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
                  invalid(["body"], "Value error, give target_width or factor, not both", "Both given")],
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
            422: [invalid(["body", "uuids"], "List should have at least 1 item after validation, not 0",
                           "No uuids"),
                  invalid(["body", "association"], "Value error, association is larger than 16384 bytes "
                           "of JSON", "Association too large")],
        }),
    "GET /v1/images": Operation(responses={
        200: [Example("A page of images", {"items": [IMAGE], "next_cursor": 4811}),
              Example("The last page", {"items": [IMAGE], "next_cursor": None})],
        401: UNAUTHORIZED,
        422: [problem(422, "Invalid date", "taken_from is out of range"),
              invalid(["query", "limit"], "Input should be less than or equal to 200", "limit too big")],
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
             "attempt": 1, "tags": ["ingest", f"proxy:{OTHER}", "user:studio-7"]}]})],
        401: UNAUTHORIZED,
        422: [problem(422, "Unknown queue", "use one of ['enhance', 'finalize', 'ingest', 'preview']")],
        429: [SCANS_QUOTA],
    }),
    "POST /v1/failed/replay": Operation(
        request=[Example("These proxies' parked jobs", {"uuids": [OTHER]}),
                 Example("Everything parked in one queue", {"queue": "preview"}),
                 Example("One photo's parked jobs, by tag", {"tag": f"proxy:{OTHER}"})],
        responses={200: [Example("Replayed", {"replayed": 1})], 401: UNAUTHORIZED,
                   422: [problem(422, "Unknown queue",
                                 "use one of ['enhance', 'finalize', 'ingest', 'preview']"),
                         problem(422, "Invalid tag", "a tag is ingest, proxy:<uuid> or user:<id>")],
                   429: [SCANS_QUOTA]}),
}
EXAMPLES |= tus.tus_examples(UPLOAD, PROXY)
EXAMPLES |= culling_examples(PROXY, UNAUTHORIZED, NO_PROXY, BAD_UUID, BAD_IMAGE_ID)
EXAMPLES |= lanes_examples(UNAUTHORIZED, NO_PROXY, BAD_UUID)
EXAMPLES |= companion_examples(UNAUTHORIZED, NO_PROXY, BAD_UUID, OPERATORS_ONLY)
