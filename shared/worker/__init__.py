"""The worker harness: how a queue message becomes a job, and what happens to it after.

A job module (`services/*/preview.py`, `finalize.py`...) imports only
`spec` and `context`; the rest is plumbing it never sees.

* `spec`: what a worker declares (`WorkerSpec`) and the long-lived resources
  its jobs get (`Resources`).
* `context`: what a job sees of its attempt (`JobContext`, `PermanentError`)
  and the `Middleware` hooks.
* `harness`: `run_worker`, the process around a job module: consumer,
  runner, heartbeats, `/metrics`, `/healthz`, `/readyz`.
* `consumer`: `QueueConsumer`, one consumer of one work queue on a robust
  connection (also used by the tracing service), and `FeedListener`, a
  process's own queue on the events exchange (SSE hub, heartbeats).
* `runner`: `JobRunner`, the one retry/park decision for every delivery.
* `reports`: the middleware that publishes a job's traces and status events.
* `park`: parks one message in `<queue>.failed` with the reason in its
  headers, then records its row in the read model (and reads headers back).
* `parked`: what users and operators do with parked jobs: list and count
  (from the read model), remove, replay and rebuild (exactly, on the broker).
* `heartbeat`: the beats a worker publishes and `LiveWorkers`, the set the
  tracing service keeps of them.
* `render_process`: the capped child process renders run in, as the worker
  sees it (`call(fn, *args)`, typed as `fn`); `render_child`: the child's
  own side; `render_protocol`: the pipe between them and `Failure`, how a
  call failed.

The package itself imports nothing, so importing `spec` or `context` does
not pull in the broker client.
"""
