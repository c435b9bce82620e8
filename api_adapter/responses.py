"""The response bodies, as the OpenAPI document describes them.

The routes return the dicts ``models.wire`` builds (shaped for retab 0.0.142, proven by the SDK
contract tests); these models only *describe* them, so clients, /docs and schemathesis know each
2xx shape. ``extra="forbid"`` makes the description exact: the fuzz test
(tests/test_fuzz_openapi.py) checks every response against it, so a serializer that grows or
renames a field without updating this file fails there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

RUN_STATUSES = Literal["pending", "running", "completed", "error", "cancelled"]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListMetadata(Out):
    before: str | None
    after: str | None


class Page(Out, Generic[T]):
    data: list[T]
    list_metadata: ListMetadata


class Health(Out):
    status: Literal["ok"]


class EmailTriggerOut(Out):
    allowed_senders: list[str]
    allowed_domains: list[str]


class WorkflowOut(Out):
    object: Literal["workflow"]
    id: str
    name: str
    description: str
    published: None
    email_trigger: EmailTriggerOut
    created_at: datetime
    updated_at: datetime


class BlockOut(Out):
    id: str
    workflow_id: str
    draft_version: None
    type: str
    label: str
    position_x: float
    position_y: float
    width: float | None
    height: float | None
    config: dict[str, Any] | None
    parent_id: str | None
    updated_at: datetime


class FileOut(Out):
    object: Literal["file"]
    id: str
    filename: str
    created_at: datetime
    updated_at: datetime
    page_count: int | None
    mime_type: str
    size_bytes: int
    status: Literal["pending", "uploaded", "complete"]


class MimeDataOut(Out):
    filename: str
    url: str


class UploadSessionOut(Out):
    """camelCase, as the SDK's upload helper reads it."""

    fileId: str
    uploadUrl: str
    uploadMethod: Literal["PUT"]
    uploadHeaders: dict[str, str]
    mimeData: MimeDataOut
    expiresAt: datetime


class UploadedContentOut(Out):
    file_id: str
    size_bytes: int


class UploadCompletedOut(Out):
    id: str
    file_id: str
    filename: str
    url: str


class BlockTargetOut(Out):
    type: Literal["block"]
    block_id: str


class RunSummaryOut(Out):
    run_record_id: str
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    workflow_draft_fingerprint: str
    block_config_fingerprint: str
    assertions_passed: int
    assertions_failed: int
    blocked_assertions: int


class TestOut(Out):
    __test__ = False
    id: str
    workflow_id: str
    target: BlockTargetOut
    source: dict[str, Any]
    name: str | None
    assertion: dict[str, Any]
    assertion_schema_dep: None
    assertion_drift_status: None
    schema_drift: Literal["unknown"]
    schema_drift_detail: None
    validation_status: Literal["valid"]
    validation_issues: list[Any]
    latest_run_summary: RunSummaryOut | None
    latest_passing_run_summary: RunSummaryOut | None
    latest_failing_run_summary: RunSummaryOut | None
    created_at: datetime
    updated_at: datetime


class ErrorDetailsOut(Out):
    stack_trace: str | None = None
    block_id: str | None = None
    block_name: str | None = None
    error_code: str | None = None
    context: dict[str, Any] | None = None


class LifecycleOut(Out):
    """``status`` always; ``message``/``stage``/``category``/``details`` when it is ``error``,
    ``reason`` when it is ``cancelled``."""

    status: RUN_STATUSES
    message: str | None = None
    stage: str | None = None
    category: str | None = None
    details: ErrorDetailsOut | None = None
    reason: str | None = None


class RunWorkflowOut(Out):
    workflow_id: str
    version_id: str
    name_at_run_time: str
    requested_version: Literal["draft"]


class TriggerOut(Out):
    type: str


class TimingOut(Out):
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None


class CountsOut(Out):
    queued: int = Field(ge=0)
    running: int = Field(ge=0)
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    blocked: int = Field(ge=0)
    error: int = Field(ge=0)
    cancelled: int = Field(ge=0)


class RunOut(Out):
    object: Literal["workflow_test_run"]
    id: str
    workflow: RunWorkflowOut
    trigger: TriggerOut
    lifecycle: LifecycleOut
    timing: TimingOut
    test_id: str | None
    target: BlockTargetOut | None
    total_tests: int = Field(ge=0)
    n_consensus: int | None
    counts: CountsOut


class VerdictOut(Out):
    status: Literal["passed", "failed", "blocked"]


class ResultOut(Out):
    object: Literal["workflow_test_result"]
    id: str
    run_id: str
    test_id: str
    lifecycle: LifecycleOut
    timing: TimingOut
    target: BlockTargetOut
    source: dict[str, Any]
    execution_fingerprint: str
    handle_inputs_fingerprint: str
    workflow_draft_fingerprint: str
    block_config_fingerprint: str
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    outputs: dict[str, Any] | None
    routing_decision: list[Any] | None
    warnings: list[str]
    error: str | None
    skipped: bool
    assertion_result: dict[str, Any] | None
    verdict_summary: dict[str, Any] | None
    verdict: VerdictOut | None
    consensus: dict[str, Any] | None
    attempts: int
    n_consensus: int | None


def documented(model: Any) -> dict[str, Any]:
    """Decorator arguments: ``model`` as the 200 response in the OpenAPI document. The route keeps
    returning its dict (``response_model=None``: no second validation on the hot path)."""
    return {"response_model": None, "responses": {200: {"model": model, "description": "OK"}}}
