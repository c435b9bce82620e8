"""What one test does, free of Celery: load the frozen test and block, resolve inputs, call the
block (one sub-call at a time), assemble, assert, and shape the outcome for ``workers.state``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select

from models.canonical import fingerprint
from models.db import autocommit, session_scope
from models.tables import File, Result, Run, SubCall, TestRevision, WorkflowVersion
from workers.blocks.base import BlockError, BlockOutput, BlockSpec, CallContext
from workers.state import Outcome

CONSENSUS_TYPES = frozenset({"extract", "classifier", "split"})


@dataclass(frozen=True)
class TestContext:
    __test__ = False

    run_id: str
    test_id: str
    block: BlockSpec
    inputs: dict[str, Any]
    handle_inputs: dict[str, Any]
    assertion: dict[str, Any]
    n_consensus: int
    version_id: str
    version_content: dict[str, Any]

    def call_context(self, call_index: int) -> CallContext:
        return CallContext(block=self.block, inputs=self.inputs, call_index=call_index,
                           n_consensus=self.n_consensus, seed=f"{self.run_id}:{self.test_id}")

    def fingerprints(self) -> dict[str, str]:
        inputs_fp = fingerprint(self.handle_inputs)
        config_fp = fingerprint({"type": self.block.type, "config": self.block.config})
        return {
            "handle_inputs_fingerprint": inputs_fp,
            "block_config_fingerprint": config_fp,
            "workflow_draft_fingerprint": fingerprint(self.version_content),
            "execution_fingerprint": fingerprint({"inputs": inputs_fp, "config": config_fp,
                                                  "n_consensus": self.n_consensus}),
        }


def effective_n_consensus(block_type: str, config: dict[str, Any], run_override: int | None) -> int:
    """The run's override, else the block's config, else 1; only consensus block types use it."""
    if block_type not in CONSENSUS_TYPES:
        return 1
    if run_override:
        return run_override
    configured = config.get("n_consensus")
    if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 1:
        return configured
    return 1


def _file_ids_of(handle_value: Any) -> str | None:
    if not isinstance(handle_value, dict) or handle_value.get("type") != "file":
        return None
    if isinstance(handle_value.get("file_id"), str):
        return handle_value["file_id"]
    document = handle_value.get("document")
    if isinstance(document, dict):
        return document.get("id") or document.get("original_id")
    return None


@lru_cache(maxsize=64)
def _document(organization_id: str, file_id: str):
    """Files are immutable once uploaded, so a worker process keeps the last few it parsed: a
    run's tests usually share a handful of documents, and parsing a PDF per test is the waste."""
    from workers.blocks.documents import load_document

    with session_scope() as session:
        row = session.execute(
            select(File.id, File.filename, File.mime_type, File.data)
            .where(File.id == file_id, File.organization_id == organization_id)
        ).first()
    if row is None or row.data is None:
        raise BlockError(f"file {file_id!r} not found or never uploaded")
    return load_document(row.id, row.filename, row.mime_type, row.data)


@lru_cache(maxsize=128)
def _version_content(workflow_id: str, version_id: str) -> dict[str, Any] | None:
    """Versions are content-addressed and immutable: cache them per process (read-only)."""
    with session_scope() as session:
        version = session.get(WorkflowVersion, (workflow_id, version_id))
        return version.content if version is not None else None


def resolve_inputs(organization_id: str, handle_inputs: dict[str, Any]) -> dict[str, Any]:
    """JSON handles → their ``data``; file handles (``file_id`` or ``document`` forms) → Document."""
    resolved: dict[str, Any] = {}
    for handle_id, value in (handle_inputs or {}).items():
        file_id = _file_ids_of(value)
        if file_id is not None:
            try:
                resolved[handle_id] = _document(organization_id, file_id)
            except BlockError as exc:
                raise BlockError(f"input {handle_id!r}: {exc}") from exc
        elif isinstance(value, dict) and value.get("type") == "json":
            resolved[handle_id] = value.get("data")
        elif isinstance(value, dict) and value.get("type") == "text":
            resolved[handle_id] = value.get("text")
        else:
            resolved[handle_id] = value
    return resolved


class ContextError(Exception):
    """The frozen test or block cannot be loaded: the test ends ``error`` with this message."""


def load_current_context(run_id: str, test_id: str, attempt: int,
                         with_sub_calls: bool = False) -> tuple[TestContext, list[Any]] | None:
    """One query for a consensus task: None when the claim ``attempt`` is no longer the live one
    (cancelled, or taken over), else the test's context and, if asked, its recorded sub-calls."""
    columns = [Run.status.label("run_status"), Result.status.label("result_status"), Result.attempts,
               Run.organization_id, Run.workflow_id, Run.version_id, Run.n_consensus, Result.target_block_id,
               TestRevision.source, TestRevision.assertion]
    if with_sub_calls:
        columns.append(
            select(func.json_agg(func.json_build_array(SubCall.idx, SubCall.ok, SubCall.choice, SubCall.error_message)))
            .where(SubCall.run_id == run_id, SubCall.test_id == test_id, SubCall.attempt == attempt)
            .scalar_subquery().label("sub_calls"))
    with autocommit() as conn:
        row = conn.execute(
            select(*columns)
            .join(Result, Result.run_id == Run.id)
            .join(TestRevision, (TestRevision.id == Result.test_id) & (TestRevision.created_seq == Result.test_seq))
            .where(Run.id == run_id, Result.test_id == test_id)
        ).first()
    if row is None or row.run_status != "running" or row.result_status != "running" or row.attempts != attempt:
        return None
    return build_context(run_id, test_id, row), (row.sub_calls or []) if with_sub_calls else []


def build_context(run_id: str, test_id: str, row: Any) -> TestContext:
    """The frozen test, its block from the pinned version and its resolved inputs. ``row`` carries
    organization_id, workflow_id, version_id, n_consensus, target_block_id, source and assertion."""
    if row.assertion is None:
        raise ContextError(f"the pinned revision of test {test_id} is missing")
    content = _version_content(row.workflow_id, row.version_id)
    if content is None:
        raise ContextError(f"workflow version {row.version_id} not found")
    block_json = next((b for b in content.get("blocks", []) if b["id"] == row.target_block_id), None)
    if block_json is None:
        raise ContextError(f"block {row.target_block_id!r} is not in workflow version {row.version_id}")
    block = BlockSpec(id=block_json["id"], type=block_json["type"], label=block_json.get("label") or "",
                      config=block_json.get("config") or {})
    handle_inputs = (row.source or {}).get("handle_inputs") or {}
    try:
        inputs = resolve_inputs(row.organization_id, handle_inputs)
    except BlockError as exc:
        raise ContextError(str(exc)) from exc
    return TestContext(
        run_id=run_id, test_id=test_id, block=block, inputs=inputs, handle_inputs=handle_inputs,
        assertion=row.assertion, n_consensus=effective_n_consensus(block.type, block.config, row.n_consensus),
        version_id=row.version_id, version_content=content,
    )


def _judge():
    """The provider as the assertion engine's judge (it may raise ProviderUnavailable)."""
    from workers.blocks.providers import get_provider

    return get_provider()


def assert_outputs(ctx: TestContext, output: BlockOutput) -> Outcome:
    """Evaluate the test's one assertion on the block's outputs. A failed assertion is data."""
    from workers.assertions import evaluate_assertion, verdict_summary

    evaluated_on = dict(output.outputs)
    result = evaluate_assertion(ctx.assertion, evaluated_on, judge=_judge())
    base = dict(outputs=output.outputs, routing_decision=output.routing_decision, warnings=list(output.warnings),
                assertion_result=result, consensus=output.consensus, n_consensus=ctx.n_consensus,
                fingerprints=ctx.fingerprints())
    if result["status"] == "error":
        failure = result.get("failure") or {}
        return Outcome(status="error", error_message=f"assertion could not be evaluated: {failure.get('message', 'judge error')}",
                       verdict_summary=verdict_summary(result), **base)
    return Outcome(status="completed", verdict=result["status"], verdict_summary=verdict_summary(result), **base)


def error_outcome(ctx: TestContext | None, message: str, warnings: list[str] | None = None) -> Outcome:
    return Outcome(status="error", error_message=message, warnings=warnings or [],
                   n_consensus=ctx.n_consensus if ctx else None,
                   fingerprints=ctx.fingerprints() if ctx else None)
