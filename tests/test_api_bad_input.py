"""Bad input gets a clear error and loses nothing: status, detail.code, a message naming the
field, and no new row anywhere after the rejected request."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from models.db import session_scope
from models.tables import ApiKey, Block, File, Organization, Result, Run, TestRevision, Workflow
from tests.conftest import create_api_key, start_api
from tests.support.procs import VENV_BIN

FN = {"code": "def main(inputs):\n    return {'ok': True}\n"}
ASSERTION = {"target": {"output_handle_id": "output-json-0", "path": "ok"}, "condition": {"kind": "exists"}}
DEEP: dict = {}
for _ in range(100):
    DEEP = {"a": DEEP}


def test_body(assertion: dict | None = None, block_id: str = "fn") -> dict:
    return {"target": {"type": "block", "block_id": block_id}, "source": {"type": "manual", "handle_inputs": {}},
            "assertion": ASSERTION if assertion is None else assertion}


test_body.__test__ = False  # a helper, not a test


def stored() -> dict[str, int]:
    with session_scope() as s:
        counts = {t.__tablename__: s.scalar(select(func.count()).select_from(t))
                  for t in (Organization, ApiKey, Workflow, Block, File, TestRevision, Run, Result)}
        counts["change_seq"] = s.scalar(select(func.coalesce(func.sum(Workflow.change_seq), 0)))
        counts["deleted"] = s.scalar(select(func.count()).select_from(Workflow).where(Workflow.deleted_at.is_not(None)))
    return counts


@dataclass
class World:
    wf: str
    other_wf: str
    empty_wf: str
    test_id: str
    other_wf_test: str
    run_id: str
    file_id: str
    foreign: dict[str, str] = field(default_factory=dict)
    revoked_key: str = ""
    pending_file: str = ""
    pending_put_path: str = ""
    uploaded_file: str = ""


def _ok(resp: httpx.Response) -> Any:
    assert resp.status_code in (200, 204), resp.text
    return resp.json() if resp.status_code == 200 else None


def _make(client: httpx.Client, with_test: bool = True) -> tuple[str, str | None]:
    wf = _ok(client.post("/workflows", json={"name": "bad-input", "description": ""}))["id"]
    _ok(client.post(f"/workflows/{wf}/blocks", json={"id": "fn", "type": "function", "config": FN}))
    test_id = _ok(client.post(f"/workflows/{wf}/tests", json=test_body()))["id"] if with_test else None
    return wf, test_id


def _upload(client: httpx.Client, put: bool = True, complete: bool = True) -> dict[str, str]:
    data = b"hello"
    session = _ok(client.post("/files/upload", json={"filename": "a.txt", "content_type": "text/plain", "size_bytes": 5}))
    if put:
        assert httpx.put(session["uploadUrl"], content=data, headers=session["uploadHeaders"]).status_code == 200
    if put and complete:
        _ok(client.post(f"/files/upload/{session['fileId']}/complete", json={}))
    return session


@pytest.fixture(scope="module")
def world(api, api_key, other_api_key, service_env) -> World:
    with httpx.Client(base_url=api.url + "/v1", headers={"Api-Key": api_key}) as mine, \
            httpx.Client(base_url=api.url + "/v1", headers={"Api-Key": other_api_key}) as theirs:
        wf, test_id = _make(mine)
        other_wf, other_wf_test = _make(mine)
        empty_wf, _ = _make(mine, with_test=False)
        run_id = _ok(mine.post(f"/workflows/{wf}/tests/runs", json={}))["id"]
        file_id = _upload(mine)["fileId"]
        pending = _upload(mine, put=False)
        uploaded = _upload(mine, complete=False)["fileId"]
        f_wf, f_test = _make(theirs)
        f_run = _ok(theirs.post(f"/workflows/{f_wf}/tests/runs", json={}))["id"]
        f_file = _upload(theirs)["fileId"]
    revoked = create_api_key(service_env, "revoked-org")
    subprocess.run([str(VENV_BIN / "wft"), "apikey", "revoke", revoked], env=service_env, check=True,
                   capture_output=True)
    return World(wf, other_wf, empty_wf, test_id, other_wf_test, run_id, file_id,
                 {"wf": f_wf, "test": f_test, "run": f_run, "file": f_file}, revoked, pending["fileId"],
                 pending["uploadUrl"].split("/v1", 1)[1], uploaded)


@pytest.fixture(scope="module")
def small_api(service_env, logs_dir):
    server = start_api({**service_env, "WFT_MAX_FILE_BYTES": "64"}, logs_dir, name="api-small")
    yield server
    server.proc.stop()


# (id, method, path template, json body | raw bytes, extra headers, status, code, text the message must contain)
CASES: list[tuple] = [
    ("n_consensus=4", "POST", "/workflows/{wf}/tests/runs", {"n_consensus": 4}, {}, 422, "validation_error", "n_consensus"),
    ("n_consensus=0", "POST", "/workflows/{wf}/tests/runs", {"n_consensus": 0}, {}, 422, "validation_error", "n_consensus"),
    ("n_consensus='5'", "POST", "/workflows/{wf}/tests/runs", {"n_consensus": "5"}, {}, 422, "validation_error", "n_consensus"),
    ("n_consensus=9", "POST", "/workflows/{wf}/tests/runs", {"n_consensus": 9}, {}, 422, "validation_error", "n_consensus"),
    ("n_consensus=true", "POST", "/workflows/{wf}/tests/runs", {"n_consensus": True}, {}, 422, "validation_error", "n_consensus"),
    ("test_id and target", "POST", "/workflows/{wf}/tests/runs",
     {"test_id": "{test_id}", "target": {"type": "block", "block_id": "fn"}}, {}, 422, "validation_error", "test_id"),
    ("unknown test", "POST", "/workflows/{wf}/tests/runs", {"test_id": "wfnodetest_nope"}, {}, 404, "test_not_found", "test_id"),
    ("test of another workflow", "POST", "/workflows/{wf}/tests/runs", {"test_id": "{other_wf_test}"}, {}, 404,
     "test_not_found", "test_id"),
    ("unknown target block", "POST", "/workflows/{wf}/tests/runs", {"target": {"type": "block", "block_id": "ghost"}},
     {}, 404, "block_not_found", "target.block_id"),
    ("target of wrong type", "POST", "/workflows/{wf}/tests/runs", {"target": {"type": "workflow", "block_id": "fn"}},
     {}, 422, "validation_error", "target.type"),
    ("no tests selected", "POST", "/workflows/{empty_wf}/tests/runs", {}, {}, 422, "no_tests_selected", "target"),
    ("body not an object", "POST", "/workflows/{wf}/tests/runs", [1, 2], {}, 422, "validation_error", "body"),
    ("malformed JSON", "POST", "/workflows/{wf}/tests/runs", b'{"n_consensus": 3', {}, 422, "invalid_json", "body"),
    ("wrong content type", "POST", "/workflows", b"name=x", {"Content-Type": "application/x-www-form-urlencoded"},
     415, "unsupported_media_type", "Content-Type"),
    ("unknown condition kind", "POST", "/workflows/{wf}/tests", test_body({**ASSERTION, "condition": {"kind": "roughly"}}),
     {}, 422, "invalid_assertion", "assertion.condition.kind"),
    ("number_compare without op", "POST", "/workflows/{wf}/tests",
     test_body({**ASSERTION, "condition": {"kind": "number_compare", "expected": 1}}), {}, 422, "invalid_assertion",
     "assertion.condition.op"),
    ("number_compare bad op", "POST", "/workflows/{wf}/tests",
     test_body({**ASSERTION, "condition": {"kind": "number_compare", "op": "approx", "expected": 1}}), {}, 422,
     "invalid_assertion", "assertion.condition.op"),
    ("number_compare string expected", "POST", "/workflows/{wf}/tests",
     test_body({**ASSERTION, "condition": {"kind": "number_compare", "op": "gt", "expected": "5"}}), {}, 422,
     "invalid_assertion", "assertion.condition.expected"),
    ("between lower not a number", "POST", "/workflows/{wf}/tests",
     test_body({**ASSERTION, "condition": {"kind": "between", "lower": "a", "upper": 3}}), {}, 422, "invalid_assertion",
     "assertion.condition.lower"),
    ("length_compare negative", "POST", "/workflows/{wf}/tests",
     test_body({**ASSERTION, "condition": {"kind": "length_compare", "op": "eq", "expected": -1}}), {}, 422,
     "invalid_assertion", "assertion.condition.expected"),
    ("similarity threshold > 1", "POST", "/workflows/{wf}/tests",
     test_body({**ASSERTION, "condition": {"kind": "similarity_gte", "reference": "a", "threshold": 2}}), {}, 422,
     "invalid_assertion", "assertion.condition.threshold"),
    ("nested condition unknown kind", "POST", "/workflows/{wf}/tests",
     test_body({**ASSERTION, "condition": {"kind": "all_items_match", "condition": {"kind": "nope"}}}), {}, 422,
     "invalid_assertion", "assertion.condition.condition.kind"),
    ("split_iou_gte malformed expected", "POST", "/workflows/{wf}/tests",
     test_body({**ASSERTION, "condition": {"kind": "split_iou_gte", "expected": {"splits": [{"name": "a", "pages": "1"}]}}}),
     {}, 422, "invalid_assertion", "assertion.condition.expected.splits.0.pages"),
    ("missing output handle", "POST", "/workflows/{wf}/tests",
     test_body({"target": {"path": "x"}, "condition": {"kind": "exists"}}), {}, 422, "invalid_assertion",
     "assertion.target.output_handle_id"),
    ("test on unknown block", "POST", "/workflows/{wf}/tests", test_body(block_id="ghost"), {}, 404, "block_not_found",
     "target.block_id"),
    ("test without assertion", "POST", "/workflows/{wf}/tests",
     {"target": {"type": "block", "block_id": "fn"}, "source": {"type": "manual", "handle_inputs": {}}}, {}, 422,
     "validation_error", "assertion"),
    ("assertion null on PATCH", "PATCH", "/workflows/{wf}/tests/{test_id}", {"assertion": None}, {}, 422,
     "validation_error", "assertion"),
    ("block config not an object", "PATCH", "/workflows/{wf}/blocks/fn", {"config": [1]}, {}, 422, "validation_error",
     "config"),
    ("duplicate block id", "POST", "/workflows/{wf}/blocks", {"id": "fn", "type": "function"}, {}, 409, "block_exists", "fn"),
    ("runs limit 0", "GET", "/workflows/tests/runs?limit=0", None, {}, 422, "validation_error", "limit"),
    ("runs limit 1000", "GET", "/workflows/tests/runs?limit=1000", None, {}, 422, "validation_error", "limit"),
    ("results limit 0", "GET", "/workflows/tests/runs/{run_id}/results?limit=0", None, {}, 422, "validation_error", "limit"),
    ("bad cursor", "GET", "/workflows/tests/runs?after=wftestrun_nope", None, {}, 422, "invalid_cursor", "after"),
    ("bad before cursor", "GET", "/workflows/tests/runs?before=garbage", None, {}, 422, "invalid_cursor", "before"),
    ("bad from_date", "GET", "/workflows/tests/runs?from_date=2026-13-45", None, {}, 422, "validation_error", "from_date"),
    ("bad to_date", "GET", "/workflows/tests/runs?to_date=yesterday", None, {}, 422, "validation_error", "to_date"),
    ("unknown sort_by", "GET", "/workflows/tests/runs?sort_by=vibes", None, {}, 422, "validation_error", "sort_by"),
    ("unknown status", "GET", "/workflows/tests/runs?statuses=pending,queued", None, {}, 422, "validation_error", "statuses"),
    ("bad order", "GET", "/workflows/tests/runs?order=sideways", None, {}, 422, "validation_error", "order"),
    ("missing Api-Key", "GET", "/workflows", None, {"Api-Key": None}, 401, "unauthorized", "Api-Key"),
    ("invalid Api-Key", "GET", "/workflows", None, {"Api-Key": "wft_not-a-key"}, 401, "unauthorized", "Api-Key"),
    ("revoked Api-Key", "POST", "/workflows", {"name": "x"}, {"Api-Key": "{revoked_key}"}, 401, "unauthorized", "Api-Key"),
    ("cancel a cancelled run", "POST", "/workflows/tests/runs/{cancelled_run}/cancel", None, {}, 404,
     "run_not_cancellable", "cancelled"),
    ("bad upload token", "PUT", "/files/upload/{file_id}/content?token=123.abc", b"x", {"Api-Key": None}, 401,
     "invalid_upload_token", "upload URL"),
    ("upload size not an integer", "POST", "/files/upload", {"filename": "a", "size_bytes": "10"}, {}, 422,
     "validation_error", "size_bytes"),
    ("NaN in a body", "POST", "/workflows/{wf}/blocks", b'{"id": "n", "type": "function", "config": {"x": NaN}}', {},
     422, "invalid_json", "NaN"),
    ("number out of range", "POST", "/workflows/{wf}/blocks", b'{"id": "n", "type": "function", "position_x": 1e999}',
     {}, 422, "invalid_json", "1e999"),
    ("NUL in a string", "POST", "/workflows", {"name": "a\u0000b"}, {}, 422, "validation_error", "body.name"),
    ("NUL in a jsonb value", "POST", "/workflows/{wf}/tests",
     {**test_body(), "source": {"type": "manual", "handle_inputs": {"input-json-0": {"type": "json", "data": "\u0000"}}}},
     {}, 422, "validation_error", "body.source.handle_inputs"),
    ("NUL in the path", "GET", "/workflows/wf_%00", None, {}, 422, "validation_error", "path"),
    ("NUL in the query", "GET", "/workflows/tests/runs?workflow_id=a%00", None, {}, 422, "validation_error", "query"),
    ("body nested too deep", "POST", "/workflows/{wf}/blocks", {"id": "deep", "type": "function", "config": DEEP}, {},
     422, "validation_error", "body.config"),
    ("unknown route", "GET", "/no/such/thing", None, {}, 404, "not_found", "route"),
    ("wrong method", "PUT", "/workflows", {"name": "x"}, {}, 405, "method_not_allowed", "Method"),
    ("Idempotency-Key too long", "POST", "/workflows/{wf}/tests/runs", {}, {"Idempotency-Key": "k" * 300}, 422,
     "validation_error", "Idempotency-Key"),
    ("auth is checked before the body", "POST", "/workflows", b"{", {"Api-Key": None}, 401, "unauthorized", "Api-Key"),
    ("batch body not an array", "POST", "/workflows/{wf}/blocks/batch", {"id": "b", "type": "function"}, {}, 422,
     "validation_error", "array"),
    ("batch with a duplicate id", "POST", "/workflows/{wf}/blocks/batch",
     [{"id": "twin", "type": "function"}, {"id": "twin", "type": "function"}], {}, 409, "block_exists", "twin"),
    ("batch item invalid", "POST", "/workflows/{wf}/blocks/batch", [{"id": "ok1", "type": "function"}, {"id": "ok2"}],
     {}, 422, "validation_error", "body.1.type"),
    ("block id with spaces", "POST", "/workflows/{wf}/blocks", {"id": "has space", "type": "function"}, {}, 422,
     "validation_error", "id"),
    ("unknown block", "GET", "/workflows/{wf}/blocks/ghost", None, {}, 404, "block_not_found", "ghost"),
    ("unknown workflow", "GET", "/workflows/wf_nope", None, {}, 404, "workflow_not_found", "wf_nope"),
    ("unknown run", "GET", "/workflows/tests/runs/wftestrun_nope", None, {}, 404, "run_not_found", "wftestrun_nope"),
    ("result of a test not in the run", "GET", "/workflows/tests/runs/{run_id}/results/wfnodetest_nope", None, {}, 404,
     "result_not_found", "wfnodetest_nope"),
    ("workflows unknown sort_by", "GET", "/workflows?sort_by=size", None, {}, 422, "validation_error", "sort_by"),
    ("tests limit 1000", "GET", "/workflows/{wf}/tests?limit=1000", None, {}, 422, "validation_error", "limit"),
    ("runs limit not an integer", "GET", "/workflows/tests/runs?limit=many", None, {}, 422, "validation_error",
     "query.limit"),
    ("unknown trigger type", "GET", "/workflows/tests/runs?trigger_types=api,carrier-pigeon", None, {}, 422,
     "validation_error", "trigger_types"),
    ("PATCH test with an unknown source type", "PATCH", "/workflows/{wf}/tests/{test_id}", {"source": {"type": "fax"}},
     {}, 422, "validation_error", "source"),
    ("PATCH test with a malformed assertion", "PATCH", "/workflows/{wf}/tests/{test_id}",
     {"assertion": {**ASSERTION, "condition": {"kind": "between", "lower": 5, "upper": 1}}}, {}, 422,
     "invalid_assertion", "assertion.condition.lower"),
    ("run_step source", "POST", "/workflows/{wf}/tests",
     {**test_body(), "source": {"type": "run_step", "run_id": "wfrun_x", "step_id": None}}, {}, 422,
     "unsupported_source", "source.type"),
    ("files unknown sort_by", "GET", "/files?sort_by=size", None, {}, 422, "validation_error", "sort_by"),
    ("complete before the bytes arrive", "POST", "/files/upload/{pending_file}/complete", {}, {}, 409,
     "upload_incomplete", "uploaded"),
    ("complete with the wrong sha256", "POST", "/files/upload/{uploaded_file}/complete", {"sha256": "0" * 64}, {}, 422,
     "sha256_mismatch", "sha256"),
    ("PUT a size other than declared", "PUT", "{pending_put_path}", b"four", {"Api-Key": None, "Content-Type": "text/plain"},
     422, "size_mismatch", "size_bytes"),
    ("PUT with a token for another file", "PUT", "{forged_put_path}", b"hello", {"Api-Key": None}, 401,
     "invalid_upload_token", "upload URL"),
]

# Another organization's ids on every endpoint: 404, never 403, and no data.
FOREIGN: list[tuple] = [
    ("GET", "/workflows/{f_wf}", None), ("PATCH", "/workflows/{f_wf}", {"name": "mine now"}),
    ("DELETE", "/workflows/{f_wf}", None), ("GET", "/workflows/{f_wf}/blocks", None),
    ("POST", "/workflows/{f_wf}/blocks", {"id": "b", "type": "function"}),
    ("POST", "/workflows/{f_wf}/blocks/batch", [{"id": "b", "type": "function"}]),
    ("GET", "/workflows/{f_wf}/blocks/fn", None), ("PATCH", "/workflows/{f_wf}/blocks/fn", {"label": "x"}),
    ("DELETE", "/workflows/{f_wf}/blocks/fn", None), ("GET", "/workflows/{f_wf}/tests", None),
    ("POST", "/workflows/{f_wf}/tests", test_body()), ("GET", "/workflows/{f_wf}/tests/{f_test}", None),
    ("PATCH", "/workflows/{f_wf}/tests/{f_test}", {"name": "x"}), ("DELETE", "/workflows/{f_wf}/tests/{f_test}", None),
    ("POST", "/workflows/{f_wf}/tests/runs", {}), ("GET", "/workflows/tests/runs/{f_run}", None),
    ("POST", "/workflows/tests/runs/{f_run}/cancel", None), ("GET", "/workflows/tests/runs/{f_run}/results", None),
    ("GET", "/workflows/tests/runs/{f_run}/results/{f_test}", None), ("GET", "/files/{f_file}", None),
    ("POST", "/files/upload/{f_file}/complete", {}),
    ("POST", "/workflows/{wf}/tests/runs", {"test_id": "{f_test}"}),
]


def _fill(value: Any, w: World, extra: dict[str, str]) -> Any:
    names = {"wf": w.wf, "empty_wf": w.empty_wf, "test_id": w.test_id, "other_wf_test": w.other_wf_test,
             "run_id": w.run_id, "file_id": w.file_id, "revoked_key": w.revoked_key, "pending_file": w.pending_file,
             "pending_put_path": w.pending_put_path, "uploaded_file": w.uploaded_file,
             # the pending upload's token, presented for a different file
             "forged_put_path": w.pending_put_path.replace(w.pending_file, w.uploaded_file),
             **{f"f_{k}": v for k, v in w.foreign.items()}, **extra}
    if isinstance(value, str):
        for k, v in names.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, w, extra) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, w, extra) for v in value]
    return value


def _send(api, api_key, method, path, body, headers) -> httpx.Response:
    hdrs = {"Api-Key": api_key, **headers}
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    kwargs: dict[str, Any] = {"headers": hdrs}
    if isinstance(body, bytes):
        kwargs["content"] = body
        hdrs.setdefault("Content-Type", "application/json")
    elif body is not None:
        kwargs["json"] = body
    return httpx.request(method, api.url + "/v1" + path, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def cancelled_run(api, api_key, world) -> str:
    with httpx.Client(base_url=api.url + "/v1", headers={"Api-Key": api_key}) as c:
        run = _ok(c.post(f"/workflows/{world.wf}/tests/runs", json={}))["id"]
        _ok(c.post(f"/workflows/tests/runs/{run}/cancel"))
    return run


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, api, api_key, world, cancelled_run):
    _, method, path, body, headers, status, code, names = case
    extra = {"cancelled_run": cancelled_run}
    before = stored()
    resp = _send(api, api_key, method, _fill(path, world, extra), _fill(body, world, extra), _fill(headers, world, extra))
    assert resp.status_code == status, resp.text
    detail = resp.json()["detail"]
    assert detail["code"] == code, detail
    assert names in detail["message"], detail
    assert isinstance(detail["details"], dict)
    assert resp.headers.get("x-request-id")
    assert stored() == before


def test_bad_input_table_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("method,path,body", FOREIGN, ids=[f"{m} {p}" for m, p, _ in FOREIGN])
def test_other_organizations_ids_are_not_found(method, path, body, api, api_key, world):
    before = stored()
    resp = _send(api, api_key, method, _fill(path, world, {}), _fill(body, world, {}), {})
    assert resp.status_code == 404, resp.text
    detail = resp.json()["detail"]
    assert detail["code"].endswith("not_found")
    assert set(resp.json()) == {"detail"}  # an error body, no data of the other tenant
    assert stored() == before


def test_oversize_file_is_413_and_stores_nothing(small_api, api_key):
    before = stored()
    with httpx.Client(base_url=small_api.url + "/v1", headers={"Api-Key": api_key}) as c:
        declared = c.post("/files/upload", json={"filename": "big.bin", "size_bytes": 65})
        assert declared.status_code == 413 and declared.json()["detail"]["code"] == "file_too_large"
        assert "size_bytes" in declared.json()["detail"]["message"]
        assert stored() == before
        # A client that lies about the size is stopped at the PUT itself.
        session = c.post("/files/upload", json={"filename": "liar.bin", "size_bytes": 10}).json()
        put = httpx.put(session["uploadUrl"], content=b"x" * 100, headers=session["uploadHeaders"])
        assert put.status_code == 413 and put.json()["detail"]["code"] == "file_too_large"
        with session_scope() as s:
            assert s.get(File, session["fileId"]).status == "pending"


def test_other_organizations_ids_in_list_filters_and_cursors_show_nothing(api, api_key, world):
    with httpx.Client(base_url=api.url + "/v1", headers={"Api-Key": api_key}) as c:
        assert c.get("/workflows/tests/runs", params={"workflow_id": world.foreign["wf"]}).json()["data"] == []
        assert c.get("/workflows/tests/runs", params={"test_id": world.foreign["test"]}).json()["data"] == []
        assert world.foreign["file"] not in {f["id"] for f in c.get("/files", params={"limit": 100}).json()["data"]}
        assert world.foreign["wf"] not in {w["id"] for w in c.get("/workflows", params={"limit": 100}).json()["data"]}
        cursor = c.get("/workflows/tests/runs", params={"after": world.foreign["run"]})
        assert cursor.status_code == 422 and cursor.json()["detail"]["code"] == "invalid_cursor"


def test_date_bounds_at_the_end_of_the_calendar_are_valid(http):
    resp = http.get("/workflows/tests/runs", params={"from_date": "0001-01-01", "to_date": "9999-12-31"})
    assert resp.status_code == 200 and isinstance(resp.json()["data"], list)


def test_unexpected_errors_are_500_with_a_request_id_and_no_traceback():
    """In-process (no server can be made to fail on purpose): a route that raises."""
    from fastapi.testclient import TestClient

    from api_adapter.app import create_app

    app = create_app()

    def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/v1/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/v1/explode", headers={"x-request-id": "req-500"})
    assert resp.status_code == 500
    assert resp.json() == {"detail": {"code": "internal_error", "message": "internal server error",
                                      "details": {"request_id": "req-500"}}}
    assert resp.headers["x-request-id"] == "req-500" and "secret" not in resp.text
