"""Every storage key the pipeline writes, temporary and permanent, in one place.

Temporary objects live under `ingest-temp/` in the temp store, named by the
proxy's uuid so every write is idempotent (a retried job overwrites its own
object). Permanent keys are `<directory>/<sequence:03d>-<sanitized name>`,
the directory rendered from the naming pattern (`shared/naming.py`).
"""

from __future__ import annotations

from shared.naming import KEY_MAX, PatternError, sanitize_filename

TEMP_PREFIX = "ingest-temp"


def original_key(uuid: object, ext: str) -> str:
    """The uploaded original, until finalize copies it to the final store."""
    return f"{TEMP_PREFIX}/{uuid}.{ext}"


def exif_thumb_key(uuid: object) -> str:
    """The EXIF thumbnail cut out at upload (the degraded thumbnail's source)."""
    return f"{TEMP_PREFIX}/exif-thumbs/{uuid}.jpg"


#: the preview's and thumbnail's folders and kept names predate the list of renditions: objects
#: already stored carry them, so they stay; every other rendition's come from its name alone
_TEMP_FOLDERS = {"preview": "previews", "thumbnail": "thumbs"}
_KEPT_NAMES = {"thumbnail": "thumb"}


def rendition_key(uuid: object, rendition: str, ext: str = "jpg") -> str:
    """A rendition (`shared.imaging.renditions`) of a proxy, named by the rendition:
    `ingest-temp/renditions/<name>/<uuid>.jpg` (the preview's and thumbnail's folders are older)."""
    return f"{TEMP_PREFIX}/{_TEMP_FOLDERS.get(rendition, f'renditions/{rendition}')}/{uuid}.{ext}"


def preview_key(uuid: object) -> str:
    return rendition_key(uuid, "preview")


def thumb_key(uuid: object) -> str:
    return rendition_key(uuid, "thumbnail")


def enhanced_key(uuid: object, width: int) -> str:
    """An enhanced preview; the width in the name keeps each size's write idempotent."""
    return f"{TEMP_PREFIX}/previews/{uuid}-{width}w.jpg"


def partial_key(upload_id: str) -> str:
    """A resumable (tus) upload's bytes so far, until it completes and becomes an original."""
    return f"{TEMP_PREFIX}/tus/{upload_id}"


def partial_tail_key(upload_id: str, nonce: str) -> str:
    """An S3 partial upload's short tail (bytes not yet a whole multipart part)."""
    return f"{partial_key(upload_id)}.tail-{nonce}"


def sidecar_temp_key(token: str) -> str:
    """An uploaded XMP sidecar, until its original's Image keeps it."""
    return f"{TEMP_PREFIX}/sidecars/{token}.xmp"


def companion_temp_key(token: str, ext: str) -> str:
    """An uploaded companion file (a Live Photo's movie), until its photo's Image keeps it."""
    return f"{TEMP_PREFIX}/companions/{token}.{ext}"


def companion_key(original_key: str, ext: str) -> str:
    """A companion beside its original: `001-IMG_1234.CR3` -> `001-IMG_1234.xmp` (ext "xmp")."""
    head, slash, name = original_key.rpartition("/")
    stem, dot, _ = name.rpartition(".")
    return f"{head}{slash}{stem if dot else name}.{ext}"


def final_key(directory: str, sequence: int, original_name: str) -> str:
    """`<directory>/<sequence:03d>-<sanitized name>`; sequences past 999 simply grow."""
    if sequence < 1:
        raise ValueError("sequence numbers start at 1")
    name = f"{sequence:03d}-{sanitize_filename(original_name)}"
    key = f"{directory}/{name}" if directory else name
    if len(key) > KEY_MAX:
        raise PatternError(f"the rendered key is longer than {KEY_MAX} characters")
    return key


#: an Image's own renditions sit in a hidden folder beside its original
KEPT_RENDITIONS = ".renditions"


def kept_rendition_key(original_key: str, rendition: str, ext: str = "jpg") -> str:
    """An Image's rendition in the final store, beside its original:
    `<directory>/.renditions/<original name>.<rendition>.jpg` (the thumbnail's is `.thumb.jpg`)."""
    directory, _, name = original_key.rpartition("/")
    key = f"{KEPT_RENDITIONS}/{name}.{_KEPT_NAMES.get(rendition, rendition)}.{ext}"
    return f"{directory}/{key}" if directory else key
