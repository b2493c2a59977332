"""What the broker says about its queues: depths and its own identity, over one connection.

`BrokerProbe.depths(names)` answers ready messages and consumers per queue
from passive declares over AMQP (a queue that does not exist answers an
empty `Depth`), or, when RabbitMQ's management API is configured, ready,
unacked and consumers from one HTTP call, or, when the nodes'
`rabbitmq_prometheus` endpoints are configured, from their per-queue
`/metrics/detailed` (each queue is reported by the node that leads it, so
every node is asked; a queue no node reported, say one between leaders, is
read over AMQP). Either HTTP source falls back to AMQP when it fails. The
tracing service's queue monitor reads the broker only through this.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from aio_pika.abc import AbstractRobustConnection
from prometheus_client.parser import text_string_to_metric_families

from shared.broker.connections import dropped_is_an_error

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT_S = 2.0
#: rabbitmq_prometheus's per-queue gauges (the parser drops no suffix from a gauge's name)
PROMETHEUS_FIELDS = {
    "rabbitmq_detailed_queue_messages_ready": "ready",
    "rabbitmq_detailed_queue_messages_unacked": "unacked",
    "rabbitmq_detailed_queue_consumers": "consumers",
}


@dataclass
class Depth:
    ready: int | None = None
    unacked: int | None = None
    consumers: int | None = None

@dataclass
class BrokerProbe:
    """Queue depths and the broker's identity over one AMQP connection."""

    connection: AbstractRobustConnection
    management_url: str = ""
    amqp_url: str = ""
    client: httpx.AsyncClient | None = None
    #: the nodes' rabbitmq_prometheus endpoints, comma-separated (http://node:15692,...)
    prometheus_url: str = ""

    def identity(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        try:
            props = dict(self.connection.transport.connection.server_properties)  # type: ignore[union-attr]
        except AttributeError:
            pass
        return {k: _text(props.get(k)) for k in ("product", "version", "cluster_name", "platform")}

    async def depths(self, names: list[str]) -> dict[str, Depth]:
        if self.management_url and self.client is not None:
            try:
                return await self._depths_from_management(names)
            except (httpx.HTTPError, ValueError, KeyError):
                log.warning("management API unavailable; using passive declares", exc_info=True)
        if self.prometheus_url and self.client is not None:
            try:
                found = await self._depths_from_prometheus(names)
            except (httpx.HTTPError, ValueError):
                log.warning("no Prometheus endpoint answered; using passive declares",
                            exc_info=True)
            else:
                rest = [n for n in names if n not in found]
                return found | (await self._depths_from_amqp(rest) if rest else {})
        return await self._depths_from_amqp(names)

    async def _depths_from_prometheus(self, names: list[str]) -> dict[str, Depth]:
        """Ready, unacked and consumers of `names` from every node that reports them."""
        assert self.client is not None
        vhost = urlsplit(self.amqp_url.split(",")[0]).path.lstrip("/") or "/"
        wanted = set(names)
        out: dict[str, Depth] = {}
        answered = 0
        for base in (u.strip() for u in self.prometheus_url.split(",") if u.strip()):
            try:
                response = await self.client.get(
                    f"{base.rstrip('/')}/metrics/detailed",
                    params=[("vhost", vhost), ("family", "queue_coarse_metrics"),
                            ("family", "queue_consumer_count")],
                    timeout=SCRAPE_TIMEOUT_S)
                response.raise_for_status()
            except httpx.HTTPError:
                continue  # that node is down: another leads its queues now
            answered += 1
            for family in text_string_to_metric_families(response.text):
                field = PROMETHEUS_FIELDS.get(family.name)
                if field is None:
                    continue
                for sample in family.samples:
                    queue = sample.labels.get("queue", "")
                    if queue in wanted and sample.labels.get("vhost", vhost) == vhost:
                        setattr(out.setdefault(queue, Depth()), field, int(sample.value))
        if not answered:
            raise httpx.ConnectError("no rabbitmq_prometheus endpoint answered")
        return {q: d for q, d in out.items() if d.ready is not None and d.consumers is not None}

    async def _depths_from_amqp(self, names: list[str]) -> dict[str, Depth]:
        out: dict[str, Depth] = {}
        channel = await self.connection.channel()
        try:
            for name in names:
                if channel.is_closed:  # a missing queue closes the channel (404)
                    channel = await self.connection.channel()
                try:
                    with dropped_is_an_error("passive declare"):
                        queue = await channel.declare_queue(name, passive=True)
                except Exception:
                    out[name] = Depth()
                    continue
                result = queue.declaration_result
                out[name] = Depth(ready=result.message_count, consumers=result.consumer_count)
        finally:
            if not channel.is_closed:
                await channel.close()
        return out

    async def _depths_from_management(self, names: list[str]) -> dict[str, Depth]:
        assert self.client is not None
        parts = urlsplit(self.management_url)
        base = urlunsplit(parts._replace(netloc=parts.hostname or "" if not parts.port
                                          else f"{parts.hostname}:{parts.port}"))
        auth = (parts.username or "guest", parts.password or "guest")
        vhost = quote(urlsplit(self.amqp_url).path.lstrip("/") or "/", safe="")
        response = await self.client.get(f"{base.rstrip('/')}/api/queues/{vhost}", auth=auth,
                                         timeout=SCRAPE_TIMEOUT_S)
        response.raise_for_status()
        by_name = {q["name"]: q for q in response.json()}
        out: dict[str, Depth] = {}
        for name in names:
            q = by_name.get(name)
            out[name] = Depth() if q is None else Depth(
                ready=int(q.get("messages_ready", 0)),
                unacked=int(q.get("messages_unacknowledged", 0)),
                consumers=int(q.get("consumers", 0)),
            )
        return out


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
