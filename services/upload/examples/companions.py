"""Examples for the companion files: XMP sidecars, Live Photo movies, and the operators'
reindex (merged into `operations.EXAMPLES`)."""

from __future__ import annotations

from typing import Any

from shared.apidocs import Example, Operation, problem

UUID = "3f2b8c1e-9d4a-4f6e-b7c2-5a1d0e8f9b34"
XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>')
SIDECAR: dict[str, Any] = {
    "id": 311, "original_name": "IMG_1234.xmp", "size": 4_812,
    "sha256": "9f2c6a0e4b7d1c3e5f8a2b4d6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e",
    "proxy_uuid": UUID, "rating": 4, "label": "Green", "title": "First dance",
    "caption": "Anna and Tom, first dance", "keywords": ["wedding", "dance"],
    "keyword_paths": ["Events/Wedding", "Events/Wedding/Dance"]}
MOVIE: dict[str, Any] = {
    "id": 97, "original_name": "IMG_1234.MOV", "size": 3_214_880,
    "sha256": "1c3e5f7a9b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a",
    "proxy_uuid": UUID, "content_identifier": "A1B2C3D4-0000-4E5F-8A9B-0C1D2E3F4A5B"}
MALFORMED = [problem(400, "Malformed XMP sidecar", "not well-formed XML: mismatched tag: line 3, column 2"),
             problem(400, "Malformed XMP sidecar", "no rdf:RDF packet: this is XML, but not XMP",
                     summary="XML, but not XMP"),
             problem(400, "Missing X-Filename", "name the sidecar in X-Filename (IMG_1234.xmp), as its "
                     "original is named", summary="No file name")]
SIDECAR_TOO_LARGE = [problem(413, "Too large", "an XMP sidecar may be 2097152 bytes; this one is 3145728",
                             limit=2_097_152)]
MOVIE_TOO_LARGE = [problem(413, "Too large", "the limit is 2147483648 bytes", limit=2_147_483_648)]
NOT_A_MOVIE = [problem(415, "Unsupported media type", "a Live Photo movie is a QuickTime or MP4 file; "
                       "this one is not")]
IN_PROGRESS = [problem(409, "Ingest in progress", "the proxy is being ingested: its files are fixed")]
BAD_HEADER = [problem(422, "Invalid request", "the request does not match the API", summary="A bad header",
                      errors=[{"loc": ["header", "x-filename"], "msg": "String should have at most "
                               "255 characters"}])]


def companion_examples(unauthorized: list[Example], no_proxy: list[Example], bad_uuid: list[Example],
                       operators_only: list[Example]) -> dict[str, Operation]:
    sidecar_body = [Example("An XMP packet as Lightroom writes it", XMP, "application/rdf+xml")]
    movie_body = [Example("The movie's bytes", "(binary: IMG_1234.MOV)", "video/quicktime")]
    return {
        "POST /v1/sidecars": Operation(request=sidecar_body, responses={
            201: [Example("Joined its original", SIDECAR),
                  Example("Waiting for its original", SIDECAR | {"proxy_uuid": None})],
            400: MALFORMED, 401: unauthorized, 413: SIDECAR_TOO_LARGE, 422: BAD_HEADER}),
        "PUT /v1/proxies/{uuid}/sidecar": Operation(request=sidecar_body, responses={
            200: [Example("Attached (an earlier one replaced)", SIDECAR)],
            400: MALFORMED[:2], 401: unauthorized, 404: no_proxy,
            409: [problem(409, "Ingest in progress", "the proxy is being ingested: its metadata is fixed")],
            413: SIDECAR_TOO_LARGE, 422: bad_uuid}),
        "POST /v1/live-videos": Operation(request=movie_body, responses={
            201: [Example("Kept with its photo", MOVIE)],
            400: [problem(400, "Missing X-Filename", "name the movie in X-Filename (IMG_1234.MOV), as its "
                          "photo is named")],
            401: unauthorized, 413: MOVIE_TOO_LARGE, 415: NOT_A_MOVIE,
            422: [problem(422, "Movie without its photo", "a Live Photo movie is kept only with its photo: "
                          "upload the HEIC or JPEG named like IMG_1234.MOV first, or PUT it on that "
                          "photo's proxy"), *BAD_HEADER]}),
        "PUT /v1/proxies/{uuid}/live-video": Operation(request=movie_body, responses={
            200: [Example("Attached (an earlier one replaced)", MOVIE)],
            400: [problem(400, "Invalid request", "the body is empty")],
            401: unauthorized, 404: no_proxy, 409: IN_PROGRESS, 413: MOVIE_TOO_LARGE, 415: NOT_A_MOVIE,
            422: bad_uuid}),
        "POST /v1/reindex": Operation(
            request=[Example("Every user's Images", {}), Example("One user's", {"user_id": "studio-7"})],
            responses={
                202: [Example("Queued", {"user_id": None, "queued": 48_210}),
                      Example("One user's", {"user_id": "studio-7", "queued": 2_000})],
                401: unauthorized, 403: operators_only,
                422: [problem(422, "Invalid request", "the request does not match the API",
                              summary="An empty user id", errors=[{"loc": ["body", "user_id"],
                              "msg": "String should have at least 1 character"}])]}),
    }
