"""Bare-Celery baseline tasks, registered on wft's own app (same broker, settings, queues and
pools) by starting the workers with ``--include bench.baseline_tasks``."""

from __future__ import annotations

import time

from workers.app import app


@app.task(name="bench.noop", queue="wft.tests")
def noop(sleep_s: float = 0.0) -> int:
    if sleep_s:
        time.sleep(sleep_s)
    return 1


@app.task(name="bench.call", queue="wft.calls")
def call(sleep_s: float = 0.0) -> int:
    if sleep_s:
        time.sleep(sleep_s)
    return 1


@app.task(name="bench.reduce", queue="wft.tests")
def reduce(results: list[int]) -> int:
    return sum(results)


@app.task(name="bench.nested_test", bind=True, queue="wft.tests")
def nested_test(self, k: int, sleep_s: float = 0.0):
    """The baseline of a consensus test: replace itself with a k-wide chord, like run_test."""
    from celery import chord

    raise self.replace(chord([call.si(sleep_s) for _ in range(k)], reduce.s()))


@app.task(name="bench.finish", queue="wft.control")
def finish(results: list, key: str) -> int:
    from redis import Redis

    Redis.from_url(app.conf.broker_url).rpush(key, time.time())
    return len(results)


@app.task(name="bench.publish_chord", queue="wft.control")
def publish_chord(n: int, key: str, k: int = 0, sleep_s: float = 0.0) -> float:
    """Publish a bare chord from inside a worker (as wft's fan-out does): n no-op tests, or with
    k > 0 n tests that each replace themselves with a k-wide chord of calls. Records the seconds
    publishing took under ``key:published``."""
    from celery import chord
    from redis import Redis

    t0 = time.perf_counter()
    header = [noop.si(sleep_s) for _ in range(n)] if k == 0 else [nested_test.si(k, sleep_s) for _ in range(n)]
    chord(header, finish.s(key)).apply_async()
    took = time.perf_counter() - t0
    Redis.from_url(app.conf.broker_url).rpush(key + ":published", took)
    return took
