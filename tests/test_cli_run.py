"""`wft run … --wait --junit` against a real `wft api`, real workers, and its exit codes."""

from __future__ import annotations

import subprocess
from xml.etree import ElementTree as ET

import pytest

from tests.support.procs import VENV_BIN
from tests.support.workers import start_worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workers_for_cli(service_env, logs_dir):
    procs = [start_worker(service_env, logs_dir, queues="wft.control,wft.tests", concurrency=2),
             start_worker(service_env, logs_dir, queues="wft.calls", pool="threads", concurrency=4)]
    yield procs
    for p in procs:
        p.stop()


def _fn_test(http, wf_id: str, expected: int, name: str) -> str:
    body = {"target": {"type": "block", "block_id": "fn"}, "name": name,
            "source": {"type": "manual", "handle_inputs": {"input-json-0": {"type": "json", "data": 21}}},
            "assertion": {"target": {"output_handle_id": "output-json-0", "path": "double"},
                          "condition": {"kind": "equals", "expected": expected}}}
    resp = http.post(f"/workflows/{wf_id}/tests", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def _wft_run(api, api_key, service_env, *args: str) -> subprocess.CompletedProcess:
    env = {**service_env, "WFT_API_URL": api.url, "WFT_API_KEY": api_key}
    return subprocess.run([str(VENV_BIN / "wft"), "run", *args], env=env, capture_output=True, text=True, timeout=180)


def test_wft_run_writes_junit_and_exit_codes(api, api_key, http, service_env, workers_for_cli, tmp_path):
    wf = http.post("/workflows", json={"name": "cli", "description": ""}).json()["id"]
    block = {"id": "fn", "type": "function",
             "config": {"code": "def main(inputs):\n    return {'double': inputs['input-json-0'] * 2}\n"}}
    assert http.post(f"/workflows/{wf}/blocks", json=block).status_code == 200
    good = _fn_test(http, wf, 42, "doubles")

    passed = _wft_run(api, api_key, service_env, wf, "--test", good, "--wait")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "completed" in passed.stdout

    _fn_test(http, wf, 43, "wrong on purpose")
    report = tmp_path / "report.xml"
    failed = _wft_run(api, api_key, service_env, wf, "--junit", str(report))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    suite = ET.parse(report).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"doubles", "wrong on purpose"}
    assert cases["wrong on purpose"].find("failure") is not None
    assert cases["doubles"].find("failure") is None and cases["doubles"].get("classname") == "fn"

    refused = _wft_run(api, api_key, service_env, wf, "--test", "wfnodetest_unknown", "--wait")
    assert refused.returncode == 6 and "404" in refused.stderr
