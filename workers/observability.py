"""Structured task-transition logs and Prometheus metrics.

One JSON log line per transition (``event``, ``run_id``, ``test_id``, …) so a log pipeline can
follow a run without Flower's in-memory window. Metrics are plain prometheus_client objects. With
``WFT_METRICS_PORT`` set, a worker serves them over HTTP (``serve_metrics``). Prefork pool children
count in their own processes, so the worker uses prometheus_client's multiprocess mode: every process
writes its samples under ``PROMETHEUS_MULTIPROC_DIR`` and the main process sums them when scraped.
``wft worker`` creates that directory. The variable must be set before prometheus_client is
imported, which is why the CLI sets it and not this module."""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

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


def serve_metrics(port: int) -> None:
    """Serve this worker's metrics on ``port`` (all interfaces, for a Prometheus scraper). In
    multiprocess mode the answer sums every pool process's samples; otherwise it is this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(port, registry=registry)
    else:
        start_http_server(port)


def forget_process(pid: int) -> None:
    """A pool child exited: drop its live-only samples (counters and histograms are kept)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
