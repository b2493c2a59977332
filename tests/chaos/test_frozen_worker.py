"""A preview worker frozen (SIGSTOP) with two jobs in hand reads `stalled`, and not after SIGCONT.

The issue's bounds, measured on a stack of `prophoto dev` (two preview
workers) on the session's cluster: `stalled` on `/v1/queue-status` and the
debug page within 40 s of the freeze, and no longer within 10 s of SIGCONT,
both by a tracing service reading the nodes' Prometheus endpoints (unacked
counts) and by one reading the broker over AMQP only. The hold is certain,
not caught by luck: the worker is frozen while idle, photos are uploaded, and
the broker is asked how many deliveries the frozen process's connections hold
before the verdicts count (chaos/frozen.py, also a phase of `make chaos`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.frozen import AMQP_ONLY, PROMETHEUS
from chaos.infra import OwnPostgres, RabbitCluster
from chaos.leaders import LeaderLoss, LeaderLossConfig
from chaos.soak import free_ports, migrate_and_declare

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_a_worker_frozen_with_two_jobs_in_hand_reads_stalled_within_40_s_and_not_10_s_after_it_wakes(
    tmp_path: Path, own_postgres: OwnPostgres, rabbit_cluster: RabbitCluster
):
    run = LeaderLoss(LeaderLossConfig(phases=("frozen",)), own_postgres, rabbit_cluster, tmp_path,
                     free_ports(7))
    await migrate_and_declare(run.settings)
    report = await run.run()
    print(report.render())
    frozen = report.frozen
    assert frozen is not None and frozen.error is None, report.render()
    assert frozen.held >= 2  # counted by the broker on the frozen process's own channels
    seen = {o.name: o for o in frozen.observers}
    assert set(seen) == {PROMETHEUS, AMQP_ONLY}
    for o in seen.values():
        assert o.stalled_after_s is not None and o.stalled_after_s <= 40, report.render()
        assert o.page_stalled, report.render()
        assert o.resumed_after_s is not None and o.resumed_after_s <= 10, report.render()
    assert report.problems() == [], report.render()
    assert report.restarts == {}
