"""Assertion shapes, checked when a test is created or patched (SPEC §5).

Only the *shape* is checked here: a known kind, required parameters of the right JSON types, an
``op`` / ``method`` from its list. Regexes and JSON Schemas are deliberately not compiled: like
Retab, an invalid one surfaces at evaluation as ``blocked`` (``invalid_regex`` / ``schema_invalid``),
so a test that Retab accepts is never refused here for that reason.

Unknown extra keys are ignored (Retab 0.0.142 passes ``condition`` through untyped), and an optional
parameter sent as ``null`` means "use the default".
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

CONDITION_KINDS: tuple[str, ...] = (
    "exists", "not_exists", "equals", "not_equals", "number_compare", "contains", "not_contains",
    "object_contains", "array_contains", "matches_regex", "json_schema_valid", "similarity_gte",
    "llm_judged_as", "llm_not_judged_as", "length_compare", "between", "starts_with", "ends_with",
    "all_items_match", "any_item_matches", "split_iou_gte",
)
OPS: tuple[str, ...] = ("gt", "gte", "lt", "lte", "eq", "neq")
SIMILARITY_METHODS: tuple[str, ...] = ("levenshtein", "embeddings")
NESTING_KINDS: tuple[str, ...] = ("all_items_match", "any_item_matches")


@dataclass(frozen=True)
class ConditionIssue:
    """One shape problem: the dotted field it is about, and a message naming that field and the rule."""

    field: str
    message: str


# -- JSON type predicates (booleans are not numbers: ``True`` is an ``int`` in Python, not in JSON) --

def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _any_json(value: Any) -> bool:
    return True  # any JSON value (null included) is a legitimate expectation for equals & co.


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_schema(value: Any) -> bool:
    return isinstance(value, (dict, bool))  # 2020-12 allows the boolean schemas true / false


def _is_unit_interval(value: Any) -> bool:
    return is_number(value) and 0 <= value <= 1


def _is_length(value: Any) -> bool:
    return is_integer(value) and value >= 0


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in choices


@dataclass(frozen=True)
class Param:
    """One parameter of a kind: how to recognise a good value, and the rule to quote when it is not."""

    name: str
    accepts: Callable[[Any], bool]
    rule: str
    required: bool = True


_OP = Param("op", _one_of(OPS), f"must be one of {', '.join(OPS)}")
_ANY_EXPECTED = Param("expected", _any_json, "may be any JSON value")
_STRING_EXPECTED = Param("expected", _is_string, "must be a string")

# Parameters per kind. The nested ``condition`` of all/any and ``split_iou_gte.expected`` have
# structure of their own and are checked by dedicated functions below.
KIND_PARAMS: Mapping[str, tuple[Param, ...]] = MappingProxyType({
    "exists": (),
    "not_exists": (),
    "equals": (_ANY_EXPECTED,),
    "not_equals": (_ANY_EXPECTED,),
    "number_compare": (_OP, Param("expected", is_number, "must be a number")),
    "contains": (_ANY_EXPECTED,),
    "not_contains": (_ANY_EXPECTED,),
    "object_contains": (Param("expected", _is_object, "must be an object"),),
    "array_contains": (_ANY_EXPECTED,),
    "matches_regex": (Param("pattern", _is_string, "must be a string (a regular expression)"),),
    # Retab types ``schema`` as ``object | null``: a missing/null schema is accepted here and blocks
    # at evaluation (``schema_invalid``), exactly like a malformed one.
    "json_schema_valid": (Param("schema", _is_schema, "must be a JSON Schema (an object or a boolean)",
                                required=False),),
    "similarity_gte": (
        Param("reference", _any_json, "may be any JSON value"),
        Param("threshold", _is_unit_interval, "must be a number between 0 and 1"),
        Param("method", _one_of(SIMILARITY_METHODS), f"must be one of {', '.join(SIMILARITY_METHODS)}",
              required=False),
    ),
    "llm_judged_as": (
        Param("rubric", _is_non_empty_string, "must be a non-empty string"),
        Param("expected_label", _is_string, "must be a string", required=False),
    ),
    "llm_not_judged_as": (
        Param("rubric", _is_non_empty_string, "must be a non-empty string"),
        Param("expected_label", _is_string, "must be a string", required=False),
    ),
    "length_compare": (_OP, Param("expected", _is_length, "must be an integer ≥ 0")),
    "between": (
        Param("lower", is_number, "must be a number"),
        Param("upper", is_number, "must be a number"),
        Param("inclusive", lambda v: isinstance(v, bool), "must be a boolean", required=False),
    ),
    "starts_with": (_STRING_EXPECTED,),
    "ends_with": (_STRING_EXPECTED,),
    "all_items_match": (),
    "any_item_matches": (),
    "split_iou_gte": (
        Param("threshold", _is_unit_interval, "must be a number between 0 and 1", required=False),
    ),
})


def normalize_condition(condition: dict[str, Any]) -> dict[str, Any]:
    """A copy with the older dialects mapped onto canonical kinds, recursively:
    ``matches_regex.expected`` → ``pattern`` and ``compare`` → ``number_compare``."""
    if not isinstance(condition, dict):
        raise TypeError(f"a condition is an object, not {type(condition).__name__}")
    cond = dict(condition)
    if cond.get("kind") == "compare":
        cond["kind"] = "number_compare"
    if cond.get("kind") == "matches_regex" and "pattern" not in cond and "expected" in cond:
        cond["pattern"] = cond.pop("expected")
    if isinstance(cond.get("condition"), dict):
        cond["condition"] = normalize_condition(cond["condition"])
    return cond


def _check_param(cond: dict[str, Any], param: Param, kind: str, field: str) -> list[ConditionIssue]:
    name = f"{field}.{param.name}"
    present = param.name in cond and not (not param.required and cond[param.name] is None)
    if not present:
        return [ConditionIssue(name, f"{name} is required for {kind}")] if param.required else []
    if not param.accepts(cond[param.name]):
        return [ConditionIssue(name, f"{name} {param.rule}")]
    return []


def _check_split_manifest(value: Any, field: str) -> list[ConditionIssue]:
    shape = f'{field} must be an object {{"splits": [{{"name": str, "pages": [int, ...]}}]}}'
    if not isinstance(value, dict) or not isinstance(value.get("splits"), list):
        return [ConditionIssue(field, shape)]
    issues: list[ConditionIssue] = []
    for i, split in enumerate(value["splits"]):
        at = f"{field}.splits.{i}"
        if not isinstance(split, dict):
            issues.append(ConditionIssue(at, f'{at} must be an object {{"name": str, "pages": [int, ...]}}'))
            continue
        if not isinstance(split.get("name"), str):
            issues.append(ConditionIssue(f"{at}.name", f"{at}.name must be a string"))
        pages = split.get("pages")
        if not isinstance(pages, list) or not all(is_integer(p) and p >= 1 for p in pages):
            issues.append(ConditionIssue(f"{at}.pages", f"{at}.pages must be a list of page numbers (integers ≥ 1)"))
    return issues


def _check_kind_specific(cond: dict[str, Any], kind: str, field: str) -> list[ConditionIssue]:
    """The parts a flat parameter table cannot express."""
    if kind in NESTING_KINDS:
        if "condition" not in cond:
            return [ConditionIssue(f"{field}.condition", f"{field}.condition is required for {kind}")]
        return validate_condition(cond["condition"], f"{field}.condition")
    if kind == "split_iou_gte":
        if "expected" not in cond:
            return [ConditionIssue(f"{field}.expected", f"{field}.expected is required for {kind}")]
        return _check_split_manifest(cond["expected"], f"{field}.expected")
    if kind == "between" and is_number(cond.get("lower")) and is_number(cond.get("upper")):
        if cond["lower"] > cond["upper"]:
            # An empty range can never pass: refusing it now beats a test that always fails.
            return [ConditionIssue(f"{field}.lower", f"{field}.lower must not be greater than {field}.upper")]
    return []


def validate_condition(condition: Any, field: str = "assertion.condition") -> list[ConditionIssue]:
    """Shape problems of one condition (empty = valid). Messages name the field and the rule."""
    if not isinstance(condition, dict):
        return [ConditionIssue(field, f"{field} must be an object with a 'kind'")]
    cond = normalize_condition(condition)
    kind = cond.get("kind")
    if not isinstance(kind, str) or kind not in KIND_PARAMS:
        return [ConditionIssue(f"{field}.kind", f"{field}.kind must be one of: {', '.join(CONDITION_KINDS)}")]
    issues: list[ConditionIssue] = []
    for param in KIND_PARAMS[kind]:
        issues += _check_param(cond, param, kind, field)
    issues += _check_kind_specific(cond, kind, field)
    return issues


def validate_assertion(assertion: Any) -> list[ConditionIssue]:
    """The whole assertion: ``{id?: str, target: {output_handle_id: str, path?: str}, condition, label?: str|null}``."""
    if not isinstance(assertion, dict):
        return [ConditionIssue("assertion", "assertion must be an object with target and condition")]
    issues: list[ConditionIssue] = []
    if assertion.get("id") is not None and not isinstance(assertion["id"], str):
        issues.append(ConditionIssue("assertion.id", "assertion.id must be a string"))
    if assertion.get("label") is not None and not isinstance(assertion["label"], str):
        issues.append(ConditionIssue("assertion.label", "assertion.label must be a string or null"))
    target = assertion.get("target")
    if not isinstance(target, dict):
        issues.append(ConditionIssue("assertion.target", "assertion.target must be an object with output_handle_id"))
    else:
        handle = target.get("output_handle_id")
        if not isinstance(handle, str) or not handle.strip():
            issues.append(ConditionIssue("assertion.target.output_handle_id",
                                         "assertion.target.output_handle_id must be a non-empty string"))
        if target.get("path") is not None and not isinstance(target["path"], str):
            issues.append(ConditionIssue("assertion.target.path", "assertion.target.path must be a string"))
    if "condition" not in assertion:
        issues.append(ConditionIssue("assertion.condition", "assertion.condition is required"))
    else:
        issues += validate_condition(assertion["condition"])
    return issues
