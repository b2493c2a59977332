"""`python -m chaos [--uploads N] [--clients C] [--seed S] ...`: run the soak, print its report.

Then the leader-loss scenario (`chaos/leaders.py`: each work queue's leader
killed while its commands are published, and a frozen preview worker) on
the same cluster; `--scenario soak` or `--scenario leaders` runs one only.
Exit status 0 when every check passed, 1 on any loss, duplicate, stuck item
or missed deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from chaos.infra import OwnPostgres, RabbitCluster
from chaos.leaders import LeaderLoss, LeaderLossConfig
from chaos.soak import Soak, SoakConfig, free_ports, migrate_and_declare


def parse(argv: list[str]) -> tuple[SoakConfig, bool, str]:
    d = SoakConfig()
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    p.add_argument("--uploads", type=int, default=d.uploads)
    p.add_argument("--clients", type=int, default=d.clients)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--preview-workers", type=int,
                   default=int(os.environ.get("PREVIEW_WORKERS", d.preview_workers)),
                   help="preview worker processes (default: PREVIEW_WORKERS, else 2)")
    p.add_argument("--fault-every", type=float, default=d.fault_every_s, help="seconds between faults")
    p.add_argument("--node-down", type=float, default=d.node_down_s, help="seconds a killed node stays down")
    p.add_argument("--database-down", type=float, default=d.database_down_s,
                   help="seconds PostgreSQL stays down in a restart")
    p.add_argument("--broker-outage", type=float, default=d.broker_outage_s,
                   help="also kill the whole cluster for this many seconds (once)")
    p.add_argument("--pace", type=float, default=d.pace_s,
                   help="each client's pause between uploads, seconds")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, store)")
    p.add_argument("--scenario", choices=("all", "soak", "leaders"), default="all",
                   help="the soak, the leader-loss scenario, or both (default)")
    a = p.parse_args(argv)
    return SoakConfig(uploads=a.uploads, clients=a.clients, seed=a.seed,
                      preview_workers=a.preview_workers, fault_every_s=a.fault_every,
                      node_down_s=a.node_down, database_down_s=a.database_down,
                      pace_s=a.pace, broker_outage_s=a.broker_outage), a.keep, a.scenario


async def soak(config: SoakConfig, workdir: Path, scenario: str = "all") -> int:
    print("starting a PostgreSQL instance and a 3-node RabbitMQ cluster of our own ...", flush=True)
    postgres = await asyncio.to_thread(OwnPostgres)
    cluster: RabbitCluster | None = None
    try:
        cluster = await asyncio.to_thread(RabbitCluster, 3)
        print(f"  PostgreSQL on port {postgres.port}; RabbitMQ nodes {cluster.amqp_url}", flush=True)
        failed = False
        if scenario in ("all", "soak"):
            run = Soak(config, postgres, cluster, workdir / "soak")
            (workdir / "soak").mkdir()
            await migrate_and_declare(run.settings)
            report = await run.run()
            print(report.render(), flush=True)
            failed |= bool(report.problems())
        if scenario in ("all", "leaders"):
            (workdir / "leaders").mkdir()
            leaders = LeaderLoss(LeaderLossConfig(preview_workers=config.preview_workers,
                                                  seed=config.seed),
                                 postgres, cluster, workdir / "leaders", free_ports(7))
            await migrate_and_declare(leaders.settings)
            lead_report = await leaders.run()
            print(lead_report.render(), flush=True)
            failed |= bool(lead_report.problems())
        return 1 if failed else 0
    finally:
        if cluster is not None:
            await asyncio.to_thread(cluster.close)
        await asyncio.to_thread(postgres.close)


def main(argv: list[str] | None = None) -> int:
    config, keep, scenario = parse(sys.argv[1:] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="prophoto-chaos-"))
    try:
        return asyncio.run(soak(config, workdir, scenario))
    finally:
        if keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
