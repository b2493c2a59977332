"""One route to the broker: services reach it only through `shared`, and the topology alone declares.

These read the source (no broker needed): an import of the AMQP client in a
service, a queue declared with arguments outside `shared/broker/topology.py`, or a
queue argument spelled elsewhere fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AMQP_CLIENTS = ("aio_pika", "aiormq", "pamqp")
TOPOLOGY = ROOT / "shared" / "broker" / "topology.py"


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module a source file imports, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def amqp_imports(source: str) -> list[str]:
    """`line: module` for each import of an AMQP client library in `source`."""
    return [f"{line}: {module}" for line, module in _imported(ast.parse(source))
            if module.split(".")[0] in AMQP_CLIENTS]


def declarations(source: str) -> list[str]:
    """`line: call` for each exchange declared, or queue declared other than passively."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        passive = any(k.arg == "passive" and isinstance(k.value, ast.Constant) and k.value.value is True
                      for k in node.keywords)
        if name == "declare_exchange" or (name == "declare_queue" and not passive):
            found.append(f"{node.lineno}: {name}")
    return found


def queue_arguments(source: str) -> list[str]:
    """`line: literal` for each string literal that is an `x-` queue argument."""
    return [f"{node.lineno}: {node.value}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.startswith(("x-queue-type", "x-max-length", "x-message-ttl",
                                       "x-dead-letter", "x-delivery-limit", "x-overflow",
                                       "x-quorum"))]


def test_the_checks_see_what_they_look_for() -> None:
    source = (
        "import aio_pika\nfrom aio_pika.abc import AbstractQueue\nimport aiormq.exceptions\n"
        "from pamqp.commands import Basic\nimport json\nfrom shared.broker.publisher import connect\n"
        "async def f(ch):\n"
        "    await ch.declare_queue('q', arguments={'x-max-length': 5})\n"
        "    await ch.declare_queue('q', passive=True)\n"
        "    await ch.declare_exchange('e')\n"
    )
    assert amqp_imports(source) == ["1: aio_pika", "2: aio_pika.abc", "3: aiormq.exceptions",
                                    "4: pamqp.commands"]
    assert declarations(source) == ["8: declare_queue", "10: declare_exchange"]
    assert queue_arguments(source) == ["8: x-max-length"]


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_service_module_imports_an_amqp_client(path: Path) -> None:
    found = amqp_imports(path.read_text())
    assert not found, f"{path.relative_to(ROOT)} reaches the broker past shared/: {found}"


def test_only_the_topology_declares_exchanges_and_queues() -> None:
    found = {str(p.relative_to(ROOT)): hits for p in _modules("shared", "services", "prophoto")
             if p != TOPOLOGY and (hits := declarations(p.read_text()))}
    assert found == {}, f"declared outside shared/broker/topology.py: {found}"
    assert declarations(TOPOLOGY.read_text()), "the topology itself declares nothing?"


def test_queue_arguments_are_spelled_only_in_the_topology() -> None:
    found = {str(p.relative_to(ROOT)): hits for p in _modules("shared", "services", "prophoto")
             if p != TOPOLOGY and (hits := queue_arguments(p.read_text()))}
    assert found == {}, f"queue arguments spelled outside shared/broker/topology.py: {found}"
