"""Failure reasons in a photographer's words, and whether a retry can help."""

from __future__ import annotations

import pytest

from services.upload.explain import FALLBACK, explain


@pytest.mark.parametrize(("reason", "words", "retryable"), [
    ("VipsJpeg: Premature end of input file", "damaged", False),
    ("LibRawIOError: b'Input/output error'", "damaged", False),
    ("unsupported or corrupt data: the bytes are not a known image format", "damaged", False),
    ("no usable image data: no usable embedded preview and LibRaw could not decode the RAW: "
     "LibRawFileUnsupportedError: b'Unsupported file format or not RAW file'", "RAW file", False),
    ("no renderer could read the source: libvips: x | Pillow: y", "not a photo we can read", False),
    ("the decode would need 4.1 GB, over the budget of 1 GB", "too large", False),
    ("render timed out after 60 s", "took too long", True),
    ("the render process crashed (signal 9)", "stopped unexpectedly", True),
    ("the original ingest-temp/x.jpg is missing", "no longer stored", False),
    ("connection refused by the database", "busy or unreachable", True),
])
def test_a_known_reason_gets_its_plain_sentence_and_keeps_the_technical_one(reason, words, retryable):
    explained = explain(reason)
    assert explained is not None
    assert words in explained.message
    assert explained.technical == reason
    assert explained.retryable is retryable


def test_an_unknown_reason_is_offered_a_retry_and_no_reason_is_no_problem():
    explained = explain("something nobody foresaw")
    assert explained is not None and explained.message == FALLBACK and explained.retryable
    assert explain(None) is None and explain("") is None
