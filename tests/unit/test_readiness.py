"""The one `/readyz` builder: named checks, what is missing, 200 or 503."""

from __future__ import annotations

import json

from shared.http.readiness import assess, readiness


async def up() -> bool:
    return True


async def one() -> int:
    return 1  # e.g. SELECT 1: any truthy answer is up


async def down() -> bool:
    return False


async def unreachable() -> bool:
    raise OSError("connection refused")


async def consumer_gone() -> list[str]:
    return ["broker connection"]


async def consumer_fine() -> list[str]:
    return []


async def test_bool_checks_miss_their_name_and_list_checks_say_what_they_miss_in_order() -> None:
    checks, missing = await assess({"database": unreachable, "storage": one, "events": down,
                                    "consumer": consumer_gone})
    assert checks == {"database": False, "storage": True, "events": False, "consumer": False}
    assert missing == ["database", "events", "broker connection"]


async def test_nothing_missing_is_a_200_with_every_check_up() -> None:
    response = await readiness({"database": up, "consumer": consumer_fine})
    assert response.status_code == 200
    assert json.loads(response.body) == {"ready": True, "checks": {"database": True, "consumer": True},
                                         "missing": []}


async def test_anything_missing_is_a_503_with_the_same_shape() -> None:
    response = await readiness({"database": up, "consumer": consumer_gone})
    assert response.status_code == 503
    assert json.loads(response.body) == {"ready": False,
                                         "checks": {"database": True, "consumer": False},
                                         "missing": ["broker connection"]}
