"""Contract: the real retab==0.0.142 SDK round-trips every method against a real wft server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from retab.types.workflows.tests import WorkflowTest, WorkflowTestResult, WorkflowTestRun
from sqlalchemy import select, update

from api_adapter.responses import ResultOut, RunOut
from models import ids
from models.counts import recount
from models.db import session_scope
from models.drafts import pinned_condition
from models.tables import Result, Run, TestRevision

FN_CODE = "def main(inputs):\n    return {'double': inputs['input-json-0'] * 2}\n"


def _assertion(expected=42):
    return {"target": {"output_handle_id": "output-json-0", "path": "double"},
            "condition": {"kind": "equals", "expected": expected}}


def _source(x=21):
    return {"type": "manual", "handle_inputs": {"input-json-0": {"type": "json", "data": x}}}


@pytest.fixture()
def workflow(sdk):
    wf = sdk.workflows.create(name="Contract workflow", description="made by the contract test")
    yield wf
    try:
        sdk.workflows.delete(wf.id)
    except Exception:
        pass


def test_workflows_round_trip(sdk):
    wf = sdk.workflows.create(name="A", description="first")
    assert wf.id.startswith("wf_") and wf.name == "A" and wf.description == "first" and wf.created_at
    assert sdk.workflows.get(wf.id).id == wf.id
    updated = sdk.workflows.update(wf.id, name="A2", description="second")
    assert (updated.name, updated.description) == ("A2", "second")
    listed = sdk.workflows.list(limit=100)
    assert wf.id in [w.id for w in listed.data]
    sdk.workflows.delete(wf.id)
    with pytest.raises(Exception) as exc:
        sdk.workflows.get(wf.id)
    assert getattr(exc.value, "status_code", None) == 404 or "404" in str(exc.value)


def test_blocks_round_trip(sdk, workflow):
    block = sdk.workflows.blocks.create(workflow.id, id="fn", type="function", label="Double", config={"code": FN_CODE})
    assert (block.id, block.workflow_id, block.type, block.label) == ("fn", workflow.id, "function", "Double")
    batch = sdk.workflows.blocks.create_batch(workflow.id, [
        {"id": "x1", "type": "extract", "config": {"json_schema": {"type": "object", "properties": {}}}},
        {"id": "c1", "type": "classifier", "config": {"categories": [{"name": "invoice"}]}},
    ])
    assert [b.id for b in batch] == ["x1", "c1"]
    assert {b.id for b in sdk.workflows.blocks.list(workflow.id).data} == {"fn", "x1", "c1"}
    assert sdk.workflows.blocks.get(workflow.id, "x1").type == "extract"
    moved = sdk.workflows.blocks.update(workflow.id, "x1", label="Extract", position_x=10)
    assert moved.label == "Extract" and moved.position_x == 10
    sdk.workflows.blocks.delete(workflow.id, "c1")
    assert {b.id for b in sdk.workflows.blocks.list(workflow.id).data} == {"fn", "x1"}


def test_files_round_trip(sdk, tmp_path):
    path = tmp_path / "invoice.txt"
    path.write_text("INVOICE\nVendor: Acme\n\fpage two\n")
    uploaded = sdk.files.upload(str(path))
    assert uploaded.filename == "invoice.txt"
    second = tmp_path / "notes.txt"
    second.write_text("just one page")
    sdk.files.upload(str(second))
    files = sdk.files.list(limit=100)
    ours = [f for f in files if f.filename == "invoice.txt"]
    assert ours and files[0].filename == "notes.txt"  # newest first
    got = sdk.files.get(ours[0].id)
    assert got.id == ours[0].id and got.page_count == 2
    assert [f.filename for f in sdk.files.list(filename="notes.txt")] == ["notes.txt"]
    assert {f.filename for f in sdk.files.list(mime_type="text/plain", order="asc", limit=100)} >= {"invoice.txt", "notes.txt"}
    # The bytes stored are the bytes sent.
    with session_scope() as s:
        from models.tables import File
        assert s.scalar(select(File.data).where(File.id == got.id)) == path.read_bytes()


def test_health_and_request_ids(api, http):
    health = httpx.get(api.url + "/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"} and health.headers["x-request-id"]
    echoed = http.get("/workflows", headers={"x-request-id": "trace-123"})
    assert echoed.status_code == 200 and echoed.headers["x-request-id"] == "trace-123"
    minted = {http.get("/workflows").headers["x-request-id"] for _ in range(2)}
    assert len(minted) == 2  # a fresh id per request when the client sends none


def test_tests_round_trip(sdk, workflow):
    sdk.workflows.blocks.create(workflow.id, id="fn", type="function", config={"code": FN_CODE})
    test = sdk.workflows.tests.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                                      source=_source(), assertion=_assertion(), name="doubles")
    assert isinstance(test, WorkflowTest) and test.id.startswith("wfnodetest_")
    assert test.assertion.id.startswith("assert_") and test.assertion.target.path == "double"
    assert test.schema_drift == "unknown" and test.created_at and test.updated_at
    assert sdk.workflows.tests.get(workflow.id, test.id).name == "doubles"
    renamed = sdk.workflows.tests.update(workflow.id, test.id, name="doubles twenty-one",
                                         assertion={**_assertion(), "condition": {"kind": "matches_regex", "expected": "^4"}})
    assert renamed.name == "doubles twenty-one" and renamed.assertion.condition["kind"] == "matches_regex"
    unchanged = sdk.workflows.tests.update(workflow.id, test.id)  # empty PATCH: no body at all
    assert unchanged.name == "doubles twenty-one"
    listed = sdk.workflows.tests.list(workflow.id, target_block_id="fn")
    assert [t.id for t in listed.data] == [test.id]
    sdk.workflows.tests.delete(workflow.id, test.id)
    assert sdk.workflows.tests.list(workflow.id).data == []


def _fan_out(run_id: str) -> dict[str, str]:
    """What the fan-out writes: the run goes running and gets one pending result per pinned test
    revision (test_seq = that revision's created_seq). Returns {test_id: result_id}."""
    now = datetime.now(timezone.utc)
    with session_scope() as s:
        run = s.get(Run, run_id)
        revisions = s.scalars(select(TestRevision).where(pinned_condition(
            run.workflow_id, run.pinned_seq, run.test_id, run.target_block_id if run.test_id is None else None))).all()
        made = {}
        for rev in revisions:
            made[rev.id] = ids.new_id(ids.RESULT)
            s.add(Result(id=made[rev.id], run_id=run_id, test_id=rev.id, test_seq=rev.created_seq,
                         target_block_id=rev.target_block_id, status="pending", attempts=0, created_at=now,
                         warnings=[]))
        run.status, run.started_at = "running", now
        return made


def _finish(run_id: str, test_id: str, **values) -> None:
    with session_scope() as s:
        s.execute(update(Result).where(Result.run_id == run_id, Result.test_id == test_id).values(**values))
        s.flush()
        run = s.get(Run, run_id)
        for bucket, n in recount(s, run_id).items():
            setattr(run, bucket, n)
        if run.queued == run.running == 0:
            run.status, run.completed_at = "completed", datetime.now(timezone.utc)
            run.duration_ms = int((run.completed_at - run.started_at).total_seconds() * 1000)


def test_runs_and_results_round_trip(sdk, workflow):
    sdk.workflows.blocks.create(workflow.id, id="fn", type="function", config={"code": FN_CODE})
    sdk.workflows.blocks.create(workflow.id, id="x", type="extract", config={"json_schema": {"type": "object"}})
    t1 = sdk.workflows.tests.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                                    source=_source(), assertion=_assertion())
    t2 = sdk.workflows.tests.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                                    source=_source(1), assertion=_assertion(3))

    single = sdk.workflows.tests.runs.create(workflow_id=workflow.id, test_id=t1.id)
    assert isinstance(single, WorkflowTestRun)
    assert single.lifecycle.status == "pending" and single.total_tests == 1 and single.counts.queued == 1
    assert single.test_id == t1.id and single.target.block_id == "fn"
    assert single.workflow.requested_version == "draft" and single.workflow.version_id.startswith("ver_")
    assert single.workflow.name_at_run_time == "Contract workflow" and single.trigger.type == "api"
    assert single.timing.created_at.tzinfo is not None and single.timing.started_at is None
    block_run = sdk.workflows.tests.runs.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                                                n_consensus=3)
    assert block_run.total_tests == 2 and block_run.target.block_id == "fn" and block_run.test_id is None
    whole = sdk.workflows.tests.runs.create(workflow_id=workflow.id, n_consensus=5)
    assert whole.total_tests == 2 and whole.target is None and whole.counts.queued == 2
    assert whole.workflow.version_id == single.workflow.version_id  # same draft, same content address

    # get, list, filters and both cursor directions
    assert sdk.workflows.tests.runs.get(whole.id).id == whole.id
    mine = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=100)
    assert [r.id for r in mine.data] == [whole.id, block_run.id, single.id]  # newest first
    assert mine.list_metadata.before is None and mine.list_metadata.after is None
    page1 = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=2)
    assert [r.id for r in page1.data] == [whole.id, block_run.id] and page1.list_metadata.after == block_run.id
    assert page1.list_metadata.before is None
    page2 = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=2, after=page1.list_metadata.after)
    assert [r.id for r in page2.data] == [single.id] and page2.list_metadata.after is None
    assert page2.list_metadata.before == single.id
    back = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=2, before=page2.list_metadata.before)
    assert [r.id for r in back.data] == [whole.id, block_run.id] and back.list_metadata.before is None
    one_back = sdk.workflows.tests.runs.list(workflow_id=workflow.id, limit=1, before=single.id)
    assert [r.id for r in one_back.data] == [block_run.id] and one_back.list_metadata.before == block_run.id
    oldest = sdk.workflows.tests.runs.list(workflow_id=workflow.id, order="asc", limit=2)
    assert [r.id for r in oldest.data] == [single.id, block_run.id]
    nxt = sdk.workflows.tests.runs.list(workflow_id=workflow.id, order="asc", limit=2, after=oldest.list_metadata.after)
    assert [r.id for r in nxt.data] == [whole.id]
    assert [r.id for r in sdk.workflows.tests.runs.list(workflow_id=workflow.id, test_id=t1.id).data] == [single.id]
    by_block = sdk.workflows.tests.runs.list(workflow_id=workflow.id, target_block_id="fn", statuses="pending,running")
    assert [r.id for r in by_block.data] == [block_run.id, single.id]
    assert sdk.workflows.tests.runs.list(workflow_id=workflow.id, exclude_status="pending").data == []
    assert len(sdk.workflows.tests.runs.list(workflow_id=workflow.id, status="pending").data) == 3
    assert len(sdk.workflows.tests.runs.list(workflow_id=workflow.id, trigger_type="api").data) == 3
    assert sdk.workflows.tests.runs.list(workflow_id=workflow.id, trigger_types=["manual", "schedule"]).data == []
    today = datetime.now(timezone.utc).date()
    assert len(sdk.workflows.tests.runs.list(workflow_id=workflow.id, from_date=today.isoformat(),
                                             to_date=today.isoformat()).data) == 3
    assert sdk.workflows.tests.runs.list(workflow_id=workflow.id,
                                         from_date=(today + timedelta(days=1)).isoformat()).data == []
    assert sdk.workflows.tests.runs.list(workflow_id=workflow.id, to_date="2000-01-01T00:00:00Z").data == []
    by_start = sdk.workflows.tests.runs.list(workflow_id=workflow.id, sort_by="started_at", order="desc")
    assert {r.id for r in by_start.data} == {whole.id, block_run.id, single.id}

    # Result rows as the fan-out writes them; then the test is edited: results keep the pinned source.
    made = _fan_out(block_run.id)
    assert set(made) == {t1.id, t2.id}
    sdk.workflows.tests.update(workflow.id, t1.id, source=_source(100))
    pending = sdk.workflows.tests.runs.results.get(block_run.id, t1.id)
    assert pending.lifecycle.status == "pending" and pending.verdict is None and pending.assertion_result is None
    assert pending.source.handle_inputs["input-json-0"]["data"] == 21  # the pinned revision, not the edit
    assert pending.id == made[t1.id] and pending.run_id == block_run.id and pending.timing.created_at

    now = datetime.now(timezone.utc)
    passed_result = {"assertion_id": t1.assertion.id, "condition_kind": "equals", "status": "passed",
                     "actual_value": 42, "expected_value": 42, "score": None, "threshold": None,
                     "metric_kind": None, "assertion_label": None, "failure": None}
    _finish(block_run.id, t1.id, status="completed", verdict="passed", started_at=now, completed_at=now,
            duration_ms=5, outputs={"output-json-0": {"double": 42}}, assertion_result=passed_result,
            verdict_summary={"result": True, "assertions_passed": 1, "assertions_failed": 0,
                             "blocked_assertions": 0, "failed_assertion_ids": []},
            execution_fingerprint="e" * 32, attempts=1, n_consensus=3)
    _finish(block_run.id, t2.id, status="error", error_message="boom", started_at=now, completed_at=now, attempts=3)

    first = sdk.workflows.tests.runs.results.list(block_run.id, limit=1)
    assert len(first.data) == 1 and first.list_metadata.after == first.data[0].id
    everything = {r.test_id: r for r in sdk.workflows.tests.runs.results.list(block_run.id, limit=100).data}
    assert set(everything) == {t1.id, t2.id}
    ok = sdk.workflows.tests.runs.results.get(block_run.id, t1.id)
    assert isinstance(ok, WorkflowTestResult)
    assert ok.lifecycle.status == "completed" and ok.verdict == {"status": "passed"}
    assert ok.assertion_result.status == "passed" and ok.assertion_result.assertion_id == t1.assertion.id
    assert ok.outputs["output-json-0"] == {"double": 42} and ok.verdict_summary.result is True
    assert ok.execution_fingerprint == "e" * 32 and ok.duration_ms == 5 and ok.error is None
    assert ok.timing.completed_at is not None and ok.skipped is False and ok.warnings == []
    bad = sdk.workflows.tests.runs.results.get(block_run.id, t2.id)
    assert bad.lifecycle.status == "error" and bad.lifecycle.message == "boom"
    assert bad.error == "boom" and bad.verdict is None
    done = sdk.workflows.tests.runs.get(block_run.id)
    assert done.lifecycle.status == "completed" and (done.counts.passed, done.counts.error) == (1, 1)
    latest = sdk.workflows.tests.get(workflow.id, t1.id).latest_run_summary
    assert latest.status == "passed" and latest.run_record_id == made[t1.id]
    assert sdk.workflows.tests.get(workflow.id, t2.id).latest_failing_run_summary.status == "error"

    # cancel: pending → cancelled with every test in the cancelled bucket; a second cancel is refused
    cancelled = sdk.workflows.tests.runs.cancel(whole.id)
    assert cancelled.lifecycle.status == "cancelled" and cancelled.lifecycle.reason
    assert cancelled.counts.cancelled == 2 and cancelled.counts.queued == 0
    with pytest.raises(Exception) as exc:
        sdk.workflows.tests.runs.cancel(whole.id)
    assert getattr(exc.value, "status_code", 404) == 404
    assert "run_not_cancellable" in str(exc.value) or getattr(exc.value, "code", "") == "run_not_cancellable"
    with pytest.raises(Exception):
        sdk.workflows.tests.runs.cancel(block_run.id)  # completed
    assert sdk.workflows.tests.runs.get(single.id).lifecycle.status == "pending"  # nothing in the API executes


def test_result_extras_on_the_wire(http, sdk, workflow):
    """Beyond what 0.0.142 parses, results carry consensus, attempts and n_consensus."""
    sdk.workflows.blocks.create(workflow.id, id="fn", type="function", config={"code": FN_CODE})
    test = sdk.workflows.tests.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                                      source=_source(), assertion=_assertion())
    run = sdk.workflows.tests.runs.create(workflow_id=workflow.id, n_consensus=7)
    _fan_out(run.id)
    _finish(run.id, test.id, status="cancelled", attempts=2, n_consensus=7, consensus={"likelihoods": {"double": 1.0}})
    body = http.get(f"/workflows/tests/runs/{run.id}/results/{test.id}").json()
    assert (body["attempts"], body["n_consensus"], body["consensus"]) == (2, 7, {"likelihoods": {"double": 1.0}})
    assert body["lifecycle"] == {"status": "cancelled", "reason": "cancelled by user"}
    assert datetime.fromisoformat(body["timing"]["created_at"]).tzinfo is not None
    assert body["timing"]["duration_ms"] is None and body["verdict"] is None and body["error"] is None
    run_body = http.get(f"/workflows/tests/runs/{run.id}").json()
    assert run_body["timing"]["duration_ms"] is not None and run_body["n_consensus"] == 7
    ResultOut.model_validate(body)  # the documented response schemas describe these bodies exactly
    RunOut.model_validate(run_body)
    assert datetime.fromisoformat(run_body["timing"]["completed_at"]).tzinfo is not None


def test_run_error_lifecycle_parses(sdk, http, workflow):
    """What the workers record on a failed run reaches the SDK as 0.0.142's ErrorTerminal."""
    sdk.workflows.blocks.create(workflow.id, id="fn", type="function", config={"code": FN_CODE})
    sdk.workflows.tests.create(workflow_id=workflow.id, target={"type": "block", "block_id": "fn"},
                               source=_source(), assertion=_assertion())
    run = sdk.workflows.tests.runs.create(workflow_id=workflow.id)
    with session_scope() as s:
        s.execute(update(Run).where(Run.id == run.id).values(
            status="error", completed_at=datetime.now(timezone.utc), lifecycle_detail={
                "message": "run deadline exceeded", "stage": "execution", "category": "deadline_exceeded",
                "details": {"error_code": "deadline", "unfinished_tests": 1, "block_id": 7}}))
    failed = sdk.workflows.tests.runs.get(run.id)
    RunOut.model_validate(http.get(f"/workflows/tests/runs/{run.id}").json())
    assert failed.lifecycle.status == "error" and failed.lifecycle.message == "run deadline exceeded"
    assert (failed.lifecycle.stage, failed.lifecycle.category) == ("execution", "deadline_exceeded")
    assert failed.lifecycle.details.error_code == "deadline"
    assert failed.lifecycle.details.context == {"unfinished_tests": 1, "block_id": 7}
    listed = sdk.workflows.tests.runs.list(workflow_id=workflow.id, status="error")
    assert [r.id for r in listed.data] == [run.id]
