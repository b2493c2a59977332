"""The testcontainers path of tests/fixtures/services.py, checked without a Docker engine."""

from __future__ import annotations

from tests.fixtures import services

POSTGRES_FIRST_START = """\
PostgreSQL init process complete; ready for start up.
2026-12-01 22:00:00.1 UTC [48] LOG:  database system is ready to accept connections
waiting for server to shut down.... done
2026-12-01 22:00:01.5 UTC [1] LOG:  database system is ready to accept connections
"""


def test_postgres_counts_as_ready_only_after_the_real_servers_line():
    temporary_only = POSTGRES_FIRST_START.rsplit("\n", 2)[0]
    assert services.POSTGRES_READY.search(temporary_only) is None
    assert services.POSTGRES_READY.search(POSTGRES_FIRST_START) is not None


def test_wait_strategies_come_from_testcontainers_with_a_startup_timeout():
    strategy = services._ready("Server startup complete")
    assert type(strategy).__name__ == "LogMessageWaitStrategy"
    assert strategy._message.search("... Server startup complete; 4 plugins started.")
    assert strategy._startup_timeout == 180


def test_without_a_docker_engine_the_local_services_are_used_and_said_so(monkeypatch):
    monkeypatch.setattr(services, "_chosen", None)
    monkeypatch.delenv("PROPHOTO_TEST_AMQP_URL", raising=False)
    monkeypatch.delenv("PROPHOTO_TEST_DATABASE_URL", raising=False)
    monkeypatch.setattr(services, "docker_reachable", lambda: False)
    chosen = services.endpoints()
    assert chosen.amqp_url == services.LOCAL_AMQP and chosen.database_url == services.LOCAL_DATABASE
    assert "testcontainers is not used" in chosen.source
