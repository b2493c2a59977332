"""clients/typescript/upload-api.d.ts is what openapi-typescript (pinned in its package-lock.json)
makes of the document the code publishes today, and a web app's use of it type-checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TYPES = REPO / "clients" / "typescript"

pytestmark = pytest.mark.skipif(shutil.which("npm") is None,
                                reason="npm is not installed: the types cannot be regenerated")


def test_the_committed_typescript_types_match_the_openapi_document_of_the_code() -> None:
    run = subprocess.run([sys.executable, "scripts/api_types.py", "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_a_web_app_using_the_types_type_checks_with_tsc() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from api_types import toolchain

    tsc = toolchain() / "node_modules" / ".bin" / "tsc"
    run = subprocess.run([str(tsc), "--noEmit", "--strict", "--target", "es2022", "--lib", "es2022,dom",
                          "--module", "esnext", "--moduleResolution", "bundler", "example.ts"],
                         cwd=TYPES, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
