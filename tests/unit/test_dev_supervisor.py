"""`prophoto dev`'s supervisor with stand-in children from the standard library."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import psutil

from services.dev import plan as dev_plan
from services.dev import supervisor as sup
from services.dev.plan import Child, pick_ports, prepare_environment, redact
from services.dev.supervisor import Supervisor


def test_preview_ports_start_at_the_configured_one_and_skip_taken_and_reserved_ports() -> None:
    busy = {9102, 9104}
    ports = pick_ports(9101, 3, reserved={9103}, is_free=lambda p: p not in busy)
    assert ports == [9101, 9105, 9106]


def test_development_defaults_never_override_what_the_user_set(tmp_path: Path) -> None:
    env = prepare_environment({"PROPHOTO_ENV": "test", "PATH": "/bin"}, tmp_path / "store")
    assert env["PROPHOTO_ENV"] == "test"
    assert env["PROPHOTO_TEMP_STORE"] == f"file://{tmp_path / 'store'}"
    assert env["PROPHOTO_FINAL_STORE"] == env["PROPHOTO_TEMP_STORE"]
    assert env["PYTHONUNBUFFERED"] == "1"
    assert prepare_environment({}, tmp_path)["PROPHOTO_ENV"] == "development"


def test_passwords_are_hidden_in_printed_urls() -> None:
    assert redact("amqp://guest:secret@mq:5672/") == "amqp://guest:***@mq:5672/"
    assert redact("postgresql://postgres@db/x") == "postgresql://postgres@db/x"


def test_only_services_with_a_main_module_are_planned(tmp_path: Path) -> None:
    from shared.settings import Settings

    out = io.StringIO()
    supervisor = Supervisor({}, preview_workers=2, out=out)
    children = supervisor.plan(Settings())
    planned = {c.module for c in children}
    assert planned == {f"services.{name}" for name in dev_plan.SERVICES}  # every service exists and runs
    previews = [c for c in children if c.module == "services.preview"]
    ports = [c.env["PROPHOTO_PREVIEW_METRICS_PORT"] for c in previews]
    assert [c.name for c in previews] == ["preview-1", "preview-2"] and len(set(ports)) == 2


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_child_that_keeps_dying_is_restarted_then_everything_stops_with_exit_1() -> None:
    out = io.StringIO()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    web = Child("web", "http.server", env, "32", args=["0", "--bind", "127.0.0.1"])
    zen = Child("zen", "this", env, "33")  # prints the Zen of Python and exits
    supervisor = Supervisor(env, out=out, backoff_s=0.01, stop_timeout=5)

    code = await supervisor.supervise([web, zen])

    text = out.getvalue()
    assert code == 1
    assert text.count("zen        | Beautiful is better than ugly.") == sup.GIVE_UP_AFTER
    assert "restarting zen in 0.01 s" in text
    assert "giving up, stopping everything" in text
    assert web.proc is not None and _gone(web.proc.pid)
    assert "supervisor | all services stopped" in text


async def test_a_stop_request_terminates_every_child_and_exits_0() -> None:
    out = io.StringIO()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    children = [Child(f"web-{i}", "http.server", env, "32", args=["0", "--bind", "127.0.0.1"])
                for i in range(2)]
    supervisor = Supervisor(env, out=out, stop_timeout=5)


    asyncio.get_running_loop().call_later(1.0, supervisor.request_stop)
    code = await supervisor.supervise(children)

    assert code == 0
    assert all(c.proc is not None and _gone(c.proc.pid) for c in children)
    assert "SIGTERM: stopping every service" in out.getvalue()
    assert "exited with code" not in out.getvalue()  # a requested stop is not a death


class _GonePipe(io.StringIO):
    """Output whose reader has gone away, as after the terminal or the parent process died."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


async def test_a_stop_request_still_stops_every_child_when_the_output_pipe_is_gone() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    children = [Child(f"web-{i}", "http.server", env, "32", args=["0", "--bind", "127.0.0.1"])
                for i in range(2)]
    supervisor = Supervisor(env, out=_GonePipe(), stop_timeout=5)

    asyncio.get_running_loop().call_later(1.5, supervisor.request_stop)
    code = await asyncio.wait_for(supervisor.supervise(children), timeout=30)

    assert code == 0 and supervisor.output_lost
    assert all(c.proc is not None and _gone(c.proc.pid) for c in children)
