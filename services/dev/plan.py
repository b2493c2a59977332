"""What `prophoto dev` starts: the children's environment, their ports, one `Child` per process.

Every service that has a `services/<name>/__main__.py` runs once, except the
preview worker, which runs `preview_workers` times, each on its own free
metrics port (the other services' ports are never taken).
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from shared.settings import Settings

SERVICES = ("upload", "preview", "finalize", "enhance", "tracing")
COLOURS = ("36", "32", "33", "35", "34", "96", "92", "93", "95", "94")


class DevError(Exception):
    """`prophoto dev` cannot go on; str(error) is the one line the command prints."""


@dataclass
class Child:
    name: str
    module: str
    env: dict[str, str]
    colour: str
    args: list[str] = field(default_factory=list)
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    fast_failures: int = 0
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)



def prepare_environment(env: dict[str, str], store: Path) -> dict[str, str]:
    """The children's environment: development defaults unless already set."""
    env = dict(env)
    env.setdefault("PROPHOTO_ENV", "development")
    store_url = f"file://{store.resolve()}"
    env.setdefault("PROPHOTO_TEMP_STORE", store_url)
    env.setdefault("PROPHOTO_FINAL_STORE", store_url)
    env["PYTHONUNBUFFERED"] = "1"  # log lines arrive as they are written
    return env


def service_exists(name: str) -> bool:
    """`python -m services.<name>` would run: the package has a `__main__`."""
    try:
        return importlib.util.find_spec(f"services.{name}.__main__") is not None
    except ModuleNotFoundError:
        return False


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_ports(
    first: int, count: int, reserved: set[int], is_free: Callable[[int], bool] = port_free
) -> list[int]:
    """`count` free ports from `first` upwards, skipping the other services' ports."""
    ports: list[int] = []
    candidate = first
    while len(ports) < count:
        if candidate > 65535:
            raise DevError(f"no free port for preview worker {len(ports) + 1} above {first}")
        if candidate not in reserved and is_free(candidate):
            ports.append(candidate)
        candidate += 1
    return ports


def redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        netloc = f"{parsed.username}:***@{parsed.hostname}" + (
            f":{parsed.port}" if parsed.port else ""
        )
        return urlunparse(parsed._replace(netloc=netloc))
    return url



def plan_children(settings: Settings, env: dict[str, str], preview_workers: int
                  ) -> tuple[list[Child], list[str]]:
    """The children to start, and the services that cannot be started yet."""
    children: list[Child] = []
    missing = [name for name in SERVICES if not service_exists(name)]
    reserved = {
        settings.upload_port,
        settings.tracing_port,
        settings.finalize_metrics_port,
        settings.enhance_metrics_port,
        settings.upload_metrics_port,
        settings.tracing_metrics_port,
    }
    ports = pick_ports(settings.preview_metrics_port, preview_workers, reserved)
    for name in SERVICES:
        if name in missing:
            continue
        colour = COLOURS[len(children) % len(COLOURS)]
        if name != "preview":
            # workers announce themselves: the tracing service needs no list
            children.append(Child(name, f"services.{name}", dict(env), colour))
            continue
        for index, port in enumerate(ports, start=1):
            port_env = dict(env, PROPHOTO_PREVIEW_METRICS_PORT=str(port))
            colour = COLOURS[len(children) % len(COLOURS)]
            children.append(Child(f"preview-{index}", "services.preview", port_env, colour))
    return children, missing
