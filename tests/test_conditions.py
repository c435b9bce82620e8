"""Assertion shapes are checked at test creation; messages name the field and the rule."""

from __future__ import annotations

import pytest

from models.conditions import CONDITION_KINDS, normalize_condition, validate_assertion, validate_condition

VALID = [
    {"kind": "exists"}, {"kind": "not_exists"}, {"kind": "equals", "expected": None},
    {"kind": "not_equals", "expected": [1]}, {"kind": "number_compare", "op": "gte", "expected": 0.5},
    {"kind": "contains", "expected": "x"}, {"kind": "not_contains", "expected": 1},
    {"kind": "object_contains", "expected": {}}, {"kind": "array_contains", "expected": {"a": 1}},
    {"kind": "matches_regex", "pattern": "("}, {"kind": "matches_regex", "expected": "^A"},
    {"kind": "json_schema_valid", "schema": {"type": "nonsense"}},
    {"kind": "similarity_gte", "reference": "a", "threshold": 0.9, "method": "embeddings"},
    {"kind": "llm_judged_as", "rubric": "polite?", "expected_label": "yes"}, {"kind": "llm_not_judged_as", "rubric": "r"},
    {"kind": "length_compare", "op": "eq", "expected": 0}, {"kind": "between", "lower": 0, "upper": 1, "inclusive": False},
    {"kind": "starts_with", "expected": "a"}, {"kind": "ends_with", "expected": "b"},
    {"kind": "all_items_match", "condition": {"kind": "exists"}}, {"kind": "any_item_matches", "condition": {"kind": "exists"}},
    {"kind": "split_iou_gte", "expected": {"splits": [{"name": "a", "pages": [1]}]}, "threshold": 0.8},
    {"kind": "compare", "op": "gt", "expected": 1},
]


@pytest.mark.parametrize("condition", VALID, ids=[c["kind"] for c in VALID])
def test_valid_conditions(condition):
    assert validate_condition(condition) == []


def test_every_kind_has_a_valid_example():
    assert set(CONDITION_KINDS) <= {normalize_condition(c)["kind"] for c in VALID}


INVALID = [
    ({"kind": "roughly"}, "assertion.condition.kind", "must be one of"),
    ("exists", "assertion.condition", "must be an object"),
    ({"kind": "number_compare", "expected": 1}, "assertion.condition.op", "is required"),
    ({"kind": "number_compare", "op": "gt", "expected": True}, "assertion.condition.expected", "must be a number"),
    ({"kind": "length_compare", "op": "eq", "expected": 1.5}, "assertion.condition.expected", "integer"),
    ({"kind": "between", "lower": 3, "upper": 1}, "assertion.condition.lower", "greater than"),
    ({"kind": "between", "lower": 0, "upper": 1, "inclusive": "yes"}, "assertion.condition.inclusive", "boolean"),
    ({"kind": "starts_with", "expected": 1}, "assertion.condition.expected", "must be a string"),
    ({"kind": "matches_regex"}, "assertion.condition.pattern", "is required"),
    ({"kind": "object_contains", "expected": [1]}, "assertion.condition.expected", "must be an object"),
    ({"kind": "similarity_gte", "reference": "a", "threshold": 0.5, "method": "cosine"}, "assertion.condition.method", "must be one of"),
    ({"kind": "llm_judged_as", "rubric": ""}, "assertion.condition.rubric", "non-empty"),
    ({"kind": "any_item_matches"}, "assertion.condition.condition", "is required"),
    ({"kind": "all_items_match", "condition": {"kind": "between", "lower": "a", "upper": 1}},
     "assertion.condition.condition.lower", "must be a number"),
    ({"kind": "split_iou_gte", "expected": {"splits": [{"pages": [1]}]}}, "assertion.condition.expected.splits.0.name", "string"),
    ({"kind": "split_iou_gte", "expected": [1]}, "assertion.condition.expected", "splits"),
]


@pytest.mark.parametrize("condition,field,rule", INVALID, ids=[f for _, f, _ in INVALID])
def test_invalid_conditions_name_field_and_rule(condition, field, rule):
    issues = validate_condition(condition)
    assert issues, condition
    assert issues[0].field == field
    assert field in issues[0].message and rule in issues[0].message


def test_assertion_shape():
    assert validate_assertion({"target": {"output_handle_id": "o"}, "condition": {"kind": "exists"}}) == []
    fields = [i.field for i in validate_assertion({"target": {"path": 3}, "label": 5})]
    assert fields == ["assertion.label", "assertion.target.output_handle_id", "assertion.target.path",
                      "assertion.condition"]
    assert validate_assertion(None)[0].field == "assertion"


def test_normalize_maps_legacy_dialects_recursively():
    nested = normalize_condition({"kind": "all_items_match", "condition": {"kind": "matches_regex", "expected": "x"}})
    assert nested["condition"] == {"kind": "matches_regex", "pattern": "x"}
    assert normalize_condition({"kind": "compare", "op": "gt", "expected": 1})["kind"] == "number_compare"
