"""``wft run``: create a run against a wft server, optionally wait, report, and exit with a code
a CI pipeline can act on.

Exit codes (the worst outcome wins): 0 every test passed; 1 a test failed; 2 a test was blocked
(and none failed); 3 a test ended in error; 4 the run was cancelled; 5 the run itself ended in
error (or timed out waiting); 6 the request was refused or the server could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any
from xml.etree import ElementTree as ET

import httpx

from api_adapter.progress import Progress

EXIT_PASSED, EXIT_FAILED, EXIT_BLOCKED, EXIT_ERROR, EXIT_CANCELLED, EXIT_RUN_ERROR, EXIT_REQUEST = 0, 1, 2, 3, 4, 5, 6


def exit_code(run: dict[str, Any]) -> int:
    status = run["lifecycle"]["status"]
    counts = run["counts"]
    if status == "error":
        return EXIT_RUN_ERROR
    if status == "cancelled":
        return EXIT_CANCELLED
    if counts.get("error"):
        return EXIT_ERROR
    if counts.get("failed"):
        return EXIT_FAILED
    if counts.get("blocked"):
        return EXIT_BLOCKED
    if status != "completed":
        return EXIT_RUN_ERROR
    return EXIT_PASSED


def paginate(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a cursor-paginated list, following ``list_metadata.after``."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = _ok(client.get(path, params={"limit": 100, **params, **({"after": after} if after else {})}))
        out += page["data"]
        after = page["list_metadata"]["after"]
        if not after:
            return out


def fetch_results(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    return paginate(client, f"/workflows/tests/runs/{run_id}/results")


def junit_xml(run: dict[str, Any], results: list[dict[str, Any]], tests_by_id: dict[str, dict[str, Any]]) -> bytes:
    counts = run["counts"]
    suite = ET.Element("testsuite", {
        "name": f"wft:{run['workflow']['workflow_id']}", "tests": str(run["total_tests"]),
        "failures": str(counts.get("failed", 0)), "errors": str(counts.get("error", 0)),
        "skipped": str(counts.get("blocked", 0) + counts.get("cancelled", 0)),
        "time": f"{(run['timing'].get('duration_ms') or 0) / 1000:.3f}", "id": run["id"],
    })
    for result in sorted(results, key=lambda r: (r["target"]["block_id"], r["test_id"])):
        test = tests_by_id.get(result["test_id"], {})
        case = ET.SubElement(suite, "testcase", {
            "classname": result["target"]["block_id"], "name": test.get("name") or result["test_id"],
            "time": f"{(result.get('duration_ms') or 0) / 1000:.3f}",
        })
        status = result["lifecycle"]["status"]
        verdict = (result.get("verdict") or {}).get("status")
        failure = (result.get("assertion_result") or {}).get("failure") or {}
        if status == "completed" and verdict == "failed":
            ET.SubElement(case, "failure", {"message": failure.get("message", "assertion failed"),
                                            "type": failure.get("code", "failed")}).text = json.dumps(
                result.get("assertion_result"), indent=2, default=str)
        elif status == "completed" and verdict == "blocked":
            ET.SubElement(case, "skipped", {"message": f"blocked: {failure.get('code', '')}: {failure.get('message', '')}"})
        elif status == "error":
            ET.SubElement(case, "error", {"message": result.get("error") or "error", "type": "error"})
        elif status == "cancelled":
            ET.SubElement(case, "skipped", {"message": "cancelled"})
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


class RequestFailed(Exception):
    pass


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        raise RequestFailed(f"{response.request.method} {response.request.url.path} → {response.status_code}: {detail}")
    return response.json()


def run_command(args: argparse.Namespace) -> int:
    base = os.environ.get("WFT_API_URL", "http://127.0.0.1:8000").rstrip("/")
    key = os.environ.get("WFT_API_KEY")
    if not key:
        print("wft run: set WFT_API_KEY (and WFT_API_URL)", file=sys.stderr)
        return EXIT_REQUEST
    body: dict[str, Any] = {}
    if args.test_id:
        body["test_id"] = args.test_id
    if args.block_id:
        body["target"] = {"type": "block", "block_id": args.block_id}
    if args.n_consensus:
        body["n_consensus"] = args.n_consensus
    wait = args.wait or bool(args.junit)
    try:
        with httpx.Client(base_url=base + "/v1", headers={"Api-Key": key}, timeout=60) as client:
            run = _ok(client.post(f"/workflows/{args.workflow_id}/tests/runs", json=body))
            if not wait:
                print(json.dumps(run) if args.json else run["id"])
                return EXIT_PASSED
            progress = Progress(sys.stderr if args.json else sys.stdout)
            deadline = time.monotonic() + args.timeout
            while run["lifecycle"]["status"] in ("pending", "running"):
                progress.update(run)
                if time.monotonic() > deadline:
                    progress.close()
                    print(f"wft run: gave up waiting for {run['id']} after {args.timeout:.0f} s", file=sys.stderr)
                    return EXIT_RUN_ERROR
                time.sleep(0.5)
                run = _ok(client.get(f"/workflows/tests/runs/{run['id']}"))
            progress.update(run)
            progress.close()
            results = fetch_results(client, run["id"])
            if args.junit:
                tests = paginate(client, f"/workflows/{args.workflow_id}/tests")
                with open(args.junit, "wb") as fh:
                    fh.write(junit_xml(run, results, {t["id"]: t for t in tests}))
    except (RequestFailed, httpx.HTTPError) as exc:
        print(f"wft run: {exc}", file=sys.stderr)
        return EXIT_REQUEST
    if args.json:
        print(json.dumps({"run": run, "results": results}, default=str))
    else:
        lifecycle = run["lifecycle"]
        print(f"run {run['id']} {lifecycle['status']}" + (f": {lifecycle.get('message')}" if lifecycle.get("message") else ""))
    return exit_code(run)
