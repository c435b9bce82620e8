"""Idempotency-Key on create-run: concurrent retries create one run; a different body is a 409."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from models.db import session_scope
from models.tables import Run


def _setup(http) -> str:
    wf = http.post("/workflows", json={"name": "idem", "description": ""}).json()["id"]
    http.post(f"/workflows/{wf}/blocks", json={"id": "fn", "type": "function", "config": {"code": "def main(i):\n    return 1\n"}})
    http.post(f"/workflows/{wf}/tests", json={
        "target": {"type": "block", "block_id": "fn"}, "source": {"type": "manual", "handle_inputs": {}},
        "assertion": {"target": {"output_handle_id": "output-json-0", "path": ""}, "condition": {"kind": "exists"}}})
    return wf


def _runs_of(wf: str) -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Run).where(Run.workflow_id == wf))


def test_concurrent_creates_with_one_key_make_one_run(api, api_key, http):
    wf = _setup(http)

    def create(_: int) -> httpx.Response:
        return httpx.post(f"{api.url}/v1/workflows/{wf}/tests/runs", json={"n_consensus": 3},
                          headers={"Api-Key": api_key, "Idempotency-Key": "retry-me"}, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(create, range(16)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["id"] for r in responses}) == 1
    assert _runs_of(wf) == 1

    conflict = httpx.post(f"{api.url}/v1/workflows/{wf}/tests/runs", json={"n_consensus": 5},
                          headers={"Api-Key": api_key, "Idempotency-Key": "retry-me"}, timeout=30)
    assert conflict.status_code == 409 and conflict.json()["detail"]["code"] == "idempotency_key_conflict"
    assert _runs_of(wf) == 1


def test_without_a_key_every_create_is_a_new_run(api, http):
    wf = _setup(http)
    ids = {http.post(f"/workflows/{wf}/tests/runs").json()["id"] for _ in range(3)}
    assert len(ids) == 3 and _runs_of(wf) == 3


def test_a_key_is_scoped_to_its_organization_and_replays_return_the_original(api, api_key, other_api_key, http):
    wf = _setup(http)
    with httpx.Client(base_url=api.url + "/v1", headers={"Api-Key": other_api_key}, timeout=30) as theirs:
        their_wf = _setup(theirs)
        theirs_run = theirs.post(f"/workflows/{their_wf}/tests/runs", headers={"Idempotency-Key": "shared"})
    first = http.post(f"/workflows/{wf}/tests/runs", headers={"Idempotency-Key": "shared"})
    assert theirs_run.status_code == first.status_code == 200
    assert first.json()["id"] != theirs_run.json()["id"]  # same key, other organization: independent
    again = http.post(f"/workflows/{wf}/tests/runs", headers={"Idempotency-Key": "shared"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert _runs_of(wf) == 1 and _runs_of(their_wf) == 1
