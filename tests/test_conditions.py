"""Assertion shapes are checked at test creation (SPEC §5); messages name the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from models.conditions import (CONDITION_KINDS, KIND_PARAMS, ConditionIssue, normalize_condition, validate_assertion,
                               validate_condition)

SPLITS = {"splits": [{"name": "a", "pages": [1, 2]}]}

VALID = [
    {"kind": "exists"},
    {"kind": "not_exists"},
    {"kind": "equals", "expected": None},
    {"kind": "equals", "expected": {"a": [1, "x"]}},
    {"kind": "not_equals", "expected": [1]},
    {"kind": "number_compare", "op": "gte", "expected": 0.5},
    {"kind": "number_compare", "op": "neq", "expected": -3},
    {"kind": "contains", "expected": "x"},
    {"kind": "not_contains", "expected": 1},
    {"kind": "object_contains", "expected": {}},
    {"kind": "array_contains", "expected": {"a": 1}},
    {"kind": "array_contains", "expected": "scalar"},
    {"kind": "matches_regex", "pattern": "("},  # not compiled here: blocked at evaluation
    {"kind": "matches_regex", "expected": "^A"},  # legacy dialect
    {"kind": "json_schema_valid", "schema": {"type": "nonsense"}},  # not checked here: blocked at evaluation
    {"kind": "json_schema_valid", "schema": True},
    {"kind": "json_schema_valid", "schema": None},  # Retab types it object | null
    {"kind": "similarity_gte", "reference": "a", "threshold": 0.9},
    {"kind": "similarity_gte", "reference": {"a": 1}, "threshold": 1, "method": "levenshtein"},
    {"kind": "similarity_gte", "reference": "a", "threshold": 0, "method": "embeddings"},
    {"kind": "similarity_gte", "reference": "a", "threshold": 0.5, "method": None},
    {"kind": "llm_judged_as", "rubric": "polite?", "expected_label": "yes"},
    {"kind": "llm_judged_as", "rubric": "polite?", "expected_label": None},
    {"kind": "llm_not_judged_as", "rubric": "r"},
    {"kind": "length_compare", "op": "eq", "expected": 0},
    {"kind": "between", "lower": 0, "upper": 1},
    {"kind": "between", "lower": 0, "upper": 1, "inclusive": False},
    {"kind": "between", "lower": 2.5, "upper": 2.5, "inclusive": None},
    {"kind": "starts_with", "expected": "a"},
    {"kind": "ends_with", "expected": ""},
    {"kind": "all_items_match", "condition": {"kind": "exists"}},
    {"kind": "any_item_matches", "condition": {"kind": "all_items_match", "condition": {"kind": "compare", "op": "gt", "expected": 1}}},
    {"kind": "split_iou_gte", "expected": SPLITS},
    {"kind": "split_iou_gte", "expected": {"splits": []}, "threshold": 0.8},
    {"kind": "split_iou_gte", "expected": SPLITS, "threshold": None},
    {"kind": "compare", "op": "gt", "expected": 1},  # legacy dialect of number_compare
    {"kind": "equals", "expected": 1, "note": "extra keys are ignored"},
]


@pytest.mark.parametrize("condition", VALID, ids=[f"{c['kind']}-{i}" for i, c in enumerate(VALID)])
def test_valid_conditions(condition: dict[str, Any]) -> None:
    assert validate_condition(condition) == []


def test_every_kind_has_a_valid_example_and_a_parameter_row() -> None:
    assert len(CONDITION_KINDS) == 21
    assert set(KIND_PARAMS) == set(CONDITION_KINDS)
    assert set(CONDITION_KINDS) <= {normalize_condition(c)["kind"] for c in VALID}


OPS_RULE = "must be one of gt, gte, lt, lte, eq, neq"

INVALID = [
    ("exists", "assertion.condition", "must be an object"),
    (None, "assertion.condition", "must be an object"),
    ({}, "assertion.condition.kind", "must be one of: exists, not_exists, equals"),
    ({"kind": "roughly"}, "assertion.condition.kind", "must be one of: exists, not_exists"),
    ({"kind": 3}, "assertion.condition.kind", "must be one of"),
    ({"kind": ["equals"]}, "assertion.condition.kind", "must be one of"),
    ({"kind": "equals"}, "assertion.condition.expected", "is required for equals"),
    ({"kind": "not_equals"}, "assertion.condition.expected", "is required for not_equals"),
    ({"kind": "contains"}, "assertion.condition.expected", "is required for contains"),
    ({"kind": "not_contains"}, "assertion.condition.expected", "is required"),
    ({"kind": "array_contains"}, "assertion.condition.expected", "is required"),
    ({"kind": "number_compare", "expected": 1}, "assertion.condition.op", "is required for number_compare"),
    ({"kind": "number_compare", "op": "approx", "expected": 1}, "assertion.condition.op", OPS_RULE),
    ({"kind": "number_compare", "op": "GT", "expected": 1}, "assertion.condition.op", OPS_RULE),
    ({"kind": "number_compare", "op": "gt"}, "assertion.condition.expected", "is required"),
    ({"kind": "number_compare", "op": "gt", "expected": "5"}, "assertion.condition.expected", "must be a number"),
    ({"kind": "number_compare", "op": "gt", "expected": True}, "assertion.condition.expected", "must be a number"),
    ({"kind": "number_compare", "op": "gt", "expected": None}, "assertion.condition.expected", "must be a number"),
    ({"kind": "compare", "op": "about", "expected": 1}, "assertion.condition.op", OPS_RULE),
    ({"kind": "length_compare", "op": "eq", "expected": 1.5}, "assertion.condition.expected", "must be an integer ≥ 0"),
    ({"kind": "length_compare", "op": "eq", "expected": -1}, "assertion.condition.expected", "must be an integer ≥ 0"),
    ({"kind": "length_compare", "op": "eq", "expected": False}, "assertion.condition.expected", "integer"),
    ({"kind": "length_compare", "expected": 1}, "assertion.condition.op", "is required"),
    ({"kind": "between", "upper": 1}, "assertion.condition.lower", "is required for between"),
    ({"kind": "between", "lower": 1}, "assertion.condition.upper", "is required for between"),
    ({"kind": "between", "lower": "a", "upper": 1}, "assertion.condition.lower", "must be a number"),
    ({"kind": "between", "lower": 0, "upper": True}, "assertion.condition.upper", "must be a number"),
    ({"kind": "between", "lower": 3, "upper": 1}, "assertion.condition.lower", "must not be greater than assertion.condition.upper"),
    ({"kind": "between", "lower": 0, "upper": 1, "inclusive": "yes"}, "assertion.condition.inclusive", "must be a boolean"),
    ({"kind": "between", "lower": 0, "upper": 1, "inclusive": 1}, "assertion.condition.inclusive", "must be a boolean"),
    ({"kind": "starts_with", "expected": 1}, "assertion.condition.expected", "must be a string"),
    ({"kind": "ends_with"}, "assertion.condition.expected", "is required for ends_with"),
    ({"kind": "matches_regex"}, "assertion.condition.pattern", "is required for matches_regex"),
    ({"kind": "matches_regex", "pattern": 5}, "assertion.condition.pattern", "must be a string"),
    ({"kind": "matches_regex", "expected": ["a"]}, "assertion.condition.pattern", "must be a string"),
    ({"kind": "object_contains", "expected": [1]}, "assertion.condition.expected", "must be an object"),
    ({"kind": "object_contains"}, "assertion.condition.expected", "is required"),
    ({"kind": "json_schema_valid", "schema": "string"}, "assertion.condition.schema", "must be a JSON Schema"),
    ({"kind": "similarity_gte", "threshold": 0.5}, "assertion.condition.reference", "is required for similarity_gte"),
    ({"kind": "similarity_gte", "reference": "a"}, "assertion.condition.threshold", "is required"),
    ({"kind": "similarity_gte", "reference": "a", "threshold": "0.5"}, "assertion.condition.threshold", "must be a number between 0 and 1"),
    ({"kind": "similarity_gte", "reference": "a", "threshold": 2}, "assertion.condition.threshold", "between 0 and 1"),
    ({"kind": "similarity_gte", "reference": "a", "threshold": 0.5, "method": "cosine"}, "assertion.condition.method",
     "must be one of levenshtein, embeddings"),
    ({"kind": "llm_judged_as"}, "assertion.condition.rubric", "is required for llm_judged_as"),
    ({"kind": "llm_judged_as", "rubric": ""}, "assertion.condition.rubric", "must be a non-empty string"),
    ({"kind": "llm_not_judged_as", "rubric": "r", "expected_label": 1}, "assertion.condition.expected_label", "must be a string"),
    ({"kind": "any_item_matches"}, "assertion.condition.condition", "is required for any_item_matches"),
    ({"kind": "all_items_match", "condition": "exists"}, "assertion.condition.condition", "must be an object"),
    ({"kind": "all_items_match", "condition": {"kind": "nope"}}, "assertion.condition.condition.kind", "must be one of"),
    ({"kind": "all_items_match", "condition": {"kind": "number_compare", "op": "about", "expected": 1}},
     "assertion.condition.condition.op", OPS_RULE),
    ({"kind": "all_items_match", "condition": {"kind": "between", "lower": "a", "upper": 1}},
     "assertion.condition.condition.lower", "must be a number"),
    ({"kind": "any_item_matches", "condition": {"kind": "all_items_match", "condition": {"kind": "equals"}}},
     "assertion.condition.condition.condition.expected", "is required"),
    ({"kind": "split_iou_gte"}, "assertion.condition.expected", "is required for split_iou_gte"),
    ({"kind": "split_iou_gte", "expected": [1]}, "assertion.condition.expected", '{"splits"'),
    ({"kind": "split_iou_gte", "expected": {"splits": "a"}}, "assertion.condition.expected", '{"splits"'),
    ({"kind": "split_iou_gte", "expected": {"splits": ["a"]}}, "assertion.condition.expected.splits.0", "must be an object"),
    ({"kind": "split_iou_gte", "expected": {"splits": [{"pages": [1]}]}}, "assertion.condition.expected.splits.0.name", "must be a string"),
    ({"kind": "split_iou_gte", "expected": {"splits": [{"name": "a", "pages": "1"}]}},
     "assertion.condition.expected.splits.0.pages", "must be a list of page numbers"),
    ({"kind": "split_iou_gte", "expected": {"splits": [{"name": "a", "pages": [0]}]}},
     "assertion.condition.expected.splits.0.pages", "integers ≥ 1"),
    ({"kind": "split_iou_gte", "expected": {"splits": [{"name": "a", "pages": [True]}]}},
     "assertion.condition.expected.splits.0.pages", "integers"),
    ({"kind": "split_iou_gte", "expected": SPLITS, "threshold": 1.5}, "assertion.condition.threshold", "between 0 and 1"),
]


@pytest.mark.parametrize("condition,field,rule", INVALID, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(INVALID)])
def test_invalid_conditions_name_field_and_rule(condition: Any, field: str, rule: str) -> None:
    issues = validate_condition(condition)
    assert issues, condition
    assert all(isinstance(issue, ConditionIssue) for issue in issues)
    assert issues[0].field == field
    assert issues[0].message.startswith(field) and rule in issues[0].message


def test_kind_message_lists_all_kinds() -> None:
    message = validate_condition({"kind": "roughly"})[0].message
    assert message == "assertion.condition.kind must be one of: " + ", ".join(CONDITION_KINDS)


def test_every_problem_is_reported() -> None:
    fields = [i.field for i in validate_condition({"kind": "similarity_gte", "threshold": "x", "method": "cosine"})]
    assert fields == ["assertion.condition.reference", "assertion.condition.threshold", "assertion.condition.method"]


def test_custom_field_prefix() -> None:
    assert validate_condition({"kind": "number_compare", "op": "x", "expected": 1}, field="c")[0].message == \
        "c.op must be one of gt, gte, lt, lte, eq, neq"


def test_issues_are_frozen() -> None:
    issue = validate_condition({"kind": "nope"})[0]
    with pytest.raises(AttributeError):
        issue.field = "other"  # type: ignore[misc]


ASSERTIONS_OK = [
    {"target": {"output_handle_id": "output-json-0"}, "condition": {"kind": "exists"}},
    {"id": "assert_1", "target": {"output_handle_id": "o", "path": "items[0].amount"}, "condition": {"kind": "exists"},
     "label": None},
    {"id": None, "target": {"output_handle_id": "o", "path": None}, "condition": {"kind": "exists"}, "label": "x"},
]


@pytest.mark.parametrize("assertion", ASSERTIONS_OK)
def test_valid_assertions(assertion: dict[str, Any]) -> None:
    assert validate_assertion(assertion) == []


ASSERTIONS_BAD = [
    (None, ["assertion"]),
    ([], ["assertion"]),
    ({"condition": {"kind": "exists"}}, ["assertion.target"]),
    ({"target": "output-json-0", "condition": {"kind": "exists"}}, ["assertion.target"]),
    ({"target": {}, "condition": {"kind": "exists"}}, ["assertion.target.output_handle_id"]),
    ({"target": {"output_handle_id": ""}, "condition": {"kind": "exists"}}, ["assertion.target.output_handle_id"]),
    ({"target": {"output_handle_id": 3}, "condition": {"kind": "exists"}}, ["assertion.target.output_handle_id"]),
    ({"target": {"output_handle_id": "o", "path": 3}, "condition": {"kind": "exists"}}, ["assertion.target.path"]),
    ({"target": {"output_handle_id": "o"}}, ["assertion.condition"]),
    ({"target": {"output_handle_id": "o"}, "condition": {"kind": "between", "lower": 1}}, ["assertion.condition.upper"]),
    ({"id": 5, "target": {"output_handle_id": "o"}, "condition": {"kind": "exists"}}, ["assertion.id"]),
    ({"target": {"path": 3}, "label": 5},
     ["assertion.label", "assertion.target.output_handle_id", "assertion.target.path", "assertion.condition"]),
]


@pytest.mark.parametrize("assertion,fields", ASSERTIONS_BAD, ids=[",".join(f) for _, f in ASSERTIONS_BAD])
def test_invalid_assertions(assertion: Any, fields: list[str]) -> None:
    issues = validate_assertion(assertion)
    assert [i.field for i in issues] == fields
    assert all(i.message.startswith(i.field) for i in issues)


def test_normalize_maps_legacy_dialects_recursively() -> None:
    nested = normalize_condition({"kind": "all_items_match", "condition": {"kind": "matches_regex", "expected": "x"}})
    assert nested["condition"] == {"kind": "matches_regex", "pattern": "x"}
    assert normalize_condition({"kind": "compare", "op": "gt", "expected": 1}) == \
        {"kind": "number_compare", "op": "gt", "expected": 1}
    # pattern wins when both are present; canonical conditions are returned unchanged (as a copy)
    both = {"kind": "matches_regex", "pattern": "p", "expected": "e"}
    assert normalize_condition(both)["pattern"] == "p"
    original = {"kind": "equals", "expected": 1}
    assert normalize_condition(original) == original and normalize_condition(original) is not original


def test_normalize_does_not_mutate_its_input() -> None:
    legacy = {"kind": "any_item_matches", "condition": {"kind": "matches_regex", "expected": "x"}}
    normalize_condition(legacy)
    assert legacy == {"kind": "any_item_matches", "condition": {"kind": "matches_regex", "expected": "x"}}


def test_normalize_rejects_non_objects() -> None:
    with pytest.raises(TypeError):
        normalize_condition("exists")  # type: ignore[arg-type]
