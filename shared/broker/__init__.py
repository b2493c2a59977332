"""The one route to the broker: what every service uses to publish, consume and look.

* `topology`: every exchange, queue, routing key and queue argument, with the
  flow drawn in its docstring; nothing else declares a queue.
* `connections`: robust connections that move round the nodes of a cluster.
* `publisher`: `AmqpPublisher`, confirmed publishing that drops a channel a
  publish failed on, and `publish_command` / `publish_trace` / `publish_status`.
* `backoff`: jittered exponential delays and the publisher's failure record.
* `outbox`: the transactional outbox and `OutboxRelay`, which carries its rows
  to the broker through the publisher.
* `probe`: `BrokerProbe`, queue depths and the broker's identity, for the
  tracing service's queue monitor.

The package itself imports nothing, so importing `topology` does not pull in
the publisher.
"""
