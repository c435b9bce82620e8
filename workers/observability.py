"""Structured task-transition logs and Prometheus metrics.

One JSON log line per transition (``event``, ``run_id``, ``test_id``, …) so a log pipeline can
follow a run without Flower's in-memory window. Metrics are plain prometheus_client objects;
``wft worker`` serves them on ``WFT_METRICS_PORT`` when it is set (threads pools; prefork
children would each need their own registry, see the README)."""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from typing import Any, Iterator

from prometheus_client import Counter, Histogram

events = logging.getLogger("wft.events")

BLOCK_CALL_SECONDS = Histogram("wft_block_call_seconds", "Latency of one block (sub-)call", ["block_type", "outcome"],
                               buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
TEST_TRANSITIONS = Counter("wft_test_transitions_total", "Result transitions by event", ["event"])


def log_event(event: str, **fields: Any) -> None:
    TEST_TRANSITIONS.labels(event=event).inc()
    record = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    events.info(json.dumps(record, default=str, sort_keys=False))


@contextmanager
def observe_block_call(block_type: str) -> Iterator[None]:
    start = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        BLOCK_CALL_SECONDS.labels(block_type=block_type, outcome=outcome).observe(time.perf_counter() - start)
