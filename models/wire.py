"""Wire models: requests validated at the edge, responses shaped exactly as ``retab==0.0.142``
parses them (flat counts, ``assertion_result.status``, ``verdict`` as an object, ``error`` as a
string, no ``queued`` lifecycle, ``timing.created_at`` always, ``list_metadata`` with both keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from models.tables import Block, File, Result, Run, TestRevision, Workflow

# --------------------------------------------------------------------------------------- requests


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EmailTrigger(Request):
    allowed_senders: list[str] = Field(default_factory=list)
    allowed_domains: list[str] = Field(default_factory=list)


class WorkflowCreate(Request):
    name: str = Field("Untitled Workflow", max_length=500)
    description: str = Field("", max_length=10_000)


class WorkflowUpdate(Request):
    name: str | None = Field(None, max_length=500)
    description: str | None = Field(None, max_length=10_000)
    email_trigger: EmailTrigger | None = None


BLOCK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"


class BlockCreate(Request):
    id: str = Field(pattern=BLOCK_ID_PATTERN)
    type: str = Field(min_length=1, max_length=50)
    label: str = Field("", max_length=500)
    position_x: float = 0
    position_y: float = 0
    width: float | None = None
    height: float | None = None
    config: dict[str, Any] | None = None
    parent_id: str | None = Field(None, max_length=200)


class BlockUpdate(Request):
    label: str | None = Field(None, max_length=500)
    position_x: float | None = None
    position_y: float | None = None
    width: float | None = None
    height: float | None = None
    config: dict[str, Any] | None = None
    parent_id: str | None = Field(None, max_length=200)


class BlockTarget(Request):
    type: Literal["block"] = "block"
    block_id: str = Field(min_length=1, max_length=200)


class ManualSource(Request):
    type: Literal["manual"] = "manual"
    handle_inputs: dict[str, Any] = Field(default_factory=dict)


class RunStepSource(Request):
    type: Literal["run_step"]
    run_id: str
    step_id: str | None = None


class TestCreate(Request):
    __test__ = False
    target: BlockTarget
    source: ManualSource | RunStepSource = Field(discriminator="type")
    assertion: dict[str, Any]
    name: str | None = Field(None, max_length=500)


class TestUpdate(Request):
    """PATCH body: every field optional; ``assertion: null`` is refused (a test has one assertion)."""

    __test__ = False
    source: ManualSource | RunStepSource | None = Field(None, discriminator="type")
    assertion: dict[str, Any] | None = None
    name: str | None = Field(None, max_length=500)


class SourceBody(Request):
    source: ManualSource | RunStepSource = Field(discriminator="type")


class UploadCreate(Request):
    filename: str = Field(min_length=1, max_length=500)
    content_type: str = Field("application/octet-stream", max_length=200)
    size_bytes: StrictInt = Field(ge=0)
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")


class UploadComplete(Request):
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")


class RunCreate(Request):
    test_id: str | None = Field(None, min_length=1, max_length=100)
    target: BlockTarget | None = None
    # StrictInt: "5" and true are rejected, not coerced (the SDK sends what it is given).
    n_consensus: StrictInt | None = None

    @field_validator("n_consensus")
    @classmethod
    def _n_consensus(cls, value: int | None) -> int | None:
        if value is not None and value not in (3, 5, 7):
            raise ValueError("n_consensus must be one of 3, 5, 7")
        return value


# --------------------------------------------------------------------------------------- responses


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def list_envelope(items: list[dict[str, Any]], before: str | None = None, after: str | None = None) -> dict[str, Any]:
    return {"data": items, "list_metadata": {"before": before, "after": after}}


def workflow_to_wire(wf: Workflow) -> dict[str, Any]:
    trigger = wf.email_trigger or {}
    return {
        "object": "workflow", "id": wf.id, "name": wf.name, "description": wf.description or "", "published": None,
        "email_trigger": {"allowed_senders": trigger.get("allowed_senders", []),
                          "allowed_domains": trigger.get("allowed_domains", [])},
        "created_at": iso(wf.created_at), "updated_at": iso(wf.updated_at),
    }


def block_to_wire(block: Block) -> dict[str, Any]:
    return {
        "id": block.id, "workflow_id": block.workflow_id, "draft_version": None, "type": block.type,
        "label": block.label or "", "position_x": block.position_x or 0, "position_y": block.position_y or 0,
        "width": block.width, "height": block.height, "config": block.config, "parent_id": block.parent_id,
        "updated_at": iso(block.updated_at),
    }


def file_to_wire(f: File) -> dict[str, Any]:
    return {"object": "file", "id": f.id, "filename": f.filename, "created_at": iso(f.created_at),
            "updated_at": iso(f.updated_at), "page_count": f.page_count, "mime_type": f.mime_type,
            "size_bytes": f.size_bytes, "status": f.status}


def summary_to_wire(result: Result) -> dict[str, Any]:
    a = result.verdict_summary or {}
    return {
        "run_record_id": result.id, "status": result.bucket, "started_at": iso(result.started_at),
        "completed_at": iso(result.completed_at), "duration_ms": result.duration_ms,
        "workflow_draft_fingerprint": result.workflow_draft_fingerprint or "",
        "block_config_fingerprint": result.block_config_fingerprint or "",
        "assertions_passed": a.get("assertions_passed", 0), "assertions_failed": a.get("assertions_failed", 0),
        "blocked_assertions": a.get("blocked_assertions", 0),
    }


def test_to_wire(rev: TestRevision, latest: dict[str, Result | None] | None = None) -> dict[str, Any]:
    latest = latest or {}
    return {
        "id": rev.id, "workflow_id": rev.workflow_id, "target": {"type": "block", "block_id": rev.target_block_id},
        "source": rev.source, "name": rev.name, "assertion": rev.assertion, "assertion_schema_dep": None,
        "assertion_drift_status": None, "schema_drift": "unknown", "schema_drift_detail": None,
        "validation_status": "valid", "validation_issues": [],
        **{key: summary_to_wire(r) if r is not None else None for key, r in (
            ("latest_run_summary", latest.get("latest")), ("latest_passing_run_summary", latest.get("passing")),
            ("latest_failing_run_summary", latest.get("failing")))},
        "created_at": iso(rev.test_created_at), "updated_at": iso(rev.updated_at),
    }


ERROR_DETAIL_STRINGS = ("stack_trace", "block_id", "block_name", "error_code")


def _error_details(details: Any) -> dict[str, Any] | None:
    """``lifecycle.details`` as 0.0.142's ``ErrorDetails`` parses it: its four string fields, and
    everything else the workers recorded folded into ``context`` (a wrong type would fail the SDK)."""
    if not isinstance(details, dict) or not details:
        return None
    out: dict[str, Any] = {k: details[k] for k in ERROR_DETAIL_STRINGS if isinstance(details.get(k), str)}
    context = dict(details["context"]) if isinstance(details.get("context"), dict) else {}
    context.update({k: v for k, v in details.items() if k != "context" and k not in out})
    if context:
        out["context"] = context
    return out


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _lifecycle(status: str, detail: dict[str, Any] | None, error_message: str | None = None) -> dict[str, Any]:
    detail = detail or {}
    if status == "error":
        return {"status": "error", "message": str(detail.get("message") or error_message or "error"),
                "stage": _optional_str(detail.get("stage")), "category": _optional_str(detail.get("category")),
                "details": _error_details(detail.get("details"))}
    if status == "cancelled":
        return {"status": "cancelled", "reason": detail.get("reason", "cancelled by user")}
    return {"status": status}


def run_to_wire(run: Run) -> dict[str, Any]:
    return {
        "object": "workflow_test_run", "id": run.id,
        "workflow": {"workflow_id": run.workflow_id, "version_id": run.version_id,
                     "name_at_run_time": run.name_at_run_time, "requested_version": "draft"},
        "trigger": {"type": run.trigger_type},
        "lifecycle": _lifecycle(run.status, run.lifecycle_detail),
        "timing": {"created_at": iso(run.created_at), "started_at": iso(run.started_at),
                   "completed_at": iso(run.completed_at), "duration_ms": run.duration_ms},
        "test_id": run.test_id,
        "target": {"type": "block", "block_id": run.target_block_id} if run.target_block_id else None,
        "total_tests": run.total_tests, "n_consensus": run.n_consensus,
        "counts": run.counts(),
    }


def result_to_wire(result: Result, rev: TestRevision | None) -> dict[str, Any]:
    status = result.status
    return {
        "object": "workflow_test_result", "id": result.id, "run_id": result.run_id, "test_id": result.test_id,
        "lifecycle": _lifecycle(status, None, result.error_message),
        "timing": {"created_at": iso(result.created_at), "started_at": iso(result.started_at),
                   "completed_at": iso(result.completed_at), "duration_ms": result.duration_ms},
        "target": {"type": "block", "block_id": result.target_block_id},
        "source": rev.source if rev is not None else {"type": "manual", "handle_inputs": {}},
        "execution_fingerprint": result.execution_fingerprint or "",
        "handle_inputs_fingerprint": result.handle_inputs_fingerprint or "",
        "workflow_draft_fingerprint": result.workflow_draft_fingerprint or "",
        "block_config_fingerprint": result.block_config_fingerprint or "",
        "started_at": iso(result.started_at), "completed_at": iso(result.completed_at),
        "duration_ms": result.duration_ms, "outputs": result.outputs, "routing_decision": result.routing_decision,
        "warnings": [str(w) for w in (result.warnings or [])],
        "error": result.error_message if status in ("error",) or result.error_message else None,
        "skipped": False, "assertion_result": result.assertion_result, "verdict_summary": result.verdict_summary,
        "verdict": {"status": result.verdict} if status == "completed" and result.verdict else None,
        "consensus": result.consensus, "attempts": result.attempts, "n_consensus": result.n_consensus,
    }
