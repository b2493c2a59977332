"""Examples for the tus resumable-upload routes (`/v1/tus/...`), keyed by operation."""

from __future__ import annotations

from typing import Any

from shared.apidocs import Example, Operation, problem

UPLOAD_ID = "5b0f7d3a-2c41-4e8b-a9d6-0e3c7f18b52d"
LIMIT = 524_288_000
EXPIRES = "Mon, 16 Jun 2025 18:02:11 GMT"
TUS_HEADER = {"Tus-Resumable": {"schema": {"type": "string"}, "example": "1.0.0"}}
OFFSET_BODY: dict[str, Any] = {"required": True, "content": {
    "application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
PARAMETERS: dict[str, Any] = {
    "upload_id": UPLOAD_ID, "tus-resumable": "1.0.0", "upload-length": "47316992",
    "upload-offset": "16777216",
    "upload-metadata": "filename SU1HXzAwMDEuQ1Iz,filetype aW1hZ2UveC1jYW5vbi1jcjM=",
    "upload-checksum": "sha256 n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
    "upload-defer-length": "1",
}


def _headers(**values: str) -> dict[str, Any]:
    return {name.replace("_", "-").title(): {"schema": {"type": "string"}, "example": value}
            for name, value in values.items()}


def _version() -> list[Example]:
    return [problem(412, "Unsupported tus version", "send Tus-Resumable: 1.0.0", supported="1.0.0")]


UNAUTHORIZED = [problem(401, "Missing bearer token", "send Authorization: Bearer <token>"),
                problem(401, "Invalid token", "the bearer token is not known")]
NO_UPLOAD = [problem(404, "Not found", f"no upload {UPLOAD_ID}")]
EXPIRED = [problem(410, "Upload expired", f"upload {UPLOAD_ID} expired at 2025-06-16 18:02:11+00:00")]
BAD_ID = [problem(422, "Invalid request", "the request does not match the API", summary="Not a UUID",
                  errors=[{"loc": ["path", "upload_id"], "msg": "Input should be a valid UUID, invalid "
                           "length: expected length 32 for simple format, found 3"}])]
BUSY = [problem(423, "Upload busy", "another request is writing to this upload")]
WRONG_TYPE = problem(415, "Wrong content type", "a PATCH body is application/offset+octet-stream")


def tus_examples(upload_answer: dict[str, Any], proxy: dict[str, Any]) -> dict[str, Operation]:
    return {
        "OPTIONS /v1/tus/": Operation(
            patch={"responses": {"204": {"headers": _headers(
                tus_version="1.0.0", tus_extension="creation,creation-with-upload,termination,"
                "expiration,checksum", tus_max_size=str(LIMIT), tus_checksum_algorithm="sha256,sha1,md5")}}},
            responses={}),
        "POST /v1/tus/": Operation(
            patch={"requestBody": OFFSET_BODY | {"required": False},
                   "responses": {"201": {"headers": TUS_HEADER | _headers(
                       location=f"/v1/tus/{UPLOAD_ID}", upload_offset="0", upload_length="47316992",
                       upload_expires=EXPIRES)}}},
            request=[Example("The first bytes with the creation (creation-with-upload)",
                             "(binary: the first 16 MiB)", "application/offset+octet-stream")],
            responses={
                201: [Example("The whole file in the creation request: the accepted upload", upload_answer)],
                400: [problem(400, "Missing Upload-Length", "send Upload-Length (a non-negative integer)"),
                      problem(400, "Invalid Upload-Metadata", "the value of 'filename' is not base64 of "
                              "UTF-8 text")],
                401: UNAUTHORIZED,
                412: _version(),
                413: [problem(413, "Upload too large", f"Upload-Length 612368384 is over the limit of "
                              f"{LIMIT} bytes", limit=LIMIT)],
                415: [problem(415, "Wrong content type", "a PATCH body is application/offset+octet-stream")],
                422: [problem(422, "Invalid request", "the request does not match the API",
                              summary="Content-Length is not a number", errors=[
                                  {"loc": ["header", "content-length"], "msg": "Input should be a valid "
                                   "integer, unable to parse string as an integer"}])],
                429: [problem(429, "Too many unfinished uploads", "20 uploads are unfinished (the cap "
                              "is 20): finish or delete some first")],
            }),
        "HEAD /v1/tus/{upload_id}": Operation(
            patch={"responses": {"200": {"description": "Where to resume: `Upload-Offset`", "content": {},
                                         "headers": TUS_HEADER | _headers(
                                             upload_offset="16777216", upload_length="47316992",
                                             upload_expires=EXPIRES,
                                             upload_metadata=PARAMETERS["upload-metadata"])}}},
            responses={401: UNAUTHORIZED, 404: NO_UPLOAD, 410: EXPIRED, 412: _version(), 422: BAD_ID}),
        "PATCH /v1/tus/{upload_id}": Operation(
            patch={"requestBody": OFFSET_BODY,
                   "responses": {"204": {"headers": TUS_HEADER | _headers(upload_offset="33554432",
                                                                          upload_expires=EXPIRES)}}},
            request=[Example("16 MiB from Upload-Offset", "(binary: bytes 16777216-33554431)",
                             "application/offset+octet-stream")],
            responses={
                200: [Example("The last bytes: the accepted upload", upload_answer)],
                400: [problem(400, "Missing Upload-Offset", "send Upload-Offset (a non-negative integer)"),
                      problem(400, "Body longer than the upload", "1048576 bytes were left of "
                              "Upload-Length 47316992"),
                      problem(400, "Unsupported checksum algorithm", "use one of sha256, sha1, md5")],
                401: UNAUTHORIZED, 404: NO_UPLOAD,
                409: [problem(409, "Offset mismatch", "Upload-Offset is 16777216, the upload is at 33554432",
                              offset=33_554_432)],
                410: EXPIRED, 412: _version(),
                413: [problem(413, "Upload too large", f"the limit is {LIMIT} bytes", limit=LIMIT)],
                415: [WRONG_TYPE,
                      problem(415, "Unsupported media type", "the bytes are not a supported photo format. "
                              "Supported: JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF, AVIF and camera RAW.")],
                422: BAD_ID, 423: BUSY,
                460: [problem(460, "Checksum mismatch", "the sha256 of the body is not the Upload-Checksum; "
                              "nothing of this request was stored")],
            }),
        "DELETE /v1/tus/{upload_id}": Operation(
            responses={401: UNAUTHORIZED, 404: NO_UPLOAD, 412: _version(), 422: BAD_ID, 423: BUSY}),
        "GET /v1/tus/{upload_id}/proxy": Operation(responses={
            200: [Example("The proxy the upload became", proxy)],
            401: UNAUTHORIZED, 404: [*NO_UPLOAD, problem(404, "Proxy removed", f"the proxy {proxy['uuid']} "
                                                          "was deleted")],
            409: [problem(409, "Upload not complete", "16777216 of 47316992 bytes received",
                          offset=16_777_216)],
            410: EXPIRED,
            415: [problem(415, "Unsupported media type", "the bytes are not a supported photo format. "
                          "Supported: JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF, AVIF and camera RAW.")],
            422: BAD_ID,
        }),
    }
