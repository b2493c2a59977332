"""The node list in PROPHOTO_AMQP_URL, and what it changes in the topology."""

from __future__ import annotations

import pytest
from yarl import URL

from shared.broker.connections import DEFAULT_HEARTBEAT_S, node_urls
from shared.broker.publisher import amqp_urls, failover_class
from shared.broker.topology import Topology
from shared.settings import Settings

THREE = "amqp://u:p@a:5672/,amqp://u:p@b:5672/, amqp://u:p@c:5672/"


def test_the_url_may_list_several_nodes_in_order():
    assert amqp_urls(THREE) == ["amqp://u:p@a:5672/", "amqp://u:p@b:5672/", "amqp://u:p@c:5672/"]
    assert amqp_urls("amqp://x/") == ["amqp://x/"]
    with pytest.raises(ValueError):
        amqp_urls(" , ")


def test_the_failover_connection_knows_every_node():
    cls = failover_class(THREE)
    assert cls.nodes == (URL("amqp://u:p@a:5672/?heartbeat=10"), URL("amqp://u:p@b:5672/?heartbeat=10"),
                         URL("amqp://u:p@c:5672/?heartbeat=10"))


def test_every_node_asks_for_the_heartbeat_setting_unless_its_url_names_one():
    # aiormq sends its own value in Connection.TuneOk, and RabbitMQ takes it: 60 s when unset
    assert node_urls("amqp://u:p@a:5672/,amqp://u:p@b:5672/?heartbeat=30", 15) == [
        URL("amqp://u:p@a:5672/?heartbeat=15"), URL("amqp://u:p@b:5672/?heartbeat=30")]
    assert Settings().amqp_heartbeat_s == DEFAULT_HEARTBEAT_S == 10
    assert Settings().broker.heartbeat_s == 10


def test_quorum_queues_get_three_members_on_a_cluster_of_three_or_more():
    work = Topology(Settings(amqp_url=THREE)).work_queue_arguments()
    assert work["x-quorum-initial-group-size"] == 3
    assert work["x-queue-type"] == "quorum"


def test_a_single_node_declares_exactly_what_it_always_did():
    # an extra argument on an existing queue would fail its declaration (inequivalent args)
    for args in (Topology(Settings()).work_queue_arguments(),
                 Topology(Settings()).failed_queue_arguments()):
        assert "x-quorum-initial-group-size" not in args


def test_the_group_size_is_a_setting():
    settings = Settings(amqp_url=THREE, quorum_initial_group_size=5)
    assert Topology(settings).wait_queue_arguments(settings.queue_preview, 10)[
        "x-quorum-initial-group-size"] == 5
