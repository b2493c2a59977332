"""One log format for every service, with chatty libraries kept to warnings.

httpx logs every request at INFO (the tracing service scrapes each worker's
metrics every few seconds) and libvips narrates every thumbnail at INFO;
both drown the lines an operator reads. They speak again at DEBUG.
"""

from __future__ import annotations

import logging

CHATTY = ("httpx", "httpcore", "pyvips")


def setup_logging(level: str, service: str) -> None:
    logging.basicConfig(level=level, format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
