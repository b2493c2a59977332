"""The sample values the upload API's examples are made of: ids, answers as the service sends
them, the request bodies routes cannot declare, and problems several operations share."""

from __future__ import annotations

from typing import Any

from services.upload.examples import tus
from shared.apidocs import Example, problem

UUID = "3f2b8c1e-9d4a-4f6e-b7c2-5a1d0e8f9b34"
OTHER = "c91e4d27-0b6f-4a83-9e15-7f2d3a6b8c40"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SUPPORTED = ("Supported: JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF, AVIF, JPEG XL and camera RAW "
             "(CR2, CR3, CRW, NEF, NRW, ARW, SR2, SRF, DNG, RAF, ORF, RW2, PEF, SRW, X3F, 3FR, IIQ, "
             "ERF, MRW, KDC, DCR, MOS).")

#: an example per parameter name, for every operation that has it
PARAMETERS: dict[str, Any] = {
    "uuid": UUID, "image_id": 4812, "limit": 50, "status": "ready", "camera": "Canon EOS R5",
    "tag": "wedding", "day": "2025-06-14", "flag": "pick", "min_rating": 3, "keep_copy": False,
    "taken_from": "2025-06-01T00:00:00Z", "taken_to": "2025-07-01T00:00:00Z",
    "queue": "preview", "run_id": 12, "name": "thumbnail", "bulk": False, "x-filename": "IMG_0001.CR3",
    "x-content-sha256": SHA,
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
COLOUR = {"space": "adobe-rgb", "evidence": "exif", "profile": "Adobe RGB (1998), from EXIF",
          "preview_gamut": "srgb", "hdr": False, "hdr_format": None, "hdr_headroom": None}
PROXY = {"uuid": UUID, "original_name": "IMG_0001.CR3", "format": "cr3", "mime": "image/x-canon-cr3",
         "size": 47_316_992, "sha256": SHA, "preview_status": "ready", "preview_error": None,
         "preview_width": 2048, "preview_height": 1365, "preview_method": "embedded:JpgFromRaw",
         "preview_degraded": None, "enhancement_status": None, "ingest_status": None,
         "metadata_error": None, "problem": None, "flag": None, "rating": None,
         "preview_url": f"/v1/proxies/{UUID}/preview",
         "thumbnail_url": f"/v1/proxies/{UUID}/thumbnail",
         "renditions": {"preview": {"url": f"/v1/proxies/{UUID}/renditions/preview", "width": 2048,
                                    "height": 1365},
                        "thumbnail": {"url": f"/v1/proxies/{UUID}/renditions/thumbnail", "width": 400,
                                      "height": 400}},
         "colour": COLOUR, "metadata": SUMMARY, "uploaded_at": "2025-06-14T18:02:11.408Z"}
FAILED_PROXY = PROXY | {"uuid": OTHER, "original_name": "IMG_0002.jpg", "format": "jpeg",
                        "mime": "image/jpeg", "size": 6_204_118, "preview_status": "failed",
                        "preview_error": "VipsJpeg: Premature end of input file", "preview_width": None,
                        "preview_height": None, "preview_method": None, "preview_url": None,
                        "problem": {"message": "This file is damaged: the image data ends early or cannot "
                                    "be read.", "technical": "VipsJpeg: Premature end of input file",
                                    "retryable": False},
                        "thumbnail_url": f"/v1/proxies/{OTHER}/thumbnail", "renditions": {},
                        "colour": {"space": None, "evidence": None, "profile": None, "preview_gamut": None,
                                   "hdr": False, "hdr_format": None, "hdr_headroom": None}}
_IMAGE_META = {
    "camera_make": "Canon", "camera_model": "Canon EOS R5", "camera": "Canon EOS R5",
    "lens": "Canon RF 24-70mm F2.8L IS USM", "exposure_time": 0.004, "exposure_display": "1/250",
    "f_number": 2.8, "iso": 400, "focal_length_mm": 50.0, "declared_colour_space": "sRGB", "bit_depth": 14,
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
         "keyword_paths": ["Places|France|Paris"], "declared_colour_space": "sRGB", "bit_depth": 14,
         "hdr_gain_map": None, "sources": _IMAGE_META["sources"],
         "sidecar_path": "shoots/2025/06/Canon-EOS-R5/001-IMG_0001.xmp", "pair_kind": "raw+jpeg",
         "paired_image_id": 4813, "live_video_path": None, "association": {"album": 42},
         "metadata": _IMAGE_META,
         "original_url": "/v1/images/4812/original", "preview_url": "/v1/images/4812/preview",
         "thumbnail_url": "/v1/images/4812/thumbnail",
         "renditions": {"preview": {"url": "/v1/images/4812/renditions/preview", "width": 2048,
                                    "height": 1365},
                        "thumbnail": {"url": "/v1/images/4812/renditions/thumbnail", "width": 400,
                                      "height": 400}},
         "colour": COLOUR | {"preview_gamut": None, "evidence": None},
         "created_at": "2025-06-14T18:05:40.112Z"}
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


def invalid(loc: list[str | int], msg: str, summary: str) -> Example:
    """FastAPI's 422 for a request that does not match the API, as the problem body says it."""
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
