"""The upload API's TypeScript types (clients/typescript/upload-api.d.ts), generated from the
OpenAPI document the code publishes.

    python scripts/api_types.py            # regenerate (make typescript)
    python scripts/api_types.py --check    # exit 1, with a diff, when they are out of date

openapi-typescript comes from npm at the version pinned by the package-lock.json
beside the types; it is installed once per lock file into a cache folder
(PROPHOTO_NPM_CACHE, default ~/.cache/prophoto-ingest), outside the work tree.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TYPES = REPO / "clients" / "typescript"
GENERATED = "upload-api.d.ts"


def document() -> dict[str, object]:
    sys.path.insert(0, str(REPO))
    from services.upload.app import create_app
    from shared.settings import Settings

    return create_app(Settings(env="development")).openapi()


def toolchain() -> Path:
    """The folder whose node_modules/.bin holds the pinned openapi-typescript and tsc."""
    lock = (TYPES / "package-lock.json").read_bytes()
    root = Path(os.environ.get("PROPHOTO_NPM_CACHE", Path.home() / ".cache" / "prophoto-ingest"))
    home = root / f"npm-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (home / "node_modules" / ".bin" / "openapi-typescript").exists():
        home.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(TYPES / name, home / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=home, check=True)
    return home


def generate(target: Path) -> None:
    binary = toolchain() / "node_modules" / ".bin" / "openapi-typescript"
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "openapi.json"
        spec.write_text(json.dumps(document(), indent=2, ensure_ascii=False) + "\n")
        subprocess.run([str(binary), str(spec), "--output", str(target)], check=True, capture_output=True)


def check() -> int:
    committed_path = TYPES / GENERATED
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp) / GENERATED)
        fresh = (Path(tmp) / GENERATED).read_text().splitlines(keepends=True)
    committed = committed_path.read_text().splitlines(keepends=True) if committed_path.exists() else []
    if fresh == committed:
        return 0
    sys.stdout.writelines(list(difflib.unified_diff(committed, fresh, f"committed/{GENERATED}",
                                                    f"generated/{GENERATED}"))[:200])
    print(f"\n{committed_path} is out of date with the code: run `make typescript` and commit it")
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    if parser.parse_args().check:
        return check()
    generate(TYPES / GENERATED)
    print(f"wrote {TYPES / GENERATED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
