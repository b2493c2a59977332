"""The docs name only code that exists: every repository path and dotted module they cite.

A path in backticks under one of the repository's folders (`shared/broker/topology.py`,
`services/upload/routes/`) must exist, and a dotted name under `shared` or `services`
(`shared.broker.publisher.AmqpPublisher`) must reach a module before its attribute part. A reshaping that moves a module fails here until the docs follow it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FOLDERS = ("shared", "services", "prophoto", "bench", "chaos", "tests", "scripts", "deploy", "clients", "docs")
PACKAGES = ("shared", "services")  # not `prophoto`: the exchanges are named prophoto.events...
CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(rf"^(?:{'|'.join(FOLDERS)})/[\w./-]*$")
DOTTED = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.\w+)+$")


def cited(text: str) -> list[str]:
    """The repository paths and dotted module names a document cites in backticks."""
    found = []
    for span in CODE.findall(text):
        for word in span.split():
            word = re.sub(r"(:\d+(-\d+)?|[),;:]+)$", "", word.strip("(),;"))
            if PATH.match(word) or DOTTED.match(word):
                found.append(word)
    return found


def missing_path(path: str) -> bool:
    return not (ROOT / path.rstrip("/")).exists()


def missing_module(dotted: str) -> bool:
    """True unless the name walks folders down to a module (what follows is its attributes)."""
    here = ROOT
    for part in dotted.split("."):
        if (here / f"{part}.py").is_file():
            return False
        if not (here / part).is_dir():
            return True
        here = here / part
    return False  # a package itself


def test_the_check_tells_a_real_name_from_a_moved_one() -> None:
    text = ("`shared/broker/topology.py` and `shared.broker.publisher.AmqpPublisher` (see `shared/db/`), "
            "`shared/topology.py` and `shared.broker.subscribed`, `ingest-temp/{uuid}.jpg`")
    names = cited(text)
    assert names == ["shared/broker/topology.py", "shared.broker.publisher.AmqpPublisher", "shared/db/",
                     "shared/topology.py", "shared.broker.subscribed"]
    assert [n for n in names if (missing_path(n) if "/" in n else missing_module(n))] == [
        "shared/topology.py", "shared.broker.subscribed"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_and_module_a_doc_names_exists(doc: Path) -> None:
    names = cited(doc.read_text())
    gone = sorted({n for n in names if (missing_path(n) if "/" in n else missing_module(n))})
    assert not gone, f"{doc.relative_to(ROOT)} names what does not exist: {gone}"
