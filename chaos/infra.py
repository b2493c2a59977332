"""Servers of our own to break: a PostgreSQL instance and a RabbitMQ cluster.

Neither touches the machine's default PostgreSQL cluster or RabbitMQ node:
`OwnPostgres` runs `initdb` into a temporary directory and serves on its own
port; `RabbitCluster` drives `scripts/rabbit-cluster.sh` (extra nodes with
their own names, ports, data and Erlang cookie). Both are removed by `close()`,
which the fixtures and `make chaos` call on every exit path.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PROPHOTO_PG_BIN", "/usr/lib/postgresql/15/bin"))
CLUSTER_SCRIPT = REPO / "scripts" / "rabbit-cluster.sh"


def _as_user(user: str, argv: list[str]) -> list[str]:
    """`argv` run as `user` when we are root (postgres and RabbitMQ refuse to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", user, "--", *argv]
    return argv


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port_run(count: int, start: int, step: int = 1) -> int:
    """A first port from which `count` ports (and the same runs +100 and +200) are all free."""
    port = start
    while port < 60000:
        wanted = [port + off + i for off in (0, 100, 200) for i in range(count)]
        if not any(port_open(p) for p in wanted) and all(bindable(p) for p in wanted):
            return port
        port += max(step, count)
    raise RuntimeError("no free run of ports")


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class OwnPostgres:
    """A throw-away PostgreSQL 15 instance on its own port, restartable at will."""

    def __init__(self, port: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="prophoto-pg-"))
        self.dir.chmod(0o755)
        self.data = self.dir / "data"
        self.port = port or free_port_run(1, 22432)
        self.log = self.dir / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_user("postgres", [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                                  "-U", "postgres", "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True, timeout=120)
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c max_connections=200 -c full_page_writes=off")
        (self.dir / "options").write_text(options)
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/prophoto"

    def _pg_ctl(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(_as_user("postgres", [str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
                       check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        self._pg_ctl("-l", str(self.log), "-o", (self.dir / "options").read_text(), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def restart(self, down_s: float = 0.0) -> None:
        """Stop in fast mode (clients are disconnected), stay down `down_s`, start again."""
        self.stop("fast")
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (subprocess.SubprocessError, OSError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitCluster:
    """Extra RabbitMQ nodes clustered together, beside the default node."""

    def __init__(self, nodes: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="prophoto-rmq-"))
        self.dir.chmod(0o755)  # the nodes run as `rabbitmq` and must reach their files
        self.count = nodes
        # below the ephemeral range (32768+), where any outgoing connection may take a port
        self.base_port = free_port_run(nodes, 21000)
        try:
            out = subprocess.run(
                ["bash", str(CLUSTER_SCRIPT), "start", str(self.dir / "c"), str(nodes),
                 str(self.base_port)], check=True, capture_output=True, text=True, timeout=300)
        except subprocess.CalledProcessError as exc:
            self.close()
            raise RuntimeError(f"the cluster did not start (exit {exc.returncode}): "
                               f"{(exc.stderr or '').strip()[-2000:]}") from exc
        except subprocess.SubprocessError:
            self.close()
            raise
        self.urls = out.stdout.strip().splitlines()[-1].split(",")

    @property
    def amqp_url(self) -> str:
        return ",".join(self.urls)

    @property
    def prometheus_urls(self) -> list[str]:
        """Each node's rabbitmq_prometheus endpoint (the AMQP port + 200)."""
        return [f"http://127.0.0.1:{self.port(n) + 200}" for n in range(1, self.count + 1)]

    def port(self, node: int) -> int:
        return self.base_port + node - 1

    def node_of_port(self, port: int) -> int:
        return port - self.base_port + 1

    def _script(self, *args: str, timeout: float = 180) -> str:
        out = subprocess.run(["bash", str(CLUSTER_SCRIPT), *args], check=True,
                             capture_output=True, text=True, timeout=timeout)
        return out.stdout

    def kill(self, node: int) -> None:
        """SIGKILL node `node` (1-based): no goodbye to its clients or peers."""
        self._script("kill", str(self.dir / "c"), str(node))

    def revive(self, node: int) -> None:
        self._script("revive", str(self.dir / "c"), str(node))

    def kill_all(self) -> None:
        self._script("kill-all", str(self.dir / "c"))

    def revive_all(self) -> None:
        self._script("revive-all", str(self.dir / "c"), timeout=400)

    def alive(self, node: int) -> bool:
        return port_open(self.port(node))

    def ctl(self, node: int, *args: str) -> str:
        """`rabbitmqctl ARGS` against node `node`: its output."""
        return self._script("ctl", str(self.dir / "c"), str(node), *args, timeout=60)

    def leader(self, queue: str) -> int:
        """The node (1-based) that leads quorum queue `queue` now."""
        for node in range(1, self.count + 1):
            if not self.alive(node):
                continue
            out = self._script("ctl", str(self.dir / "c"), str(node), "-q", "list_queues",
                               "name", "leader", "--no-table-headers", timeout=60)
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == queue:
                    tag = parts[1].split("@")[0]
                    return int(tag.rsplit("-", 1)[1])
            break
        raise LookupError(f"no leader found for {queue}")

    def close(self) -> None:
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", str(self.dir / "c")],
                       capture_output=True, timeout=120, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
