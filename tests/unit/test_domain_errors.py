"""Domain errors: each kind answers one status, survives being recorded, and the tus states match
their CHECK constraint."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from shared import errors
from shared.db.status import TusState
from shared.http.problems import problem_of


@pytest.mark.parametrize(("kind", "status"), [
    (errors.NotFound, 404), (errors.Conflict, 409), (errors.Invalid, 400), (errors.Refused, 422),
    (errors.TooLarge, 413), (errors.Unsupported, 415), (errors.Gone, 410), (errors.Busy, 423),
    (errors.OverQuota, 429), (errors.ChecksumMismatch, 460), (errors.DomainError, 422),
])
def test_each_kind_answers_its_one_status(kind: type[errors.DomainError], status: int) -> None:
    assert problem_of(kind("why"))["status"] == status


def test_a_recorded_error_revives_as_the_same_kind_with_the_same_answer() -> None:
    exc = errors.Conflict("Upload-Offset is 5, the upload is at 3", title="Offset mismatch", offset=3)
    data = errors.record(exc)
    assert data == {"kind": "Conflict", "title": "Offset mismatch",
                    "detail": "Upload-Offset is 5, the upload is at 3", "offset": 3}
    again = errors.revive(data)
    assert type(again) is errors.Conflict
    assert problem_of(again) == problem_of(exc)


def test_a_kind_defined_elsewhere_is_recorded_as_its_nearest_shared_kind() -> None:
    class DecoderRefused(errors.Unsupported):
        title = "Cannot decode"

    data = errors.record(DecoderRefused("the file is truncated"))
    assert data["kind"] == "Unsupported" and data["title"] == "Cannot decode"
    assert problem_of(errors.revive(data))["status"] == 415


def test_an_unknown_kind_revives_as_a_plain_refusal_keeping_its_words() -> None:
    again = errors.revive({"kind": "NoSuchKind", "title": "Strange", "detail": "d", "n": 1})
    assert problem_of(again) == {"status": 422, "title": "Strange", "detail": "d", "n": 1}


def test_the_tus_states_are_exactly_those_the_migration_allows() -> None:
    sql = (resources.files("shared") / "migrations" / "0004_tus_uploads.sql").read_text()
    match = re.search(r"state\s+text .*CHECK \(state IN \(([^)]*)\)\)", sql)
    assert match is not None
    allowed = {v.strip().strip("'") for v in match.group(1).split(",")}
    assert allowed == {s.value for s in TusState}
