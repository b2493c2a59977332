"""Resumable uploads: tus 1.0 and the IETF "Resumable Uploads for HTTP" draft on one set of
resources (`/v1/tus/`), one work layer for both (docs/resumable.md).

- `uploads`: `Resumable`, the work: create, append, finish, terminate, expire.
- `receive`: one append's bytes (written, hashed, made durable, recorded).
- `sha256state`: the upload's SHA-256 carried from one append to the next.
- `finish`: after the last byte, the same acceptance as `POST /v1/uploads`.
- `tus`: the tus routes (headers in, headers out); `ietf_draft`: the draft's requests on them.
- `request_body`: a request's body for `receive`, a client's disconnect marking it cut.

The work raises the domain errors of `shared.errors`; the app's problem handlers answer them.

The SQL is in `shared.db.tus`.
"""
