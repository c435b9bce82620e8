"""One test's assertion on one block's outputs → the ``assertion_result`` the SDK parses (SPEC §5).

Pure: no I/O of its own; the judge (for LLM and embeddings conditions) is passed in.
"""

from __future__ import annotations

from typing import Any

from models.conditions import normalize_condition, validate_condition
from workers.assertions.checks import check
from workers.assertions.judge import Judge
from workers.assertions.paths import lookup
from workers.assertions.verdict import Verdict, blocked, errored


def _expected_value(cond: dict[str, Any]) -> Any:
    """What the condition compares against, for display next to ``actual_value``."""
    kind = cond.get("kind")
    if kind == "matches_regex":
        return cond.get("pattern")
    if kind == "json_schema_valid":
        return cond.get("schema")
    if kind == "similarity_gte":
        return cond.get("reference")
    if kind in ("llm_judged_as", "llm_not_judged_as"):
        return cond.get("expected_label")
    if kind == "between":
        return {"lower": cond.get("lower"), "upper": cond.get("upper"), "inclusive": cond.get("inclusive") is not False}
    if kind in ("all_items_match", "any_item_matches"):
        return cond.get("condition")
    return cond.get("expected")


def _declared_metrics(cond: dict[str, Any]) -> dict[str, Any]:
    """Threshold and metric of the scored kinds, known from the condition alone, so they are reported
    even when no score could be computed (missing value, blocked)."""
    kind = cond.get("kind")
    if kind == "similarity_gte":
        return {"threshold": cond.get("threshold"), "metric_kind": cond.get("method") or "levenshtein"}
    if kind == "split_iou_gte":
        threshold = cond.get("threshold")
        return {"threshold": 1 if threshold is None else threshold, "metric_kind": "iou"}
    if kind in ("llm_judged_as", "llm_not_judged_as"):
        return {"threshold": None, "metric_kind": "llm_judge"}
    return {"threshold": None, "metric_kind": None}


def _explain_missing(failure: dict[str, Any], outputs: dict[str, Any], handle: Any, path: str) -> dict[str, Any]:
    """Say which part of the target did not resolve: the handle, or the path inside it."""
    if not isinstance(handle, str) or handle not in outputs:
        message = f"the block produced no output handle {handle!r}"
        details = {"reason": "output_handle_missing", "output_handle_id": handle, "available_handles": sorted(outputs)}
    else:
        message = f"no value at path {path!r} of output handle {handle!r}"
        details = {"reason": "path_not_found", "output_handle_id": handle, "path": path}
    return {**failure, "message": message, "details": {**details, **failure["details"]}}


def _judge_value(raw_condition: Any, found: bool, value: Any, judge: Judge | None) -> tuple[dict[str, Any], Verdict]:
    """The normalized condition and its verdict on the looked-up value."""
    issues = validate_condition(raw_condition)
    if issues:
        # Stored tests were validated at creation; this guards rows written by older code or by hand.
        cond = normalize_condition(raw_condition) if isinstance(raw_condition, dict) else {}
        return cond, blocked("invalid_condition", "; ".join(i.message for i in issues),
                             details={"issues": [{"field": i.field, "message": i.message} for i in issues]})
    cond = normalize_condition(raw_condition)
    try:
        return cond, check(cond, found, value, judge)
    except Exception as exc:  # noqa: BLE001 - a bug here must surface as an error result, not kill the test task
        return cond, errored("evaluation_error", f"the assertion could not be evaluated: {type(exc).__name__}: {exc}")


def evaluate_assertion(assertion: dict[str, Any], outputs: dict[str, Any], judge: Judge | None = None) -> dict[str, Any]:
    """``{assertion_id, condition_kind, status, actual_value, expected_value, score, threshold,
    metric_kind, assertion_label, failure}`` for one assertion; ``outputs`` maps handle id → payload."""
    outputs = outputs or {}
    target = assertion.get("target") if isinstance(assertion.get("target"), dict) else {}
    handle, path = target.get("output_handle_id"), target.get("path") or ""
    found, value = lookup(outputs[handle], path) if isinstance(handle, str) and handle in outputs else (False, None)

    cond, verdict = _judge_value(assertion.get("condition"), found, value, judge)
    failure = verdict.failure()
    if failure is not None and failure["code"] == "value_missing":
        failure = _explain_missing(failure, outputs, handle, path)
    declared = _declared_metrics(cond)
    kind = cond.get("kind")
    return {
        "assertion_id": assertion.get("id") or "",
        "condition_kind": kind if isinstance(kind, str) else "",
        "status": verdict.status,
        "actual_value": value if found else None,
        "expected_value": _expected_value(cond),
        "score": verdict.score,
        "threshold": verdict.threshold if verdict.threshold is not None else declared["threshold"],
        "metric_kind": verdict.metric_kind or declared["metric_kind"],
        "assertion_label": assertion.get("label"),
        "failure": failure,
    }
