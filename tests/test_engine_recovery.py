"""Recovery paths: killed pool children, killed workers, a lost chord callback."""

from __future__ import annotations

import os
import signal

import pytest
import redis
from sqlalchemy import select

from models.db import session_scope
from models.tables import Result
from tests.support import seed
from tests.support.procs import VENV_BIN, Proc, wait_for
from tests.support.workers import pool_children, start_worker
from tests.test_engine import (create_run, doc_input, extract_workflow, get_run, results,
                               wait_terminal)

pytestmark = pytest.mark.slow


def start_beat(env, logs_dir) -> Proc:
    proc = Proc([str(VENV_BIN / "celery"), "-A", "workers.app", "beat", "--loglevel", "INFO",
                 "--schedule", str(logs_dir / f"beat-{os.getpid()}-{id(env)}.db")], env, logs_dir / "beat.log", "beat")
    wait_for(lambda: "beat: Starting" in proc.log_text() or not proc.alive(), 30, what="beat to start")
    return proc


def add_tests(org, wf, file_id, n):
    return [seed.add_test(org, wf, "extract-1", doc_input(file_id),
                          {"target": {"output_handle_id": "output-json-0", "path": "vendor"},
                           "condition": {"kind": "equals", "expected": "Acme Inc"}}) for _ in range(n)]


def running_results(run_id: str) -> int:
    with session_scope() as s:
        return len(s.scalars(select(Result.test_id).where(Result.run_id == run_id, Result.status == "running")).all())


def test_kill_pool_child_mid_test(producer, org, service_env, logs_dir):
    wf, file_id = extract_workflow(org, latency_ms=1500)
    add_tests(org, wf, file_id, 6)
    control = start_worker(service_env, logs_dir, queues="wft.control", concurrency=1)
    tests = start_worker(service_env, logs_dir, queues="wft.tests", concurrency=2)
    try:
        run_id = create_run(producer, org, wf)
        wait_for(lambda: running_results(run_id) >= 1, 30, interval=0.05, what="a test running")
        victim = pool_children(tests)[0]
        os.kill(victim, signal.SIGKILL)
        run = wait_terminal(run_id, timeout=120)
    finally:
        tests.stop()
        control.stop()
    assert run.status == "completed" and (run.passed, run.total_tests) == (6, 6)
    assert all(r.status == "completed" for r in results(run_id).values())


def test_kill_whole_worker_then_new_worker_completes(producer, org, service_env, logs_dir):
    wf, file_id = extract_workflow(org, latency_ms=1000)
    add_tests(org, wf, file_id, 6)
    control = start_worker(service_env, logs_dir, queues="wft.control", concurrency=1)
    tests = start_worker(service_env, logs_dir, queues="wft.tests", concurrency=2)
    beat = start_beat(service_env, logs_dir)
    try:
        run_id = create_run(producer, org, wf)
        wait_for(lambda: running_results(run_id) >= 1, 30, interval=0.05, what="a test running")
        tests.kill9()  # main process and its pool children, no warm shutdown
        replacement = start_worker(service_env, logs_dir, queues="wft.tests", concurrency=2)
        try:
            # The configured bound: lease (20 s) + stall timeout (8 s) + reaper interval, or the
            # visibility timeout (30 s) + restore sweep — whichever recovers first.
            run = wait_terminal(run_id, timeout=90)
        finally:
            replacement.stop()
    finally:
        beat.stop()
        control.stop()
    assert run.status == "completed" and (run.passed, run.total_tests) == (6, 6)
    assert all(r.status == "completed" for r in results(run_id).values())


def test_lost_chord_callback_is_finalized_by_reaper(producer, org, service_env, logs_dir, redis_server):
    wf, file_id = extract_workflow(org)
    add_tests(org, wf, file_id, 3)
    r = redis.Redis.from_url(redis_server.url)
    control = start_worker(service_env, logs_dir, queues="wft.control", concurrency=1)
    try:
        run_id = create_run(producer, org, wf)
        wait_for(lambda: get_run(run_id).dispatched_at is not None, 30, what="the fan-out to dispatch")
    finally:
        control.stop()  # nobody consumes wft.control now: the callback will wait in its queue
    tests = start_worker(service_env, logs_dir, queues="wft.tests", concurrency=2)
    try:
        wait_for(lambda: get_run(run_id).passed == 3, 60, what="every test to pass")
        wait_for(lambda: r.llen("wft.control") >= 1, 30, what="the chord callback to be published")
        r.delete("wft.control")  # drop the callback message
    finally:
        tests.stop()
    assert get_run(run_id).status == "running"
    control = start_worker(service_env, logs_dir, queues="wft.control", concurrency=1)
    beat = start_beat(service_env, logs_dir)
    try:
        run = wait_terminal(run_id, timeout=60)
    finally:
        beat.stop()
        control.stop()
    assert run.status == "completed" and run.passed == 3
    assert '"event": "reaper"' in control.log_text()
