"""The HTTP services' metrics listener: their Prometheus registry on a port of its own.

The upload API's port is the public one, and the tracing service's carries the debug
page; neither should hand its metrics (queue names, volumes, error rates) to whoever can
reach it. So `/metrics` is not a route of either app: each serves its registry on a
second listener bound to `PROPHOTO_METRICS_HOST`, like the workers' metrics port, which
a deployment keeps off the public network and Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, start_http_server


def serve_metrics(registry: CollectorRegistry, host: str, port: int, variable: str,
                  ) -> Callable[[], None]:
    """Serve `registry` on `host:port` (any path, `/metrics` by convention) from a thread;
    returns the function that stops it. A port that cannot be bound raises ValueError
    naming the setting (`variable`), so the service refuses to start rather than run
    unscraped."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ValueError(f"{variable}: cannot listen on {host}:{port} for /metrics "
                         f"({exc.strerror or exc}); choose a free port") from exc

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
