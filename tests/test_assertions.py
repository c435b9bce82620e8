"""The assertion engine, table-driven: every kind's pass, fail, blocked and missing-value behaviour."""

from __future__ import annotations

import pytest

from workers.assertions import evaluate_assertion, lookup, verdict_summary
from workers.blocks.providers.base import ProviderUnavailable

MISSING = object()


class FakeJudge:
    """A judge with scripted answers: labels by substring, embeddings by character counts."""

    def judge(self, value, rubric, expected_label):
        text = str(value).lower()
        label = "positive" if "good" in text else "negative"
        return {"label": label, "holds": label == "positive", "reasoning": f"saw {text!r}"}

    def embed(self, texts):
        return [[t.count("a") + 1.0, t.count("b") + 1.0, len(t) + 1.0] for t in texts]


class UnavailableJudge:
    def judge(self, value, rubric, expected_label):
        raise ProviderUnavailable("judge_unavailable", "no judge model configured")

    def embed(self, texts):
        raise ProviderUnavailable("embeddings_unavailable", "no embeddings model configured")


class BrokenJudge:
    def judge(self, value, rubric, expected_label):
        raise TimeoutError("judge timed out after retries")

    def embed(self, texts):
        raise TimeoutError("embeddings timed out")


SPLITS = {"splits": [{"name": "invoice", "pages": [1, 2]}, {"name": "terms", "pages": [3]}]}

# (case id, condition, value (MISSING = no value at the path), expected status, expected failure code)
CASES = [
    # exists / not_exists
    ("exists:pass", {"kind": "exists"}, 1, "passed", None),
    ("exists:pass-false", {"kind": "exists"}, False, "passed", None),
    ("exists:fail-null", {"kind": "exists"}, None, "failed", "value_null"),
    ("exists:missing", {"kind": "exists"}, MISSING, "failed", "value_missing"),
    ("not_exists:pass-missing", {"kind": "not_exists"}, MISSING, "passed", None),
    ("not_exists:pass-null", {"kind": "not_exists"}, None, "passed", None),
    ("not_exists:fail", {"kind": "not_exists"}, 0, "failed", "value_present"),
    # equals / not_equals
    ("equals:pass-str", {"kind": "equals", "expected": "Acme"}, "Acme", "passed", None),
    ("equals:pass-int-float", {"kind": "equals", "expected": 1}, 1.0, "passed", None),
    ("equals:pass-deep", {"kind": "equals", "expected": {"a": [1, {"b": 2}]}}, {"a": [1.0, {"b": 2}]}, "passed", None),
    ("equals:fail-case", {"kind": "equals", "expected": "Acme"}, "acme", "failed", "not_equal"),
    ("equals:fail-no-coercion", {"kind": "equals", "expected": 5}, "5", "failed", "not_equal"),
    ("equals:fail-bool-is-not-int", {"kind": "equals", "expected": 1}, True, "failed", "not_equal"),
    ("equals:fail-list-order", {"kind": "equals", "expected": [1, 2]}, [2, 1], "failed", "not_equal"),
    ("equals:pass-null", {"kind": "equals", "expected": None}, None, "passed", None),
    ("equals:missing", {"kind": "equals", "expected": "x"}, MISSING, "failed", "value_missing"),
    ("not_equals:pass", {"kind": "not_equals", "expected": "a"}, "b", "passed", None),
    ("not_equals:fail", {"kind": "not_equals", "expected": 2}, 2.0, "failed", "equal"),
    ("not_equals:pass-type", {"kind": "not_equals", "expected": "1"}, 1, "passed", None),
    ("not_equals:missing", {"kind": "not_equals", "expected": "a"}, MISSING, "failed", "value_missing"),
    # number_compare
    ("number_compare:gt-pass", {"kind": "number_compare", "op": "gt", "expected": 5}, 6, "passed", None),
    ("number_compare:gt-fail", {"kind": "number_compare", "op": "gt", "expected": 5}, 5, "failed", "comparison_failed"),
    ("number_compare:gte-pass", {"kind": "number_compare", "op": "gte", "expected": 5}, 5.0, "passed", None),
    ("number_compare:lt-pass", {"kind": "number_compare", "op": "lt", "expected": 0}, -1, "passed", None),
    ("number_compare:lte-fail", {"kind": "number_compare", "op": "lte", "expected": 0}, 0.1, "failed", "comparison_failed"),
    ("number_compare:eq-pass", {"kind": "number_compare", "op": "eq", "expected": 1234.56}, 1234.56, "passed", None),
    ("number_compare:neq-pass", {"kind": "number_compare", "op": "neq", "expected": 1}, 2, "passed", None),
    ("number_compare:blocked-string", {"kind": "number_compare", "op": "gt", "expected": 1}, "5", "blocked", "type_error"),
    ("number_compare:blocked-bool", {"kind": "number_compare", "op": "gt", "expected": 0}, True, "blocked", "type_error"),
    ("number_compare:blocked-null", {"kind": "number_compare", "op": "gt", "expected": 0}, None, "blocked", "type_error"),
    ("number_compare:missing", {"kind": "number_compare", "op": "gt", "expected": 0}, MISSING, "failed", "value_missing"),
    ("compare:legacy-dialect", {"kind": "compare", "op": "gte", "expected": 3}, 3, "passed", None),
    # between
    ("between:pass-inclusive-edge", {"kind": "between", "lower": 1, "upper": 3}, 3, "passed", None),
    ("between:fail-exclusive-edge", {"kind": "between", "lower": 1, "upper": 3, "inclusive": False}, 3, "failed", "out_of_range"),
    ("between:pass-exclusive", {"kind": "between", "lower": 1, "upper": 3, "inclusive": False}, 2, "passed", None),
    ("between:fail-below", {"kind": "between", "lower": 1, "upper": 3}, 0.5, "failed", "out_of_range"),
    ("between:blocked-string", {"kind": "between", "lower": 1, "upper": 3}, "2", "blocked", "type_error"),
    ("between:missing", {"kind": "between", "lower": 1, "upper": 3}, MISSING, "failed", "value_missing"),
    # contains / not_contains
    ("contains:pass-substring", {"kind": "contains", "expected": "Inc"}, "Acme Inc", "passed", None),
    ("contains:fail-case-sensitive", {"kind": "contains", "expected": "inc"}, "Acme Inc", "failed", "not_contained"),
    ("contains:pass-list", {"kind": "contains", "expected": 2}, [1, 2, 3], "passed", None),
    ("contains:pass-list-object", {"kind": "contains", "expected": {"a": 1}}, [{"a": 1}], "passed", None),
    ("contains:fail-list", {"kind": "contains", "expected": "2"}, [1, 2, 3], "failed", "not_contained"),
    ("contains:blocked-number", {"kind": "contains", "expected": "1"}, 123, "blocked", "type_error"),
    ("contains:blocked-non-string-needle", {"kind": "contains", "expected": 1}, "a1", "blocked", "type_error"),
    ("contains:missing", {"kind": "contains", "expected": "a"}, MISSING, "failed", "value_missing"),
    ("not_contains:pass", {"kind": "not_contains", "expected": "Umbrella"}, "Acme Inc", "passed", None),
    ("not_contains:fail", {"kind": "not_contains", "expected": "Acme"}, "Acme Inc", "failed", "contained"),
    ("not_contains:pass-list", {"kind": "not_contains", "expected": 4}, [1, 2, 3], "passed", None),
    ("not_contains:blocked", {"kind": "not_contains", "expected": "x"}, {"x": 1}, "blocked", "type_error"),
    ("not_contains:missing", {"kind": "not_contains", "expected": "x"}, MISSING, "failed", "value_missing"),
    # starts_with / ends_with
    ("starts_with:pass", {"kind": "starts_with", "expected": "INV-"}, "INV-001", "passed", None),
    ("starts_with:fail", {"kind": "starts_with", "expected": "inv-"}, "INV-001", "failed", "affix_mismatch"),
    ("starts_with:blocked", {"kind": "starts_with", "expected": "1"}, 123, "blocked", "type_error"),
    ("starts_with:missing", {"kind": "starts_with", "expected": "a"}, MISSING, "failed", "value_missing"),
    ("ends_with:pass", {"kind": "ends_with", "expected": "001"}, "INV-001", "passed", None),
    ("ends_with:fail", {"kind": "ends_with", "expected": "002"}, "INV-001", "failed", "affix_mismatch"),
    ("ends_with:blocked", {"kind": "ends_with", "expected": "a"}, ["a"], "blocked", "type_error"),
    ("ends_with:missing", {"kind": "ends_with", "expected": "a"}, MISSING, "failed", "value_missing"),
    # matches_regex
    ("matches_regex:pass-search", {"kind": "matches_regex", "pattern": r"\d{3}"}, "INV-001", "passed", None),
    ("matches_regex:pass-anchored", {"kind": "matches_regex", "pattern": r"^INV-\d+$"}, "INV-001", "passed", None),
    ("matches_regex:fail", {"kind": "matches_regex", "pattern": r"^\d+$"}, "INV-001", "failed", "no_match"),
    ("matches_regex:legacy-expected", {"kind": "matches_regex", "expected": "^Acme.*"}, "Acme Inc", "passed", None),
    ("matches_regex:blocked-invalid", {"kind": "matches_regex", "pattern": "(unclosed"}, "x", "blocked", "invalid_regex"),
    ("matches_regex:blocked-type", {"kind": "matches_regex", "pattern": "1"}, 1, "blocked", "type_error"),
    ("matches_regex:missing", {"kind": "matches_regex", "pattern": "a"}, MISSING, "failed", "value_missing"),
    # length_compare
    ("length_compare:string", {"kind": "length_compare", "op": "eq", "expected": 4}, "Acme", "passed", None),
    ("length_compare:list", {"kind": "length_compare", "op": "gte", "expected": 2}, [1, 2], "passed", None),
    ("length_compare:object", {"kind": "length_compare", "op": "lt", "expected": 2}, {"a": 1}, "passed", None),
    ("length_compare:fail", {"kind": "length_compare", "op": "gt", "expected": 3}, [1], "failed", "comparison_failed"),
    ("length_compare:blocked-number", {"kind": "length_compare", "op": "eq", "expected": 1}, 5, "blocked", "type_error"),
    ("length_compare:blocked-null", {"kind": "length_compare", "op": "eq", "expected": 0}, None, "blocked", "type_error"),
    ("length_compare:missing", {"kind": "length_compare", "op": "eq", "expected": 0}, MISSING, "failed", "value_missing"),
    # object_contains
    ("object_contains:pass", {"kind": "object_contains", "expected": {"name": "Acme"}}, {"name": "Acme", "x": 1}, "passed", None),
    ("object_contains:pass-nested", {"kind": "object_contains", "expected": {"v": {"n": 1}}}, {"v": {"n": 1.0, "m": 2}}, "passed", None),
    ("object_contains:fail-value", {"kind": "object_contains", "expected": {"name": "Globex"}}, {"name": "Acme"}, "failed", "not_contained"),
    ("object_contains:fail-key", {"kind": "object_contains", "expected": {"zip": "1"}}, {"name": "Acme"}, "failed", "not_contained"),
    ("object_contains:blocked", {"kind": "object_contains", "expected": {"a": 1}}, [{"a": 1}], "blocked", "type_error"),
    ("object_contains:missing", {"kind": "object_contains", "expected": {}}, MISSING, "failed", "value_missing"),
    # array_contains
    ("array_contains:pass-subset", {"kind": "array_contains", "expected": {"sku": "A"}}, [{"sku": "A", "qty": 2}], "passed", None),
    ("array_contains:pass-scalar", {"kind": "array_contains", "expected": "b"}, ["a", "b"], "passed", None),
    ("array_contains:fail", {"kind": "array_contains", "expected": {"sku": "C"}}, [{"sku": "A"}], "failed", "not_contained"),
    ("array_contains:blocked", {"kind": "array_contains", "expected": {"sku": "A"}}, {"sku": "A"}, "blocked", "type_error"),
    ("array_contains:missing", {"kind": "array_contains", "expected": 1}, MISSING, "failed", "value_missing"),
    # json_schema_valid
    ("json_schema_valid:pass", {"kind": "json_schema_valid", "schema": {"type": "object", "required": ["a"]}}, {"a": 1}, "passed", None),
    ("json_schema_valid:fail", {"kind": "json_schema_valid", "schema": {"type": "object", "required": ["b"]}}, {"a": 1}, "failed", "schema_mismatch"),
    ("json_schema_valid:fail-type", {"kind": "json_schema_valid", "schema": {"type": "integer"}}, "1", "failed", "schema_mismatch"),
    ("json_schema_valid:pass-2020-12", {"kind": "json_schema_valid", "schema": {"prefixItems": [{"type": "string"}]}}, ["a", 1], "passed", None),
    ("json_schema_valid:blocked-invalid", {"kind": "json_schema_valid", "schema": {"type": "not-a-type"}}, 1, "blocked", "schema_invalid"),
    ("json_schema_valid:missing", {"kind": "json_schema_valid", "schema": {}}, MISSING, "failed", "value_missing"),
    # similarity_gte
    ("similarity:pass-identical", {"kind": "similarity_gte", "reference": "Acme Inc", "threshold": 1}, "Acme Inc", "passed", None),
    ("similarity:pass-close", {"kind": "similarity_gte", "reference": "Acme Inc.", "threshold": 0.8}, "Acme Inc", "passed", None),
    ("similarity:fail", {"kind": "similarity_gte", "reference": "Globex", "threshold": 0.8}, "Acme Inc", "failed", "below_threshold"),
    ("similarity:json-values", {"kind": "similarity_gte", "reference": {"a": 1}, "threshold": 0.9}, {"a": 1}, "passed", None),
    ("similarity:embeddings-unavailable", {"kind": "similarity_gte", "reference": "x", "threshold": 0.5, "method": "embeddings"}, "x", "blocked", "embeddings_unavailable"),
    ("similarity:missing", {"kind": "similarity_gte", "reference": "x", "threshold": 0.5}, MISSING, "failed", "value_missing"),
    # llm_judged_as / llm_not_judged_as (no judge → blocked)
    ("llm_judged_as:no-judge", {"kind": "llm_judged_as", "rubric": "is it polite?", "expected_label": "positive"}, "good day", "blocked", "judge_unavailable"),
    ("llm_not_judged_as:no-judge", {"kind": "llm_not_judged_as", "rubric": "rude?"}, "x", "blocked", "judge_unavailable"),
    ("llm_judged_as:missing", {"kind": "llm_judged_as", "rubric": "r"}, MISSING, "failed", "value_missing"),
    # all_items_match / any_item_matches
    ("all_items:pass", {"kind": "all_items_match", "condition": {"kind": "number_compare", "op": "gt", "expected": 0}}, [1, 2], "passed", None),
    ("all_items:pass-empty", {"kind": "all_items_match", "condition": {"kind": "exists"}}, [], "passed", None),
    ("all_items:fail", {"kind": "all_items_match", "condition": {"kind": "number_compare", "op": "gt", "expected": 1}}, [1, 2], "failed", "item_failed"),
    ("all_items:blocked-nested", {"kind": "all_items_match", "condition": {"kind": "number_compare", "op": "gt", "expected": 0}}, [1, "x"], "blocked", "type_error"),
    ("all_items:blocked-not-list", {"kind": "all_items_match", "condition": {"kind": "exists"}}, {"a": 1}, "blocked", "type_error"),
    ("all_items:nested-objects", {"kind": "all_items_match", "condition": {"kind": "object_contains", "expected": {"ok": True}}}, [{"ok": True}, {"ok": True, "x": 1}], "passed", None),
    ("all_items:missing", {"kind": "all_items_match", "condition": {"kind": "exists"}}, MISSING, "failed", "value_missing"),
    ("any_item:pass", {"kind": "any_item_matches", "condition": {"kind": "equals", "expected": "b"}}, ["a", "b"], "passed", None),
    ("any_item:fail-empty", {"kind": "any_item_matches", "condition": {"kind": "exists"}}, [], "failed", "no_item_matched"),
    ("any_item:fail", {"kind": "any_item_matches", "condition": {"kind": "equals", "expected": "c"}}, ["a", "b"], "failed", "no_item_matched"),
    ("any_item:blocked-nested", {"kind": "any_item_matches", "condition": {"kind": "matches_regex", "pattern": "("}}, ["a"], "blocked", "invalid_regex"),
    ("any_item:nested-any", {"kind": "any_item_matches", "condition": {"kind": "any_item_matches", "condition": {"kind": "equals", "expected": 3}}}, [[1], [2, 3]], "passed", None),
    ("any_item:missing", {"kind": "any_item_matches", "condition": {"kind": "exists"}}, MISSING, "failed", "value_missing"),
    # split_iou_gte
    ("split_iou:pass-exact", {"kind": "split_iou_gte", "expected": SPLITS}, SPLITS, "passed", None),
    ("split_iou:fail-default-threshold", {"kind": "split_iou_gte", "expected": SPLITS},
     {"splits": [{"name": "invoice", "pages": [1]}, {"name": "terms", "pages": [2, 3]}]}, "failed", "below_threshold"),
    ("split_iou:pass-threshold", {"kind": "split_iou_gte", "expected": SPLITS, "threshold": 0.5},
     {"splits": [{"name": "invoice", "pages": [1]}, {"name": "terms", "pages": [2, 3]}]}, "passed", None),
    ("split_iou:fail-missing-name", {"kind": "split_iou_gte", "expected": SPLITS, "threshold": 0.9},
     {"splits": [{"name": "invoice", "pages": [1, 2]}]}, "failed", "below_threshold"),
    ("split_iou:blocked", {"kind": "split_iou_gte", "expected": SPLITS}, [1, 2], "blocked", "type_error"),
    ("split_iou:missing", {"kind": "split_iou_gte", "expected": SPLITS}, MISSING, "failed", "value_missing"),
]


def evaluate(condition, value, judge=None, path="v"):
    outputs = {"output-json-0": {} if value is MISSING else {"v": value}}
    assertion = {"id": "assert_t", "target": {"output_handle_id": "output-json-0", "path": path},
                 "condition": condition, "label": "t"}
    return evaluate_assertion(assertion, outputs, judge=judge)


@pytest.mark.parametrize("condition,value,status,code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_condition_table(condition, value, status, code):
    result = evaluate(condition, value)
    assert result["status"] == status, result
    assert (result["failure"] or {}).get("code") == code, result
    assert result["assertion_id"] == "assert_t" and result["assertion_label"] == "t"
    assert result["actual_value"] == (None if value is MISSING else value)
    if status != "passed":
        assert result["failure"]["message"]


JUDGED = [
    ("judge:pass-label", {"kind": "llm_judged_as", "rubric": "tone", "expected_label": "positive"}, "a good day", FakeJudge(), "passed", None),
    ("judge:fail-label", {"kind": "llm_judged_as", "rubric": "tone", "expected_label": "positive"}, "awful", FakeJudge(), "failed", "judged_otherwise"),
    ("judge:pass-holds", {"kind": "llm_judged_as", "rubric": "is it good?"}, "good", FakeJudge(), "passed", None),
    ("judge:not-judged-pass", {"kind": "llm_not_judged_as", "rubric": "tone", "expected_label": "positive"}, "awful", FakeJudge(), "passed", None),
    ("judge:not-judged-fail", {"kind": "llm_not_judged_as", "rubric": "tone", "expected_label": "positive"}, "good", FakeJudge(), "failed", "judged_otherwise"),
    ("judge:unavailable", {"kind": "llm_judged_as", "rubric": "tone"}, "good", UnavailableJudge(), "blocked", "judge_unavailable"),
    ("judge:broken", {"kind": "llm_judged_as", "rubric": "tone"}, "good", BrokenJudge(), "error", "judge_error"),
    ("embeddings:pass", {"kind": "similarity_gte", "reference": "aab", "threshold": 0.99, "method": "embeddings"}, "aab", FakeJudge(), "passed", None),
    ("embeddings:fail", {"kind": "similarity_gte", "reference": "bbbbbbbbbb", "threshold": 0.99, "method": "embeddings"}, "a", FakeJudge(), "failed", "below_threshold"),
    ("embeddings:unavailable", {"kind": "similarity_gte", "reference": "a", "threshold": 0.5, "method": "embeddings"}, "a", UnavailableJudge(), "blocked", "embeddings_unavailable"),
    ("embeddings:broken", {"kind": "similarity_gte", "reference": "a", "threshold": 0.5, "method": "embeddings"}, "a", BrokenJudge(), "error", "judge_error"),
]


@pytest.mark.parametrize("condition,value,judge,status,code", [c[1:] for c in JUDGED], ids=[c[0] for c in JUDGED])
def test_judge_and_embeddings(condition, value, judge, status, code):
    result = evaluate(condition, value, judge=judge)
    assert result["status"] == status, result
    assert (result["failure"] or {}).get("code") == code
    if condition["kind"] == "similarity_gte":
        assert result["metric_kind"] == "embeddings" and result["threshold"] == condition["threshold"]


def test_scores_are_filled_for_scored_kinds():
    sim = evaluate({"kind": "similarity_gte", "reference": "abcd", "threshold": 0.5}, "abce")
    assert (sim["score"], sim["threshold"], sim["metric_kind"]) == (0.75, 0.5, "levenshtein")
    iou = evaluate({"kind": "split_iou_gte", "expected": SPLITS, "threshold": 0.5},
                   {"splits": [{"name": "invoice", "pages": [1]}, {"name": "terms", "pages": [3]}]})
    assert iou["score"] == 0.75 and iou["metric_kind"] == "iou"


LOOKUPS = [
    ({"a": {"b": 1}}, "a.b", (True, 1)),
    ({"a": [{"b": 1}, {"b": 2}]}, "a.1.b", (True, 2)),
    ({"a": [{"b": 1}, {"b": 2}]}, "a[1].b", (True, 2)),
    ({"a": [[1, 2], [3]]}, "a[1][0]", (True, 3)),
    ({"a": 1}, "", (True, {"a": 1})),
    ({"a": 1}, "b", (False, None)),
    ({"a": [1]}, "a.5", (False, None)),
    ({"a": "text"}, "a.b", (False, None)),
    ({"a": None}, "a", (True, None)),
    ({"a": {"0": "key"}}, "a.0", (True, "key")),
]


@pytest.mark.parametrize("payload,path,expected", LOOKUPS, ids=[p or "(root)" for _, p, _ in LOOKUPS])
def test_lookup(payload, path, expected):
    assert lookup(payload, path) == expected


def test_missing_handle_is_no_value():
    result = evaluate_assertion({"id": "a", "target": {"output_handle_id": "output-json-9", "path": ""},
                                 "condition": {"kind": "exists"}}, {"output-json-0": 1})
    assert result["status"] == "failed" and result["failure"]["code"] == "value_missing"


def test_verdict_summary():
    assert verdict_summary(evaluate({"kind": "exists"}, 1)) == {
        "result": True, "assertions_passed": 1, "assertions_failed": 0, "blocked_assertions": 0, "failed_assertion_ids": []}
    assert verdict_summary(evaluate({"kind": "exists"}, None))["failed_assertion_ids"] == ["assert_t"]
    assert verdict_summary(evaluate({"kind": "number_compare", "op": "gt", "expected": 1}, "x"))["blocked_assertions"] == 1


def test_table_covers_every_kind_with_enough_cases():
    from models.conditions import CONDITION_KINDS

    kinds = {c[1]["kind"] for c in CASES} | {c[1]["kind"] for c in JUDGED}
    assert set(CONDITION_KINDS) <= kinds
    assert len(CASES) + len(JUDGED) + len(LOOKUPS) >= 120
