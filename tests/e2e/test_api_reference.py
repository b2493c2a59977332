"""What an app developer meets first, against a live `prophoto dev`: the client example of
docs/client.md, run as written."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures.cli_stack import *  # noqa: F403 - the dev_stack fixture
from tests.fixtures.cli_stack import DevStack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def client_example() -> str:
    text = (REPO / "docs" / "client.md").read_text()
    return re.search(r"## Ten lines\n\n```python\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]


def unique_jpeg(path: Path) -> Path:
    seed = uuidlib.uuid4().bytes
    image = Image.frombytes("RGB", (64, 48), (seed * 600)[: 64 * 48 * 3]).resize((800, 600))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue())
    return path


def test_the_client_example_in_the_docs_runs_against_the_live_stack(
    dev_stack: DevStack, tmp_path: Path
) -> None:
    code = client_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    code = code.replace("http://127.0.0.1:8080", dev_stack.url).replace('"dev-token"', '"tok-alice"')
    unique_jpeg(tmp_path / "IMG_0001.jpg")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, run.stderr + dev_stack.output()[-3000:]
    first, *images = run.stdout.splitlines()
    assert re.fullmatch(rf"{UUID} ready 800", first), run.stdout
    assert images and all(re.fullmatch(r"\d+ \S+\.jpg", line) for line in images), run.stdout
    with Image.open(tmp_path / "preview.jpg") as preview:
        assert preview.format == "JPEG" and preview.size == (800, 600)
