"""`make chaos`: the pipeline under the faults production brings together.

`python -m chaos --uploads 300` starts a PostgreSQL of its own and a 3-node
RabbitMQ cluster of its own (never the machine's default servers), runs
`prophoto dev` against them, soaks it with unique uploads while a seeded
schedule kills services, cluster nodes and the database, then checks that
nothing was lost, doubled or left stuck (see `chaos.soak`).
"""
