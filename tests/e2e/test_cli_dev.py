"""`prophoto dev` (behind `make run`) as a real process against the real broker and DB."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.fixtures.cli_stack import (
    alive,
    delete_topology,
    descendants,
    require_upload_service,
    start_dev,
    stop,
    wait_healthy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_dev_starts_every_existing_service_with_prefixed_logs_and_ctrl_c_stops_them_all(
    tmp_path: Path,
) -> None:
    require_upload_service()
    # development mode with no tokens: the upload service prints the dev token, a known line
    stack = start_dev(tmp_path, preview_workers=2, env="development", api_tokens="")
    try:
        wait_healthy(stack)
        assert stack.wait_for_line("Ctrl-C stops everything")
        children = descendants(stack.proc.pid)
        expected = ["upload", "finalize", "enhance", "tracing", "preview-1", "preview-2"]
        time.sleep(1.0)  # let every child write its first lines
        out = stack.output()
        for name in expected:
            assert re.search(rf"^supervisor +\| started {name} \(pid \d+", out, re.M), out
        assert re.search(r"^upload +\| development token: dev-token", out, re.M), out
        assert re.search(r"^supervisor +\| dev token +dev-token", out, re.M), out
        assert f"upload API  {stack.url}" in out
        ports = re.findall(r"started preview-\d \(pid \d+, python -m services.preview, "
                           r"metrics port (\d+)\)", out)
        assert len(set(ports)) == len(ports)
        assert len(children) >= len(expected)
    finally:
        code = stop(stack)
        delete_topology(stack.settings)
    assert code == 0, stack.output()
    assert "supervisor | all services stopped" in stack.output()
    leftovers = [p for p in children if alive(p)]
    assert not leftovers, f"still running after Ctrl-C: {leftovers}"
