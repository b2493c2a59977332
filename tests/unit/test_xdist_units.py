"""`make test` runs on two xdist workers; what must not be spread is one work unit (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import work_unit

TESTS = Path(__file__).resolve().parent.parent


def test_the_cluster_and_browser_folders_are_one_unit_each_and_other_tests_their_own():
    assert work_unit("tests/chaos/test_node_loss.py::test_x") == "cluster"
    assert work_unit("tests/chaos/test_leader_loss.py::test_y[a]") == "cluster"
    assert work_unit("tests/e2e/test_web_page.py::test_z") == "e2e"
    unit = "tests/integration/test_outages.py::test_w"
    assert work_unit(unit) == unit


def test_only_the_cluster_folder_uses_the_session_cluster():
    """Its tests share one set of extra nodes; used elsewhere, two workers would each start one."""
    users = [m.relative_to(TESTS).parts[0] for m in sorted(TESTS.rglob("test_*.py"))
             if m != Path(__file__).resolve()
             and ("rabbit_cluster" in (text := m.read_text()) or "own_postgres" in text)]
    assert users and set(users) == {"chaos"}, users
