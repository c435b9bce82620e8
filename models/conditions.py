"""Assertion shapes, checked when a test is created or patched (SPEC §5).

Only the *shape* is checked here: a known kind, required parameters of the right JSON types, an
``op`` from its list. Regexes and JSON Schemas are not compiled: like Retab, an invalid one
surfaces at evaluation as ``blocked`` (``invalid_regex`` / ``schema_invalid``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONDITION_KINDS = (
    "exists", "not_exists", "equals", "not_equals", "number_compare", "contains", "not_contains",
    "object_contains", "array_contains", "matches_regex", "json_schema_valid", "similarity_gte",
    "llm_judged_as", "llm_not_judged_as", "length_compare", "between", "starts_with", "ends_with",
    "all_items_match", "any_item_matches", "split_iou_gte",
)
OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
SIMILARITY_METHODS = ("levenshtein", "embeddings")


@dataclass(frozen=True)
class ConditionIssue:
    field: str
    message: str


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def normalize_condition(condition: dict[str, Any]) -> dict[str, Any]:
    """Map the dialects Retab's material shows onto the canonical kinds (recursively)."""
    cond = dict(condition)
    if cond.get("kind") == "matches_regex" and "pattern" not in cond and "expected" in cond:
        cond["pattern"] = cond.pop("expected")
    if cond.get("kind") == "compare":
        cond["kind"] = "number_compare"
    if isinstance(cond.get("condition"), dict):
        cond["condition"] = normalize_condition(cond["condition"])
    return cond


def _check_splits(value: Any, field: str) -> list[ConditionIssue]:
    if not isinstance(value, dict) or not isinstance(value.get("splits"), list):
        return [ConditionIssue(field, f'{field} must be an object {{"splits": [{{"name", "pages"}}]}}')]
    issues = []
    for i, split in enumerate(value["splits"]):
        f = f"{field}.splits.{i}"
        if not isinstance(split, dict) or not isinstance(split.get("name"), str):
            issues.append(ConditionIssue(f"{f}.name", f"{f}.name must be a string"))
        elif not isinstance(split.get("pages"), list) or not all(
                isinstance(p, int) and not isinstance(p, bool) for p in split["pages"]):
            issues.append(ConditionIssue(f"{f}.pages", f"{f}.pages must be a list of integers"))
    return issues


def validate_condition(condition: Any, field: str = "assertion.condition") -> list[ConditionIssue]:
    if not isinstance(condition, dict):
        return [ConditionIssue(field, f"{field} must be an object with a 'kind'")]
    cond = normalize_condition(condition)
    kind = cond.get("kind")
    if kind not in CONDITION_KINDS:
        return [ConditionIssue(f"{field}.kind", f"{field}.kind must be one of: {', '.join(CONDITION_KINDS)}")]
    issues: list[ConditionIssue] = []

    def need(name: str, ok, rule: str) -> None:
        f = f"{field}.{name}"
        if name not in cond:
            issues.append(ConditionIssue(f, f"{f} is required for {kind}"))
        elif not ok(cond[name]):
            issues.append(ConditionIssue(f, f"{f} {rule}"))

    def optional(name: str, ok, rule: str) -> None:
        if name in cond and cond[name] is not None and not ok(cond[name]):
            issues.append(ConditionIssue(f"{field}.{name}", f"{field}.{name} {rule}"))

    any_json = lambda v: True  # noqa: E731 - any JSON value (null included) is a valid expectation
    if kind in ("equals", "not_equals", "contains", "not_contains", "array_contains"):
        need("expected", any_json, "")
    elif kind == "number_compare":
        need("op", lambda v: v in OPS, f"must be one of {', '.join(OPS)}")
        need("expected", is_number, "must be a number")
    elif kind == "length_compare":
        need("op", lambda v: v in OPS, f"must be one of {', '.join(OPS)}")
        need("expected", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
             "must be an integer ≥ 0")
    elif kind == "between":
        need("lower", is_number, "must be a number")
        need("upper", is_number, "must be a number")
        optional("inclusive", lambda v: isinstance(v, bool), "must be a boolean")
        if is_number(cond.get("lower")) and is_number(cond.get("upper")) and cond["lower"] > cond["upper"]:
            issues.append(ConditionIssue(f"{field}.lower", f"{field}.lower must not be greater than {field}.upper"))
    elif kind in ("starts_with", "ends_with"):
        need("expected", lambda v: isinstance(v, str), "must be a string")
    elif kind == "matches_regex":
        need("pattern", lambda v: isinstance(v, str), "must be a string")
    elif kind == "object_contains":
        need("expected", lambda v: isinstance(v, dict), "must be an object")
    elif kind == "json_schema_valid":
        need("schema", lambda v: isinstance(v, (dict, bool)), "must be a JSON Schema (an object)")
    elif kind == "similarity_gte":
        need("reference", any_json, "")
        need("threshold", lambda v: is_number(v) and 0 <= v <= 1, "must be a number between 0 and 1")
        optional("method", lambda v: v in SIMILARITY_METHODS, f"must be one of {', '.join(SIMILARITY_METHODS)}")
    elif kind in ("llm_judged_as", "llm_not_judged_as"):
        need("rubric", lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string")
        optional("expected_label", lambda v: isinstance(v, str), "must be a string")
    elif kind in ("all_items_match", "any_item_matches"):
        if "condition" not in cond:
            issues.append(ConditionIssue(f"{field}.condition", f"{field}.condition is required for {kind}"))
        else:
            issues += validate_condition(cond["condition"], f"{field}.condition")
    elif kind == "split_iou_gte":
        if "expected" not in cond:
            issues.append(ConditionIssue(f"{field}.expected", f"{field}.expected is required for {kind}"))
        else:
            issues += _check_splits(cond["expected"], f"{field}.expected")
        optional("threshold", lambda v: is_number(v) and 0 <= v <= 1, "must be a number between 0 and 1")
    return issues


def validate_assertion(assertion: Any) -> list[ConditionIssue]:
    """The whole assertion: ``{id?, target: {output_handle_id, path?}, condition, label?}``."""
    if not isinstance(assertion, dict):
        return [ConditionIssue("assertion", "assertion must be an object with target and condition")]
    issues: list[ConditionIssue] = []
    if "id" in assertion and assertion["id"] is not None and not isinstance(assertion["id"], str):
        issues.append(ConditionIssue("assertion.id", "assertion.id must be a string"))
    if "label" in assertion and assertion["label"] is not None and not isinstance(assertion["label"], str):
        issues.append(ConditionIssue("assertion.label", "assertion.label must be a string or null"))
    target = assertion.get("target")
    if not isinstance(target, dict):
        issues.append(ConditionIssue("assertion.target", "assertion.target must be an object with output_handle_id"))
    else:
        handle = target.get("output_handle_id")
        if not isinstance(handle, str) or not handle:
            issues.append(ConditionIssue("assertion.target.output_handle_id",
                                         "assertion.target.output_handle_id must be a non-empty string"))
        if target.get("path") is not None and not isinstance(target.get("path"), str):
            issues.append(ConditionIssue("assertion.target.path", "assertion.target.path must be a string"))
    if "condition" not in assertion:
        issues.append(ConditionIssue("assertion.condition", "assertion.condition is required"))
    else:
        issues += validate_condition(assertion["condition"])
    return issues
