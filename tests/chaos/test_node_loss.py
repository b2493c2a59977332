"""Whole-pipeline runs against a 3-node RabbitMQ cluster and a PostgreSQL of their own.

Each test is a short soak (`chaos.soak`) with one planned fault: uploads keep
coming from retrying clients while it strikes, then every ready proxy is
confirmed and the checker counts. A test passes only when every upload
answered 2xx ended as a ready proxy exactly once and became exactly one Image
with the uploaded bytes, nothing is left queued or stuck, and every service
is ready again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.infra import OwnPostgres, RabbitCluster
from chaos.soak import Report, Soak, SoakConfig, migrate_and_declare

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def soak(config: SoakConfig, postgres: OwnPostgres, cluster: RabbitCluster,
               workdir: Path) -> Report:
    run = Soak(config, postgres, cluster, workdir)
    await migrate_and_declare(run.settings)
    report = await run.run()
    print(report.render())
    return report


async def test_killing_the_node_that_leads_the_preview_queue_loses_and_doubles_nothing(
    tmp_path: Path, own_postgres: OwnPostgres, rabbit_cluster: RabbitCluster
):
    config = SoakConfig(uploads=24, clients=2, preview_workers=2, fault_every_s=1.5,
                        node_down_s=4.0, pace_s=0.3, fault_plan=("kill preview leader node",))
    report = await soak(config, own_postgres, rabbit_cluster, tmp_path)
    assert report.faults[0].kind.startswith("SIGKILL RabbitMQ node")
    assert "leader of the preview queue" in report.faults[0].detail
    assert report.problems() == [], report.render()
    assert report.ready == 24 and report.images == 24


async def test_a_node_restart_with_work_in_both_preview_lanes_loses_and_doubles_nothing(
    tmp_path: Path, own_postgres: OwnPostgres, rabbit_cluster: RabbitCluster
):
    # every other upload on the bulk lane, one worker: both lanes hold work when the leader of
    # the bulk lane's queue dies and comes back
    config = SoakConfig(uploads=32, clients=4, preview_workers=1, fault_every_s=1.0,
                        node_down_s=4.0, pace_s=0.05, bulk_every=2, seed=3,
                        fault_plan=("kill bulk leader node",))
    report = await soak(config, own_postgres, rabbit_cluster, tmp_path)
    assert "leader of the preview queue (bulk lane)" in report.faults[0].detail
    assert report.problems() == [], report.render()
    assert report.ready == 32 and report.images == 32


async def test_killing_the_upload_services_node_loses_and_doubles_nothing(
    tmp_path: Path, own_postgres: OwnPostgres, rabbit_cluster: RabbitCluster
):
    config = SoakConfig(uploads=24, clients=2, preview_workers=2, fault_every_s=1.5,
                        node_down_s=4.0, pace_s=0.3, fault_plan=("kill upload node",))
    report = await soak(config, own_postgres, rabbit_cluster, tmp_path)
    assert "the upload service's node" in report.faults[0].detail
    assert report.problems() == [], report.render()
    assert report.ready == 24 and report.images == 24


async def test_a_database_restart_under_load_answers_503_never_500_and_loses_nothing(
    tmp_path: Path, own_postgres: OwnPostgres, rabbit_cluster: RabbitCluster
):
    config = SoakConfig(uploads=30, clients=3, preview_workers=2, fault_every_s=1.0,
                        database_down_s=3.0, pace_s=0.2, fault_plan=("restart database",))
    report = await soak(config, own_postgres, rabbit_cluster, tmp_path)
    assert report.faults and report.faults[0].kind.startswith("PostgreSQL restart")
    assert report.problems() == [], report.render()  # no plain 500, no hang, nothing lost
    assert report.answers.get("503", 0) > 0, report.answers  # the outage was met, and answered
    assert report.ready == 30 and report.images == 30


async def test_a_short_soak_with_every_kind_of_fault_loses_and_doubles_nothing(
    tmp_path: Path, own_postgres: OwnPostgres, rabbit_cluster: RabbitCluster
):
    config = SoakConfig(uploads=40, clients=4, preview_workers=2, fault_every_s=1.0,
                        node_down_s=3.0, database_down_s=2.0, seed=7, pace_s=0.5,
                        fault_plan=("kill preview", "kill node", "kill finalize", "kill upload",
                                    "restart database", "kill enhance"))
    report = await soak(config, own_postgres, rabbit_cluster, tmp_path)
    assert len(report.faults) == 6
    assert report.problems() == [], report.render()
