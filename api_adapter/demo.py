"""``wft demo``: from nothing to a finished run on an embedded stack, then a clean shutdown.

Everything talks to the real API over HTTP, exactly as a client would."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from api_adapter.demo_seed import BLOCKS, DOCUMENTS, demo_tests
from api_adapter.processes import VENV_BIN
from api_adapter.progress import Progress
from api_adapter.run_cli import RequestFailed, _ok, fetch_results
from api_adapter.stack import LocalStack

DATA = Path(__file__).parent / "demo_data"


def _say(message: str) -> None:
    print(message, flush=True)


def _silence_stdout() -> None:
    """The reader of our output went away (``wft demo | head``): send the rest to /dev/null so
    shutting down, and the interpreter's final flush, cannot fail on the closed pipe."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def upload(client: httpx.Client, path: Path) -> str:
    """The SDK's three-step upload: ask for a signed URL, PUT the bytes there, complete."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    session = _ok(client.post("/files/upload", json={"filename": path.name, "content_type": mime,
                                                     "size_bytes": len(data), "sha256": digest}))
    file_id = session.get("fileId") or session["file_id"]
    url = session.get("uploadUrl") or session["upload_url"]
    headers = session.get("uploadHeaders") or session.get("upload_headers") or {}
    put = httpx.put(url, content=data, headers=headers, timeout=60)
    put.raise_for_status()
    _ok(client.post(f"/files/upload/{file_id}/complete", json={"sha256": digest}))
    return file_id


def seed_workflow(client: httpx.Client) -> tuple[str, int]:
    workflow = _ok(client.post("/workflows", json={"name": "Invoice workflow",
                                                   "description": "wft demo: extract, classify, split, validate"}))
    _ok(client.post(f"/workflows/{workflow['id']}/blocks/batch", json=BLOCKS))
    files = {name: upload(client, DATA / name) for name in DOCUMENTS}
    tests = demo_tests(files)
    for body in tests:
        _ok(client.post(f"/workflows/{workflow['id']}/tests", json=body))
    return workflow["id"], len(tests)


def _lookup(payload: Any, path: str) -> Any:
    for part in [p for p in path.replace("[", ".").replace("]", "").split(".") if p]:
        if isinstance(payload, dict):
            payload = payload.get(part)
        elif isinstance(payload, list) and part.isdigit() and int(part) < len(payload):
            payload = payload[int(part)]
        else:
            return None
    return payload


def _short(value: Any, width: int = 28) -> str:
    text = "∅" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def likelihood_of(result: dict[str, Any], test: dict[str, Any]) -> str:
    outputs = result.get("outputs") or {}
    target = (test.get("assertion") or {}).get("target") or {}
    handle, path = target.get("output_handle_id", ""), target.get("path", "")
    if handle == "output-json-0" and "likelihoods-json-0" in outputs:
        value = _lookup(outputs["likelihoods-json-0"], path)
        return f"{value:.2f}" if isinstance(value, (int, float)) else ""
    classified = outputs.get("output-json-0")
    if isinstance(classified, dict) and isinstance(classified.get("likelihood"), (int, float)) and "category" in classified:
        return f"{classified['likelihood']:.2f}"
    return ""


def results_table(results: list[dict[str, Any]], tests: dict[str, dict[str, Any]]) -> str:
    rows = [("block", "test", "verdict", "actual", "expected", "likelihood")]
    for result in sorted(results, key=lambda r: (r["target"]["block_id"], tests.get(r["test_id"], {}).get("name") or "")):
        test = tests.get(result["test_id"], {})
        assertion = result.get("assertion_result") or {}
        verdict = (result.get("verdict") or {}).get("status") or result["lifecycle"]["status"]
        failure = assertion.get("failure") or {}
        if verdict == "blocked":
            verdict = f"blocked ({failure.get('code')})"
        actual = result.get("error") if result["lifecycle"]["status"] == "error" else assertion.get("actual_value")
        rows.append((result["target"]["block_id"], test.get("name") or result["test_id"], verdict, _short(actual),
                     _short(assertion.get("expected_value")), likelihood_of(result, test)))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _create_key(env: dict[str, str]) -> str:
    out = subprocess.run([str(VENV_BIN / "wft"), "apikey", "create", "--org", "demo"], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1]


def run_demo(keep: bool = False, n_consensus: int = 3) -> int:
    started = time.monotonic()
    ok = False
    root = Path(tempfile.mkdtemp(prefix="wft-demo-"))
    stack = LocalStack(root)
    try:
        _say("wft demo: starting PostgreSQL, Redis, the API and one worker per queue …")
        stack.start(flower=keep, beat=True)
        key = _create_key(stack.env)
        _say(f"  API {stack.api_url}   logs {root}")
        with httpx.Client(base_url=stack.api_url + "/v1", headers={"Api-Key": key}, timeout=60) as client:
            workflow_id, n_tests = seed_workflow(client)
            _say(f"seeded 'Invoice workflow' {workflow_id}: {len(BLOCKS)} blocks, {n_tests} tests, "
                 f"{len(DOCUMENTS)} documents")
            run = _ok(client.post(f"/workflows/{workflow_id}/tests/runs", json={"n_consensus": n_consensus}))
            _say(f"run {run['id']} created ({run['lifecycle']['status']}), n_consensus={n_consensus}")
            progress = Progress()
            deadline = time.monotonic() + 300
            while run["lifecycle"]["status"] in ("pending", "running") and time.monotonic() < deadline:
                progress.update(run)
                time.sleep(0.25)
                run = _ok(client.get(f"/workflows/tests/runs/{run['id']}"))
            progress.update(run)
            progress.close()
            results = fetch_results(client, run["id"])
            tests = {t["id"]: t for t in _ok(client.get(f"/workflows/{workflow_id}/tests", params={"limit": 100}))["data"]}
            _say("")
            _say(results_table(results, tests))
            _say("")
            counts = run["counts"]
            _say(f"run {run['id']} {run['lifecycle']['status']} in {(run['timing'].get('duration_ms') or 0) / 1000:.1f} s: "
                 + ", ".join(f"{counts[b]} {b}" for b in ("passed", "failed", "blocked", "error", "cancelled") if counts[b]))
        if keep:
            _say("")
            _say("The stack keeps running (Ctrl-C stops it):")
            _say(f"  API      {stack.api_url}/v1        Api-Key: {key}")
            _say(f"  Flower   {stack.flower_url}")
            _say(f"  workflow {workflow_id}")
            _say(f"  try: WFT_API_URL={stack.api_url} WFT_API_KEY={key} wft run {workflow_id} --wait")
            stop = threading.Event()
            # Both explicitly: a shell that starts us in the background leaves SIGINT ignored,
            # and then Python raises no KeyboardInterrupt.
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
            stop.wait()
        ok = run["lifecycle"]["status"] == "completed"
        _say(f"demo finished in {time.monotonic() - started:.1f} s" + ("" if ok else " (the run did not complete)"))
        return 0 if ok else 1
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except (RequestFailed, httpx.HTTPError, RuntimeError, TimeoutError) as exc:
        print(f"wft demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        try:
            _say("shutting the stack down …")
        except BrokenPipeError:
            _silence_stdout()
        stack.stop()  # whatever happened above: the demo never leaves processes behind
        if ok:
            stack.remove()
        else:
            print(f"logs kept in {root}", file=sys.stderr)
