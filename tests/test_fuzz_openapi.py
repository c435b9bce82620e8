"""R4 (SPEC §7): schemathesis fuzzes every operation of the served OpenAPI with a valid key.

It checks the two properties R4 names: no response is a server error, and every response
(errors included) conforms to the schema the server publishes. Real server, real PostgreSQL:
the generated inputs reach the database, which is where NUL characters and non-finite numbers
used to surface as 500s.

Two passes. The first lets schemathesis invent every path parameter, so it mostly explores the
not-found and validation branches. The second pins the path parameters to a workflow, block,
test, run and file that exist, so the generated bodies and queries reach the code behind the
lookups; DELETE is left out of it so the seeded objects survive the whole pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,response_schema_conformance"
# Fixed seed: a failure reproduces with the same command, and every CI run explores the same inputs.
SEED = 20261128
# 25 examples per operation keeps both passes near a minute here; raise it for a deeper local run.
MAX_EXAMPLES = int(os.environ.get("WFT_FUZZ_MAX_EXAMPLES", "25"))

FN_CODE = "def main(inputs):\n    return {'double': inputs['input-json-0'] * 2}\n"


def _failures(junit: Path) -> list[str]:
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for problem in [*case.findall("failure"), *case.findall("error")]:
            text = (problem.get("message") or "") + "\n" + (problem.text or "")
            out.append(f"{case.get('name')}: {text.strip()[:1500]}")
    return out


def _only_404s(report: str) -> set[str]:
    """The operations schemathesis's 'Missing test data' warning lists (it saw only 404s from them)."""
    if "Missing test data" not in report:
        return set()
    block = report.split("Missing test data", 1)[1].split("💡", 1)[0]
    return {line.strip()[2:] for line in block.splitlines() if line.strip().startswith("- ")}


def _served_operations(api_url: str) -> set[str]:
    paths = httpx.get(f"{api_url}/openapi.json", timeout=30).json()["paths"]
    return {f"{method.upper()} {path}" for path, operations in paths.items() for method in operations}


def _fuzz(api_url: str, api_key: str, workdir: Path, extra: list[str]) -> tuple[set[str], subprocess.CompletedProcess]:
    """Run schemathesis once; (operations it exercised, process). Fails the test on any finding."""
    junit = workdir / "schemathesis.xml"
    command = [
        str(SCHEMATHESIS), "--no-color", "run", f"{api_url}/openapi.json",
        "--header", f"Api-Key: {api_key}",
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--request-timeout", "30",
        "--continue-on-failure",
        "--report", "junit", "--report-junit-path", str(junit),
        *extra,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=workdir)
    assert junit.exists(), f"schemathesis did not report:\n{completed.stdout[-4000:]}\n{completed.stderr[-2000:]}"
    failures = _failures(junit)
    assert not failures, "\n\n".join(failures) + "\n\n" + completed.stdout[-3000:]
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    print(completed.stdout[-2500:])  # the summary, shown with -s or on failure
    exercised = {case.get("name") for case in ET.parse(junit).getroot().iter("testcase")}
    return exercised - {"Stateful tests"}, completed


def test_every_operation_with_invented_ids(api, api_key, tmp_path):
    operations, _ = _fuzz(api.url, api_key, tmp_path, [])
    served = _served_operations(api.url)
    assert len(served) >= 28 and operations == served


@pytest.fixture()
def seeded(api, api_key, tmp_path) -> dict[str, str]:
    """A workflow with a function block, a test, a pending run (no workers here) and a file."""
    with httpx.Client(base_url=api.url, headers={"Api-Key": api_key}, timeout=30) as http:
        def ok(response: httpx.Response) -> dict:
            assert response.status_code == 200, response.text
            return response.json()

        workflow = ok(http.post("/v1/workflows", json={"name": "Fuzzed workflow"}))
        wf = workflow["id"]
        ok(http.post(f"/v1/workflows/{wf}/blocks", json={"id": "fn", "type": "function", "config": {"code": FN_CODE}}))
        test = ok(http.post(f"/v1/workflows/{wf}/tests", json={
            "target": {"type": "block", "block_id": "fn"},
            "source": {"type": "manual", "handle_inputs": {"input-json-0": {"type": "json", "data": 21}}},
            "assertion": {"target": {"output_handle_id": "output-json-0", "path": "double"},
                          "condition": {"kind": "equals", "expected": 42}}}))
        run = ok(http.post(f"/v1/workflows/{wf}/tests/runs", json={}))
        data = b"INVOICE\nVendor: Acme\n"
        upload = ok(http.post("/v1/files/upload", json={"filename": "fuzz.txt", "content_type": "text/plain",
                                                         "size_bytes": len(data)}))
        put = httpx.put(upload["uploadUrl"], content=data, headers=upload["uploadHeaders"], timeout=30)
        assert put.status_code in (200, 201, 204), put.text
        ok(http.post(f"/v1/files/upload/{upload['fileId']}/complete", json={}))
    return {"workflow_id": wf, "block_id": "fn", "test_id": test["id"], "run_id": run["id"],
            "file_id": upload["fileId"]}


def test_every_operation_on_existing_objects(api, api_key, seeded, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text("[parameters]\n" + "".join(f'"path.{name}" = "{value}"\n' for name, value in seeded.items()))
    operations, completed = _fuzz(api.url, api_key, tmp_path, ["--exclude-method", "DELETE"])
    served = {op for op in _served_operations(api.url) if not op.startswith("DELETE ")}
    assert operations == served, completed.stdout[-3000:]
    # The pinned ids were used: the only operation that saw nothing but 404s is the one result of a
    # run that never fanned out (no workers here, so it has no result rows yet: 404 is right).
    assert _only_404s(completed.stdout) <= {"GET /v1/workflows/tests/runs/{run_id}/results/{test_id}"}, \
        completed.stdout[-4000:]
