"""Storage: SQLAlchemy 2.0 typed tables. PostgreSQL is the source of truth.

Snapshot isolation without copying tests at run creation (SPEC §3 properties 1 and 2):
every workflow has a monotonically increasing ``change_seq``. Tests are *revisioned rows*:
an edit retires the current revision (``retired_seq = new seq``) and inserts a new one
(``created_seq = new seq``); a delete only retires. A run pins the workflow's ``change_seq``
when its create call commits, so "the tests as they stood" is the set of revisions with
``created_seq <= pin < coalesce(retired_seq, ∞)``: one indexed query the fan-out runs later,
nothing copied in the create call. Blocks are small and few, so a run pins them by value: the
create call stores the draft's blocks as a content-addressed ``WorkflowVersion``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB, Any: JSONB}


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _now()


class ApiKey(Base):
    """Keys are stored as SHA-256 digests; the plaintext is shown once, at creation."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Workflow(Base):
    __tablename__ = "workflows"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(500), default="Untitled Workflow")
    description: Mapped[str] = mapped_column(Text, default="")
    email_trigger: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Bumped (under the row lock) by every change to the draft's tests; runs pin it.
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    # Soft delete: pending runs must be able to see that their workflow went away.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_workflows_org_created", "organization_id", "created_at", "id"),)


class Block(Base):
    """A block of the current draft (the run pins blocks by value in WorkflowVersion)."""

    __tablename__ = "blocks"
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(500), default="")
    position_x: Mapped[float] = mapped_column(Float, default=0)
    position_y: Mapped[float] = mapped_column(Float, default=0)
    width: Mapped[float | None] = mapped_column(Float)
    height: Mapped[float | None] = mapped_column(Float)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    parent_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class WorkflowVersion(Base):
    """Immutable, content-addressed snapshot of a draft's blocks: same content, same id."""

    __tablename__ = "workflow_versions"
    workflow_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()


class File(Base):
    __tablename__ = "files"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    filename: Mapped[str] = mapped_column(String(500))
    mime_type: Mapped[str] = mapped_column(String(200))
    declared_size: Mapped[int | None] = mapped_column(BigInteger)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | uploaded | complete
    page_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_files_org_created", "organization_id", "created_at", "id"),)


class TestRevision(Base):
    """One revision of a workflow test; ``retired_seq IS NULL`` marks the current one."""

    __tablename__ = "test_revisions"
    __test__ = False  # not a pytest class
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    retired_seq: Mapped[int | None] = mapped_column(BigInteger)
    organization_id: Mapped[str] = mapped_column(String(40))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    target_block_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[dict[str, Any]] = mapped_column(JSONB)
    assertion: Mapped[dict[str, Any]] = mapped_column(JSONB)
    test_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("ix_test_revisions_current", "workflow_id", "target_block_id", "id",
              postgresql_where=text("retired_seq IS NULL")),
        Index("ix_test_revisions_pin", "workflow_id", "created_seq", "retired_seq"),
    )


RUN_STATUSES = ("pending", "running", "completed", "error", "cancelled")
TERMINAL_RUN_STATUSES = ("completed", "error", "cancelled")
BUCKETS = ("queued", "running", "passed", "failed", "blocked", "error", "cancelled")


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(40))
    workflow_id: Mapped[str] = mapped_column(String(40))
    version_id: Mapped[str] = mapped_column(String(64))
    name_at_run_time: Mapped[str] = mapped_column(String(500))
    pinned_seq: Mapped[int] = mapped_column(BigInteger)
    test_id: Mapped[str | None] = mapped_column(String(40))
    target_block_id: Mapped[str | None] = mapped_column(String(200))
    n_consensus: Mapped[int | None] = mapped_column(Integer)
    trigger_type: Mapped[str] = mapped_column(String(20), default="api")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    lifecycle_detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Last time anything moved; the reaper treats a long silence as a lost message.
    progress_at: Mapped[datetime] = _now()
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fanout_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_tests: Mapped[int] = mapped_column(Integer)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    running: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_runs_org_created", "organization_id", "created_at", "id"),
        Index("ix_runs_active", "status", postgresql_where=text("status IN ('pending', 'running')")),
        Index("uq_runs_idempotency", "organization_id", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
    )

    def counts(self) -> dict[str, int]:
        return {b: getattr(self, b) for b in BUCKETS}


RESULT_STATUSES = ("pending", "running", "completed", "error", "cancelled")
TERMINAL_RESULT_STATUSES = ("completed", "error", "cancelled")


def bucket_of(status: str, verdict: str | None) -> str:
    """The count bucket of a result (SPEC §2's table)."""
    if status == "pending":
        return "queued"
    if status == "completed":
        return verdict or "error"
    return status  # running | error | cancelled


class Result(Base):
    """One test inside one run. Every move is a guarded transition committed with its count change."""

    __tablename__ = "results"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    test_id: Mapped[str] = mapped_column(String(40))
    test_seq: Mapped[int] = mapped_column(BigInteger)  # the pinned revision's created_seq
    target_block_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    verdict: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    routing_decision: Mapped[list[Any] | None] = mapped_column(JSONB)
    warnings: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    error_message: Mapped[str | None] = mapped_column(Text)
    assertion_result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    verdict_summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    consensus: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    n_consensus: Mapped[int | None] = mapped_column(Integer)
    execution_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    handle_inputs_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    workflow_draft_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    block_config_fingerprint: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        UniqueConstraint("run_id", "test_id", name="uq_results_run_test"),
        Index("ix_results_run_status", "run_id", "status"),
        Index("ix_results_test", "test_id", "completed_at"),
    )

    @property
    def bucket(self) -> str:
        return bucket_of(self.status, self.verdict)


class SubCall(Base):
    """One consensus sub-call's outcome. The chord passes only tiny statuses around; the
    choices themselves travel through PostgreSQL (SPEC §3 property 8)."""

    __tablename__ = "sub_calls"
    run_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    test_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    choice: Mapped[Any | None] = mapped_column(JSONB)
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(200))
