"""`prophoto dev`: every service of the pipeline as child processes of one command.

Why a supervisor of our own rather than honcho/foreman: it must prepare the
database and the broker topology first (with the same code the services
use), give each preview worker its own metrics port, and restart a worker
that dies, which a Procfile runner does not do.

Children run in their own process groups, so the terminal's Ctrl-C reaches
only the supervisor, which then stops them in order: SIGTERM to each group
(the services shut down gracefully, their ExifTool helpers with them), then
SIGKILL to whatever is left after the stop timeout. On Linux each child also
gets SIGTERM if the supervisor itself is killed outright.

Before starting anything it prepares the database and the broker
(`prepare`); what it starts comes from `plan`.

A child that dies is reported and restarted with exponential backoff (1 s
doubling to 30 s, reset once it has stayed up 30 s). A child that dies
`GIVE_UP_AFTER` times in a row within 30 s of starting is broken, not
unlucky: the supervisor stops everything and exits 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

import httpx

from services.dev.plan import Child, DevError, plan_children
from services.dev.prepare import prepare_backends
from shared.settings import DEV_TOKEN, Settings

STABLE_AFTER_S = 30.0
MAX_BACKOFF_S = 30.0
GIVE_UP_AFTER = 5


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    def __init__(
        self,
        env: dict[str, str],
        *,
        preview_workers: int = 1,
        restart: bool = True,
        stop_timeout: float = 10.0,
        out: TextIO | None = None,
        backoff_s: float = 1.0,
    ) -> None:
        self.env = env
        self.backoff_s = backoff_s
        self.preview_workers = preview_workers
        self.restart = restart
        self.stop_timeout = stop_timeout
        self.out = out or sys.stdout
        self.colour = self.out.isatty() and "NO_COLOR" not in env
        self.children: list[Child] = []
        self.width = len("supervisor")
        self.stopping = asyncio.Event()
        self.exit_code = 0
        self.output_lost = False

    # -- output -------------------------------------------------------------
    def emit(self, name: str, line: str, colour: str = "1") -> None:
        if self.output_lost:
            return
        prefix = f"{name:<{self.width}} |"
        if self.colour:
            prefix = f"\x1b[{colour}m{prefix}\x1b[0m"
        try:
            self.out.write(f"{prefix} {line}\n")
            self.out.flush()
        except (OSError, ValueError):
            # whatever read us is gone (a closed terminal, a killed parent's pipe): lines are
            # dropped from now on, but the children's output is still drained and a stop
            # request still stops them, instead of both dying with the first failed write
            self.output_lost = True

    def say(self, line: str) -> None:
        self.emit("supervisor", line)

    # -- plan -----------------------------------------------------------------
    def plan(self, settings: Settings) -> list[Child]:
        children, missing = plan_children(settings, self.env, self.preview_workers)
        if missing:
            self.say(f"not started (no services/<name>/__main__.py yet): {', '.join(missing)}")
        return children

    # -- lifecycle ----------------------------------------------------------
    def run(self) -> int:
        os.environ.update(self.env)  # Settings() below reads the same values as the children
        return asyncio.run(self._main())

    async def _main(self) -> int:
        settings = self._settings()
        await self._prepare(settings)
        children = self.plan(settings)
        if not children:
            raise DevError("no service can be started yet (no services/<name>/__main__.py)")
        return await self.supervise(children, lambda: self._banner(settings))

    async def supervise(
        self, children: list[Child], banner: Callable[[], Coroutine[Any, Any, None]] | None = None
    ) -> int:
        """Start `children`, keep them running until SIGINT/SIGTERM, stop them; the exit code."""
        self.children = children
        self.width = max(self.width, *(len(c.name) for c in self.children))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, sig)
        for child in self.children:
            await self._start(child)
        shown = asyncio.create_task(banner()) if banner else None
        await self.stopping.wait()
        if shown:
            shown.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await self._stop_all()
        return self.exit_code

    def _settings(self) -> Settings:
        try:
            settings = Settings()
            settings.tokens()
        except ValueError as exc:
            raise DevError(f"invalid settings: {str(exc).splitlines()[0]}") from exc
        return settings

    async def _prepare(self, settings: Settings) -> None:
        await prepare_backends(settings, self.say, self.backoff_s)

    def request_stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if not self.stopping.is_set():
            self.say(f"{sig.name}: stopping every service")
            self.stopping.set()

    async def _start(self, child: Child) -> None:
        child.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            child.module,
            *child.args,
            env=child.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=1024 * 1024,
            process_group=0,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        child.started_at = time.monotonic()
        port = child.env.get("PROPHOTO_PREVIEW_METRICS_PORT")
        self.say(
            f"started {child.name} (pid {child.proc.pid}, python -m {child.module}"
            + (f", metrics port {port})" if port and child.name.startswith("preview") else ")")
        )
        child.tasks = [
            asyncio.create_task(self._pump(child, child.proc)),
            asyncio.create_task(self._watch(child, child.proc)),
        ]

    async def _pump(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except ValueError:  # a line longer than the limit: show it in pieces
                raw = await proc.stdout.read(64 * 1024)
            if not raw:
                return
            self.emit(child.name, raw.decode(errors="replace").rstrip("\r\n"), child.colour)

    async def _watch(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if self.stopping.is_set():
            return
        uptime = time.monotonic() - child.started_at
        self.say(f"{child.name} exited with code {code} after {uptime:.1f} s")
        if not self.restart:
            self.exit_code = 1
            self.stopping.set()
            return
        child.fast_failures = child.fast_failures + 1 if uptime < STABLE_AFTER_S else 1
        if child.fast_failures >= GIVE_UP_AFTER:
            self.say(
                f"{child.name} died {child.fast_failures} times in a row within "
                f"{STABLE_AFTER_S:.0f} s of starting: giving up, stopping everything"
            )
            self.exit_code = 1
            self.stopping.set()
            return
        delay = min(MAX_BACKOFF_S, self.backoff_s * 2.0 ** (child.fast_failures - 1))
        self.say(f"restarting {child.name} in {delay:g} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)
        if not self.stopping.is_set():
            await self._start(child)

    async def _stop_all(self) -> None:
        running = [c for c in self.children if c.proc and c.proc.returncode is None]
        for child in running:
            self._signal_group(child, signal.SIGTERM)
        waits = [c.proc.wait() for c in running if c.proc]
        if waits:
            _, pending = await asyncio.wait(
                [asyncio.ensure_future(w) for w in waits], timeout=self.stop_timeout
            )
            if pending:
                late = len(pending)
                self.say(f"{late} service(s) still up after {self.stop_timeout:.0f} s: killing")
        for child in self.children:  # leaders and anything they left behind in their group
            self._signal_group(child, signal.SIGKILL)
        for child in self.children:
            if child.proc:
                await child.proc.wait()
            for task in child.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 2)
        self.say("all services stopped")

    @staticmethod
    def _signal_group(child: Child, sig: signal.Signals) -> None:
        if child.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, sig)

    async def _banner(self, settings: Settings) -> None:
        wildcard = settings.upload_host in ("0.0.0.0", "::", "")  # noqa: S104
        host = "127.0.0.1" if wildcard else settings.upload_host
        upload_url = f"http://{host}:{settings.upload_port}"
        if any(c.name == "upload" for c in self.children):
            ready = await _wait_http(f"{upload_url}/healthz", 60.0, self.stopping)
            if self.stopping.is_set():
                return
            self.say(f"web page    {upload_url}/" + ("" if ready else "  [not answering /healthz yet]"))
            self.say(f"upload API  {upload_url}  (OpenAPI {upload_url}/docs)")
        if any(c.name == "tracing" for c in self.children):
            self.say(f"debug page  http://127.0.0.1:{settings.tracing_port}/admin/ingest-traces")
        tokens = settings.tokens()
        if DEV_TOKEN in tokens:
            self.say(f"dev token   {DEV_TOKEN}   e.g. prophoto upload --wait -r ~/Pictures")
        else:
            self.say(f"tokens      {len(tokens)} from PROPHOTO_API_TOKENS")
        self.say("Ctrl-C stops everything")


async def _wait_http(url: str, within_s: float, stop: asyncio.Event) -> bool:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline and not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return True
            await asyncio.sleep(0.3)
    return False
