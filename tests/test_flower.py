"""Operators watching Flower see every task kind, with readable names and id-only arguments."""

from __future__ import annotations

import ast

import httpx
import pytest

from tests.support import seed
from tests.support.procs import VENV_BIN, Proc, wait_for
from tests.support.services import free_port
from tests.support.workers import start_worker
from tests.test_engine import create_run, doc_input, extract_workflow, wait_terminal

pytestmark = pytest.mark.slow

KINDS = {"wft.fan_out_run", "wft.run_test", "wft.block_call", "wft.reconcile_and_assert", "wft.finalize_run", "wft.reap"}


def test_flower_shows_every_task_kind_with_id_only_arguments(producer, service_env, logs_dir):
    port = free_port()
    auth = ("ops", "secret")
    flower = Proc([str(VENV_BIN / "celery"), "-A", "workers.app", "flower", "--address=127.0.0.1", f"--port={port}",
                   f"--basic-auth={auth[0]}:{auth[1]}"], service_env, logs_dir / "flower.log", "flower")
    base = f"http://127.0.0.1:{port}"
    procs = []
    try:
        wait_for(lambda: httpx.get(base + "/healthcheck", timeout=2).status_code == 200, 60, what="flower")
        procs = [start_worker(service_env, logs_dir, queues="wft.control,wft.tests", concurrency=2),
                 start_worker(service_env, logs_dir, queues="wft.calls", pool="threads", concurrency=4)]
        org = seed.make_org()
        wf, file_id = extract_workflow(org)
        seed.add_test(org, wf, "extract-1", doc_input(file_id),
                      {"target": {"output_handle_id": "output-json-0", "path": "vendor"}, "condition": {"kind": "exists"}})
        # A consensus test's run_test is replaced by its reconcile (same task id), so a plain
        # function-block test is what shows wft.run_test itself.
        seed.put_block(wf, "fn", "function", seed.function_block("def main(inputs):\n    return {'ok': True}\n"))
        seed.add_test(org, wf, "fn", {}, {"target": {"output_handle_id": "output-json-0", "path": "ok"},
                                          "condition": {"kind": "equals", "expected": True}})
        run = wait_terminal(create_run(producer, org, wf, n_consensus=3))
        assert run.status == "completed" and run.passed == 2
        producer.send_task("wft.reap")  # what beat sends on its schedule

        seen: set = set()

        def tasks_seen():
            response = httpx.get(base + "/api/tasks", auth=auth, timeout=5)
            assert response.status_code == 200, response.text[:300]
            tasks = response.json()
            seen.update(t["name"] for t in tasks.values())
            return tasks if KINDS <= seen else None

        assert httpx.get(base + "/api/tasks", timeout=5).status_code == 401  # basic auth is enforced
        tasks = wait_for(tasks_seen, 60, interval=0.5, what=f"every task kind in Flower (seen so far: {seen})")
    finally:
        for p in procs:
            p.stop()
        flower.stop()
    ours = [t for t in tasks.values() if t["name"] in KINDS - {"wft.reap"}]
    for task in ours:
        args = ast.literal_eval(task["args"])
        # Only ids and small ints travel in payloads (reconcile also gets its sub-calls' tiny statuses).
        flat = [a for a in args if not isinstance(a, list)]
        assert all(isinstance(a, int) or (isinstance(a, str) and a.startswith(("wftestrun_", "wfnodetest_")))
                   for a in flat), task
        assert run.id in args, task
