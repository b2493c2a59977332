"""The checked-in dashboards are exactly what scripts/dashboards.py builds (no hand-edited JSON)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dashboards.py"


@pytest.fixture(scope="module")
def dashboards():
    spec = importlib.util.spec_from_file_location("dashboards", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dashboards"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_checked_in_dashboard_is_the_generated_one(dashboards):
    files = sorted(p.name for p in dashboards.OUT.glob("*.json"))
    assert files == sorted(f"{b.file}.json" for b in dashboards.BOARDS)  # none made by hand
    for board in dashboards.BOARDS:
        on_disk = (dashboards.OUT / f"{board.file}.json").read_text()
        assert on_disk == dashboards.render(board), (
            f"{board.file}.json differs from scripts/dashboards.py: run `make dashboards`")
    assert dashboards.main(["--check"]) == 0


def test_the_generated_dashboards_carry_the_recovery_panels(dashboards):
    built = {b.file: dashboards.build(b) for b in dashboards.BOARDS}
    exprs = {t["expr"] for d in built.values() for p in d["panels"] for t in p.get("targets", [])}
    assert "max(prophoto_outbox_oldest_unpublished_age_seconds)" in exprs
    assert "sum by (queue) (prophoto_jobs_held)" in exprs
    for board in built.values():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        assert all(t["datasource"]["uid"] == "prometheus" for p in board["panels"]
                   for t in p.get("targets", []))
    timeline = built["queue-health"]["panels"][0]
    assert timeline["type"] == "state-timeline"
    assert json.dumps(timeline).count('"stalled"') == 1
