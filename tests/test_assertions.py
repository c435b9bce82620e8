"""The assertion engine, table-driven: every kind's pass, fail, blocked and missing-value behaviour,
value lookup, and the judge / embeddings paths through a fake Judge (SPEC §5)."""

from __future__ import annotations

import urllib.request
from typing import Any, NamedTuple

import pytest

from models.conditions import CONDITION_KINDS
from workers.assertions import evaluate_assertion, lookup, verdict_summary
from workers.blocks.providers.base import ProviderUnavailable

MISSING = object()
HANDLE = "output-json-0"
RESULT_KEYS = {"assertion_id", "condition_kind", "status", "actual_value", "expected_value", "score", "threshold",
               "metric_kind", "assertion_label", "failure"}


class FakeJudge:
    """Scripted answers: "good" in the text → label "positive" (the rubric holds); embeddings from
    letter counts, so equal texts get cosine 1."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        self.calls.append(("judge", value))
        label = "positive" if "good" in str(value).lower() else "negative"
        return {"label": label, "holds": label == "positive", "reasoning": f"saw {value!r}"}

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("embed", texts))
        return [[t.count("a") + 1.0, t.count("b") + 1.0, len(t) + 1.0] for t in texts]


class ShoutingJudge(FakeJudge):
    """Labels in another case and with stray spaces, as a model might write them."""

    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        answer = super().judge(value, rubric, expected_label)
        return {**answer, "label": f" {answer['label'].upper()} "}


class UnavailableJudge:
    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        raise ProviderUnavailable("judge_unavailable", "no judge model configured")

    def embed(self, texts: list[str]) -> list[list[float]]:
        raise ProviderUnavailable("embeddings_unavailable", "no embeddings model configured")


class BrokenJudge:
    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        raise TimeoutError("judge timed out after retries")

    def embed(self, texts: list[str]) -> list[list[float]]:
        raise TimeoutError("embeddings timed out")


class GarbledJudge:
    """Answers, but not in the promised shape."""

    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        return {"verdict": "yes"}

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0]]  # one vector for two texts


class Case(NamedTuple):
    id: str
    condition: dict[str, Any]
    value: Any  # MISSING = nothing at the target path
    status: str
    code: str | None
    judge: Any = None


SPLITS = {"splits": [{"name": "invoice", "pages": [1, 2]}, {"name": "terms", "pages": [3]}]}
SHIFTED = {"splits": [{"name": "invoice", "pages": [1]}, {"name": "terms", "pages": [2, 3]}]}
GT0 = {"kind": "number_compare", "op": "gt", "expected": 0}
JUDGE_POSITIVE = {"kind": "llm_judged_as", "rubric": "tone", "expected_label": "positive"}
NOT_POSITIVE = {"kind": "llm_not_judged_as", "rubric": "tone", "expected_label": "positive"}
EMBED = {"kind": "similarity_gte", "reference": "aab", "threshold": 0.99, "method": "embeddings"}

CASES = [
    # exists / not_exists
    Case("exists:pass", {"kind": "exists"}, 1, "passed", None),
    Case("exists:pass-false", {"kind": "exists"}, False, "passed", None),
    Case("exists:pass-empty-string", {"kind": "exists"}, "", "passed", None),
    Case("exists:fail-null", {"kind": "exists"}, None, "failed", "value_null"),
    Case("exists:missing", {"kind": "exists"}, MISSING, "failed", "value_missing"),
    Case("not_exists:pass-missing", {"kind": "not_exists"}, MISSING, "passed", None),
    Case("not_exists:pass-null", {"kind": "not_exists"}, None, "passed", None),
    Case("not_exists:fail-zero", {"kind": "not_exists"}, 0, "failed", "value_present"),
    Case("not_exists:fail-empty-list", {"kind": "not_exists"}, [], "failed", "value_present"),
    # equals / not_equals
    Case("equals:pass-str", {"kind": "equals", "expected": "Acme"}, "Acme", "passed", None),
    Case("equals:pass-int-float", {"kind": "equals", "expected": 1}, 1.0, "passed", None),
    Case("equals:pass-deep", {"kind": "equals", "expected": {"a": [1, {"b": 2}]}}, {"a": [1.0, {"b": 2}]}, "passed", None),
    Case("equals:pass-null", {"kind": "equals", "expected": None}, None, "passed", None),
    Case("equals:pass-bool", {"kind": "equals", "expected": False}, False, "passed", None),
    Case("equals:fail-case", {"kind": "equals", "expected": "Acme"}, "acme", "failed", "not_equal"),
    Case("equals:fail-no-coercion", {"kind": "equals", "expected": 5}, "5", "failed", "not_equal"),
    Case("equals:fail-bool-is-not-int", {"kind": "equals", "expected": 1}, True, "failed", "not_equal"),
    Case("equals:fail-false-is-not-zero", {"kind": "equals", "expected": 0}, False, "failed", "not_equal"),
    Case("equals:fail-list-order", {"kind": "equals", "expected": [1, 2]}, [2, 1], "failed", "not_equal"),
    Case("equals:fail-extra-key", {"kind": "equals", "expected": {"a": 1}}, {"a": 1, "b": 2}, "failed", "not_equal"),
    Case("equals:fail-null-vs-string", {"kind": "equals", "expected": "null"}, None, "failed", "not_equal"),
    Case("equals:missing", {"kind": "equals", "expected": "x"}, MISSING, "failed", "value_missing"),
    Case("equals:missing-even-if-expected-null", {"kind": "equals", "expected": None}, MISSING, "failed", "value_missing"),
    Case("not_equals:pass", {"kind": "not_equals", "expected": "a"}, "b", "passed", None),
    Case("not_equals:pass-type", {"kind": "not_equals", "expected": "1"}, 1, "passed", None),
    Case("not_equals:fail", {"kind": "not_equals", "expected": 2}, 2.0, "failed", "equal"),
    Case("not_equals:fail-deep", {"kind": "not_equals", "expected": {"a": [1]}}, {"a": [1]}, "failed", "equal"),
    Case("not_equals:missing", {"kind": "not_equals", "expected": "a"}, MISSING, "failed", "value_missing"),
    # number_compare (and the legacy compare)
    Case("number_compare:gt-pass", {"kind": "number_compare", "op": "gt", "expected": 5}, 6, "passed", None),
    Case("number_compare:gt-fail", {"kind": "number_compare", "op": "gt", "expected": 5}, 5, "failed", "comparison_failed"),
    Case("number_compare:gte-pass", {"kind": "number_compare", "op": "gte", "expected": 5}, 5.0, "passed", None),
    Case("number_compare:gte-fail", {"kind": "number_compare", "op": "gte", "expected": 5}, 4.99, "failed", "comparison_failed"),
    Case("number_compare:lt-pass", {"kind": "number_compare", "op": "lt", "expected": 0}, -1, "passed", None),
    Case("number_compare:lt-fail", {"kind": "number_compare", "op": "lt", "expected": 0}, 0, "failed", "comparison_failed"),
    Case("number_compare:lte-pass", {"kind": "number_compare", "op": "lte", "expected": 0}, 0, "passed", None),
    Case("number_compare:lte-fail", {"kind": "number_compare", "op": "lte", "expected": 0}, 0.1, "failed", "comparison_failed"),
    Case("number_compare:eq-pass", {"kind": "number_compare", "op": "eq", "expected": 1234.56}, 1234.56, "passed", None),
    Case("number_compare:eq-fail", {"kind": "number_compare", "op": "eq", "expected": 1}, 2, "failed", "comparison_failed"),
    Case("number_compare:neq-pass", {"kind": "number_compare", "op": "neq", "expected": 1}, 2, "passed", None),
    Case("number_compare:neq-fail", {"kind": "number_compare", "op": "neq", "expected": 1}, 1.0, "failed", "comparison_failed"),
    Case("number_compare:blocked-string", {"kind": "number_compare", "op": "gt", "expected": 1}, "5", "blocked", "type_error"),
    Case("number_compare:blocked-bool", GT0, True, "blocked", "type_error"),
    Case("number_compare:blocked-null", GT0, None, "blocked", "type_error"),
    Case("number_compare:missing", GT0, MISSING, "failed", "value_missing"),
    Case("compare:legacy-pass", {"kind": "compare", "op": "gte", "expected": 3}, 3, "passed", None),
    Case("compare:legacy-fail", {"kind": "compare", "op": "lt", "expected": 3}, 3, "failed", "comparison_failed"),
    # between
    Case("between:pass-inclusive-upper", {"kind": "between", "lower": 1, "upper": 3}, 3, "passed", None),
    Case("between:pass-inclusive-lower", {"kind": "between", "lower": 1, "upper": 3, "inclusive": True}, 1, "passed", None),
    Case("between:pass-inclusive-null-is-default", {"kind": "between", "lower": 1, "upper": 3, "inclusive": None}, 1, "passed", None),
    Case("between:pass-exclusive", {"kind": "between", "lower": 1, "upper": 3, "inclusive": False}, 2, "passed", None),
    Case("between:fail-exclusive-edge", {"kind": "between", "lower": 1, "upper": 3, "inclusive": False}, 3, "failed", "out_of_range"),
    Case("between:fail-below", {"kind": "between", "lower": 1, "upper": 3}, 0.5, "failed", "out_of_range"),
    Case("between:fail-above", {"kind": "between", "lower": 1, "upper": 3}, 3.01, "failed", "out_of_range"),
    Case("between:blocked-string", {"kind": "between", "lower": 1, "upper": 3}, "2", "blocked", "type_error"),
    Case("between:blocked-bool", {"kind": "between", "lower": 0, "upper": 1}, True, "blocked", "type_error"),
    Case("between:missing", {"kind": "between", "lower": 1, "upper": 3}, MISSING, "failed", "value_missing"),
    # contains / not_contains
    Case("contains:pass-substring", {"kind": "contains", "expected": "Inc"}, "Acme Inc", "passed", None),
    Case("contains:pass-empty-substring", {"kind": "contains", "expected": ""}, "Acme", "passed", None),
    Case("contains:fail-case-sensitive", {"kind": "contains", "expected": "inc"}, "Acme Inc", "failed", "not_contained"),
    Case("contains:pass-list", {"kind": "contains", "expected": 2}, [1, 2, 3], "passed", None),
    Case("contains:pass-list-int-float", {"kind": "contains", "expected": 2}, [1.0, 2.0], "passed", None),
    Case("contains:pass-list-object", {"kind": "contains", "expected": {"a": 1}}, [{"a": 1}], "passed", None),
    Case("contains:fail-list-no-coercion", {"kind": "contains", "expected": "2"}, [1, 2, 3], "failed", "not_contained"),
    Case("contains:fail-list-object-is-equality", {"kind": "contains", "expected": {"a": 1}}, [{"a": 1, "b": 2}], "failed", "not_contained"),
    Case("contains:blocked-number", {"kind": "contains", "expected": "1"}, 123, "blocked", "type_error"),
    Case("contains:blocked-object", {"kind": "contains", "expected": "a"}, {"a": 1}, "blocked", "type_error"),
    Case("contains:blocked-non-string-needle", {"kind": "contains", "expected": 1}, "a1", "blocked", "type_error"),
    Case("contains:missing", {"kind": "contains", "expected": "a"}, MISSING, "failed", "value_missing"),
    Case("not_contains:pass", {"kind": "not_contains", "expected": "Umbrella"}, "Acme Inc", "passed", None),
    Case("not_contains:fail", {"kind": "not_contains", "expected": "Acme"}, "Acme Inc", "failed", "contained"),
    Case("not_contains:pass-list", {"kind": "not_contains", "expected": 4}, [1, 2, 3], "passed", None),
    Case("not_contains:fail-list", {"kind": "not_contains", "expected": 3}, [1, 2, 3], "failed", "contained"),
    Case("not_contains:blocked", {"kind": "not_contains", "expected": "x"}, {"x": 1}, "blocked", "type_error"),
    Case("not_contains:missing", {"kind": "not_contains", "expected": "x"}, MISSING, "failed", "value_missing"),
    # starts_with / ends_with
    Case("starts_with:pass", {"kind": "starts_with", "expected": "INV-"}, "INV-001", "passed", None),
    Case("starts_with:fail-case", {"kind": "starts_with", "expected": "inv-"}, "INV-001", "failed", "affix_mismatch"),
    Case("starts_with:blocked", {"kind": "starts_with", "expected": "1"}, 123, "blocked", "type_error"),
    Case("starts_with:missing", {"kind": "starts_with", "expected": "a"}, MISSING, "failed", "value_missing"),
    Case("ends_with:pass", {"kind": "ends_with", "expected": "001"}, "INV-001", "passed", None),
    Case("ends_with:fail", {"kind": "ends_with", "expected": "002"}, "INV-001", "failed", "affix_mismatch"),
    Case("ends_with:blocked", {"kind": "ends_with", "expected": "a"}, ["a"], "blocked", "type_error"),
    Case("ends_with:missing", {"kind": "ends_with", "expected": "a"}, MISSING, "failed", "value_missing"),
    # matches_regex (re.search; the legacy `expected` dialect)
    Case("matches_regex:pass-search", {"kind": "matches_regex", "pattern": r"\d{3}"}, "INV-001", "passed", None),
    Case("matches_regex:pass-anchored", {"kind": "matches_regex", "pattern": r"^INV-\d+$"}, "INV-001", "passed", None),
    Case("matches_regex:fail", {"kind": "matches_regex", "pattern": r"^\d+$"}, "INV-001", "failed", "no_match"),
    Case("matches_regex:fail-case", {"kind": "matches_regex", "pattern": "inv"}, "INV-001", "failed", "no_match"),
    Case("matches_regex:legacy-expected-pass", {"kind": "matches_regex", "expected": "^Acme.*"}, "Acme Inc", "passed", None),
    Case("matches_regex:legacy-expected-fail", {"kind": "matches_regex", "expected": "^Globex"}, "Acme Inc", "failed", "no_match"),
    Case("matches_regex:blocked-invalid", {"kind": "matches_regex", "pattern": "(unclosed"}, "x", "blocked", "invalid_regex"),
    Case("matches_regex:blocked-invalid-beats-type", {"kind": "matches_regex", "pattern": "["}, 1, "blocked", "invalid_regex"),
    Case("matches_regex:blocked-type", {"kind": "matches_regex", "pattern": "1"}, 1, "blocked", "type_error"),
    Case("matches_regex:missing", {"kind": "matches_regex", "pattern": "a"}, MISSING, "failed", "value_missing"),
    # length_compare
    Case("length_compare:string", {"kind": "length_compare", "op": "eq", "expected": 4}, "Acme", "passed", None),
    Case("length_compare:list", {"kind": "length_compare", "op": "gte", "expected": 2}, [1, 2], "passed", None),
    Case("length_compare:object", {"kind": "length_compare", "op": "lt", "expected": 2}, {"a": 1}, "passed", None),
    Case("length_compare:empty", {"kind": "length_compare", "op": "eq", "expected": 0}, [], "passed", None),
    Case("length_compare:fail", {"kind": "length_compare", "op": "gt", "expected": 3}, [1], "failed", "comparison_failed"),
    Case("length_compare:fail-neq", {"kind": "length_compare", "op": "neq", "expected": 1}, "a", "failed", "comparison_failed"),
    Case("length_compare:blocked-number", {"kind": "length_compare", "op": "eq", "expected": 1}, 5, "blocked", "type_error"),
    Case("length_compare:blocked-null", {"kind": "length_compare", "op": "eq", "expected": 0}, None, "blocked", "type_error"),
    Case("length_compare:missing", {"kind": "length_compare", "op": "eq", "expected": 0}, MISSING, "failed", "value_missing"),
    # object_contains
    Case("object_contains:pass", {"kind": "object_contains", "expected": {"name": "Acme"}}, {"name": "Acme", "x": 1}, "passed", None),
    Case("object_contains:pass-empty", {"kind": "object_contains", "expected": {}}, {"a": 1}, "passed", None),
    Case("object_contains:pass-nested", {"kind": "object_contains", "expected": {"v": {"n": 1}}}, {"v": {"n": 1.0, "m": 2}}, "passed", None),
    Case("object_contains:fail-value", {"kind": "object_contains", "expected": {"name": "Globex"}}, {"name": "Acme"}, "failed", "not_contained"),
    Case("object_contains:fail-key", {"kind": "object_contains", "expected": {"zip": "1"}}, {"name": "Acme"}, "failed", "not_contained"),
    Case("object_contains:fail-list-is-equality", {"kind": "object_contains", "expected": {"l": [1]}}, {"l": [1, 2]}, "failed", "not_contained"),
    Case("object_contains:blocked", {"kind": "object_contains", "expected": {"a": 1}}, [{"a": 1}], "blocked", "type_error"),
    Case("object_contains:missing", {"kind": "object_contains", "expected": {}}, MISSING, "failed", "value_missing"),
    # array_contains
    Case("array_contains:pass-subset", {"kind": "array_contains", "expected": {"sku": "A"}}, [{"sku": "A", "qty": 2}], "passed", None),
    Case("array_contains:pass-scalar", {"kind": "array_contains", "expected": "b"}, ["a", "b"], "passed", None),
    Case("array_contains:fail", {"kind": "array_contains", "expected": {"sku": "C"}}, [{"sku": "A"}], "failed", "not_contained"),
    Case("array_contains:fail-empty", {"kind": "array_contains", "expected": 1}, [], "failed", "not_contained"),
    Case("array_contains:blocked", {"kind": "array_contains", "expected": {"sku": "A"}}, {"sku": "A"}, "blocked", "type_error"),
    Case("array_contains:missing", {"kind": "array_contains", "expected": 1}, MISSING, "failed", "value_missing"),
    # json_schema_valid (Draft 2020-12)
    Case("json_schema_valid:pass", {"kind": "json_schema_valid", "schema": {"type": "object", "required": ["a"]}}, {"a": 1}, "passed", None),
    Case("json_schema_valid:pass-2020-12", {"kind": "json_schema_valid", "schema": {"prefixItems": [{"type": "string"}]}}, ["a", 1], "passed", None),
    Case("json_schema_valid:pass-local-ref", {"kind": "json_schema_valid", "schema": {"$defs": {"n": {"type": "number"}}, "$ref": "#/$defs/n"}}, 2, "passed", None),
    Case("json_schema_valid:pass-true-schema", {"kind": "json_schema_valid", "schema": True}, {"anything": 1}, "passed", None),
    Case("json_schema_valid:fail", {"kind": "json_schema_valid", "schema": {"type": "object", "required": ["b"]}}, {"a": 1}, "failed", "schema_mismatch"),
    Case("json_schema_valid:fail-type", {"kind": "json_schema_valid", "schema": {"type": "integer"}}, "1", "failed", "schema_mismatch"),
    Case("json_schema_valid:fail-null-value", {"kind": "json_schema_valid", "schema": {"type": "string"}}, None, "failed", "schema_mismatch"),
    Case("json_schema_valid:blocked-invalid", {"kind": "json_schema_valid", "schema": {"type": "not-a-type"}}, 1, "blocked", "schema_invalid"),
    Case("json_schema_valid:blocked-remote-ref", {"kind": "json_schema_valid", "schema": {"$ref": "https://example.com/s.json"}}, 1, "blocked", "schema_invalid"),
    Case("json_schema_valid:blocked-null-schema", {"kind": "json_schema_valid", "schema": None}, 1, "blocked", "schema_invalid"),
    Case("json_schema_valid:missing", {"kind": "json_schema_valid", "schema": {}}, MISSING, "failed", "value_missing"),
    # similarity_gte — levenshtein (default) and embeddings through the judge
    Case("similarity:pass-identical", {"kind": "similarity_gte", "reference": "Acme Inc", "threshold": 1}, "Acme Inc", "passed", None),
    Case("similarity:pass-close", {"kind": "similarity_gte", "reference": "Acme Inc.", "threshold": 0.8}, "Acme Inc", "passed", None),
    Case("similarity:pass-at-threshold", {"kind": "similarity_gte", "reference": "abcde", "threshold": 0.8, "method": "levenshtein"}, "abcdX", "passed", None),
    Case("similarity:fail", {"kind": "similarity_gte", "reference": "Globex", "threshold": 0.8}, "Acme Inc", "failed", "below_threshold"),
    Case("similarity:pass-json-values", {"kind": "similarity_gte", "reference": {"a": 1, "b": 2}, "threshold": 1}, {"b": 2, "a": 1}, "passed", None),
    Case("similarity:pass-number-vs-string", {"kind": "similarity_gte", "reference": 5, "threshold": 1}, "5", "passed", None),
    Case("similarity:missing", {"kind": "similarity_gte", "reference": "x", "threshold": 0.5}, MISSING, "failed", "value_missing"),
    Case("embeddings:pass", EMBED, "aab", "passed", None, FakeJudge()),
    Case("embeddings:fail", {**EMBED, "reference": "bbbbbbbbbb"}, "a", "failed", "below_threshold", FakeJudge()),
    Case("embeddings:no-judge", EMBED, "x", "blocked", "embeddings_unavailable"),
    Case("embeddings:unavailable", EMBED, "a", "blocked", "embeddings_unavailable", UnavailableJudge()),
    Case("embeddings:broken", EMBED, "a", "error", "judge_error", BrokenJudge()),
    Case("embeddings:garbled", EMBED, "a", "error", "judge_error", GarbledJudge()),
    Case("embeddings:missing", EMBED, MISSING, "failed", "value_missing", FakeJudge()),
    # llm_judged_as / llm_not_judged_as
    Case("llm_judged_as:pass-label", JUDGE_POSITIVE, "a good day", "passed", None, FakeJudge()),
    Case("llm_judged_as:pass-label-case-insensitive", JUDGE_POSITIVE, "good", "passed", None, ShoutingJudge()),
    Case("llm_judged_as:fail-label", JUDGE_POSITIVE, "awful", "failed", "judged_otherwise", FakeJudge()),
    Case("llm_judged_as:pass-holds", {"kind": "llm_judged_as", "rubric": "is it good?"}, "good", "passed", None, FakeJudge()),
    Case("llm_judged_as:fail-holds", {"kind": "llm_judged_as", "rubric": "is it good?"}, "bad", "failed", "judged_otherwise", FakeJudge()),
    Case("llm_judged_as:pass-non-string-value", JUDGE_POSITIVE, {"note": "good"}, "passed", None, FakeJudge()),
    Case("llm_judged_as:no-judge", JUDGE_POSITIVE, "good day", "blocked", "judge_unavailable"),
    Case("llm_judged_as:unavailable", JUDGE_POSITIVE, "good", "blocked", "judge_unavailable", UnavailableJudge()),
    Case("llm_judged_as:broken", JUDGE_POSITIVE, "good", "error", "judge_error", BrokenJudge()),
    Case("llm_judged_as:garbled", JUDGE_POSITIVE, "good", "error", "judge_error", GarbledJudge()),
    Case("llm_judged_as:missing", JUDGE_POSITIVE, MISSING, "failed", "value_missing", FakeJudge()),
    Case("llm_not_judged_as:pass", NOT_POSITIVE, "awful", "passed", None, FakeJudge()),
    Case("llm_not_judged_as:fail", NOT_POSITIVE, "good", "failed", "judged_otherwise", FakeJudge()),
    Case("llm_not_judged_as:pass-holds", {"kind": "llm_not_judged_as", "rubric": "is it good?"}, "bad", "passed", None, FakeJudge()),
    Case("llm_not_judged_as:no-judge", {"kind": "llm_not_judged_as", "rubric": "rude?"}, "x", "blocked", "judge_unavailable"),
    Case("llm_not_judged_as:unavailable", NOT_POSITIVE, "x", "blocked", "judge_unavailable", UnavailableJudge()),
    Case("llm_not_judged_as:broken", NOT_POSITIVE, "x", "error", "judge_error", BrokenJudge()),
    Case("llm_not_judged_as:missing", NOT_POSITIVE, MISSING, "failed", "value_missing", FakeJudge()),
    # all_items_match / any_item_matches (nested, path-less)
    Case("all_items:pass", {"kind": "all_items_match", "condition": GT0}, [1, 2], "passed", None),
    Case("all_items:pass-empty", {"kind": "all_items_match", "condition": {"kind": "exists"}}, [], "passed", None),
    Case("all_items:pass-nested-objects", {"kind": "all_items_match", "condition": {"kind": "object_contains", "expected": {"ok": True}}},
         [{"ok": True}, {"ok": True, "x": 1}], "passed", None),
    Case("all_items:pass-legacy-nested", {"kind": "all_items_match", "condition": {"kind": "matches_regex", "expected": "^A"}}, ["Ab", "Ac"], "passed", None),
    Case("all_items:fail", {"kind": "all_items_match", "condition": {"kind": "number_compare", "op": "gt", "expected": 1}}, [1, 2], "failed", "item_failed"),
    Case("all_items:fail-null-item", {"kind": "all_items_match", "condition": {"kind": "exists"}}, [1, None], "failed", "item_failed"),
    Case("all_items:blocked-nested", {"kind": "all_items_match", "condition": GT0}, [1, "x"], "blocked", "type_error"),
    Case("all_items:blocked-not-list", {"kind": "all_items_match", "condition": {"kind": "exists"}}, {"a": 1}, "blocked", "type_error"),
    Case("all_items:nested-judge-error", {"kind": "all_items_match", "condition": JUDGE_POSITIVE}, ["good"], "error", "judge_error", BrokenJudge()),
    Case("all_items:nested-judge", {"kind": "all_items_match", "condition": JUDGE_POSITIVE}, ["good", "very good"], "passed", None, FakeJudge()),
    Case("all_items:missing", {"kind": "all_items_match", "condition": {"kind": "exists"}}, MISSING, "failed", "value_missing"),
    Case("any_item:pass", {"kind": "any_item_matches", "condition": {"kind": "equals", "expected": "b"}}, ["a", "b"], "passed", None),
    Case("any_item:pass-nested-any", {"kind": "any_item_matches", "condition": {"kind": "any_item_matches", "condition": {"kind": "equals", "expected": 3}}},
         [[1], [2, 3]], "passed", None),
    Case("any_item:fail-empty", {"kind": "any_item_matches", "condition": {"kind": "exists"}}, [], "failed", "no_item_matched"),
    Case("any_item:fail", {"kind": "any_item_matches", "condition": {"kind": "equals", "expected": "c"}}, ["a", "b"], "failed", "no_item_matched"),
    Case("any_item:blocked-nested-regex", {"kind": "any_item_matches", "condition": {"kind": "matches_regex", "pattern": "("}}, ["a"], "blocked", "invalid_regex"),
    Case("any_item:blocked-even-if-another-passes", {"kind": "any_item_matches", "condition": GT0}, [1, "x"], "blocked", "type_error"),
    Case("any_item:blocked-not-list", {"kind": "any_item_matches", "condition": {"kind": "exists"}}, "abc", "blocked", "type_error"),
    Case("any_item:nested-judge-unavailable", {"kind": "any_item_matches", "condition": JUDGE_POSITIVE}, ["good"], "blocked", "judge_unavailable"),
    Case("any_item:missing", {"kind": "any_item_matches", "condition": {"kind": "exists"}}, MISSING, "failed", "value_missing"),
    # split_iou_gte
    Case("split_iou:pass-exact", {"kind": "split_iou_gte", "expected": SPLITS}, SPLITS, "passed", None),
    Case("split_iou:pass-order-free", {"kind": "split_iou_gte", "expected": SPLITS},
         {"splits": [{"name": "terms", "pages": [3]}, {"name": "invoice", "pages": [2, 1]}]}, "passed", None),
    Case("split_iou:pass-extra-keys", {"kind": "split_iou_gte", "expected": SPLITS},
         {"splits": [{**s, "likelihood": 1.0} for s in SPLITS["splits"]]}, "passed", None),
    Case("split_iou:fail-default-threshold", {"kind": "split_iou_gte", "expected": SPLITS}, SHIFTED, "failed", "below_threshold"),
    Case("split_iou:pass-threshold", {"kind": "split_iou_gte", "expected": SPLITS, "threshold": 0.5}, SHIFTED, "passed", None),
    Case("split_iou:fail-missing-name", {"kind": "split_iou_gte", "expected": SPLITS, "threshold": 0.9},
         {"splits": [{"name": "invoice", "pages": [1, 2]}]}, "failed", "below_threshold"),
    Case("split_iou:fail-extra-name", {"kind": "split_iou_gte", "expected": SPLITS},
         {"splits": [*SPLITS["splits"], {"name": "annex", "pages": [4]}]}, "failed", "below_threshold"),
    Case("split_iou:blocked-list", {"kind": "split_iou_gte", "expected": SPLITS}, [1, 2], "blocked", "type_error"),
    Case("split_iou:blocked-bad-pages", {"kind": "split_iou_gte", "expected": SPLITS}, {"splits": [{"name": "a", "pages": "1-2"}]}, "blocked", "type_error"),
    Case("split_iou:blocked-no-name", {"kind": "split_iou_gte", "expected": SPLITS}, {"splits": [{"pages": [1]}]}, "blocked", "type_error"),
    Case("split_iou:missing", {"kind": "split_iou_gte", "expected": SPLITS}, MISSING, "failed", "value_missing"),
    # a stored condition that bypassed creation-time validation
    Case("invalid-stored-condition", {"kind": "number_compare", "op": "about", "expected": 1}, 1, "blocked", "invalid_condition"),
    Case("unknown-stored-kind", {"kind": "roughly"}, 1, "blocked", "invalid_condition"),
]


def evaluate(condition: Any, value: Any, judge: Any = None, path: str = "v") -> dict[str, Any]:
    outputs = {HANDLE: {} if value is MISSING else {"v": value}}
    assertion = {"id": "assert_t", "target": {"output_handle_id": HANDLE, "path": path},
                 "condition": condition, "label": "t"}
    return evaluate_assertion(assertion, outputs, judge=judge)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluation is pure: any attempt to fetch (e.g. a remote $ref) fails the test."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the assertion engine tried to use the network")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_condition_table(case: Case) -> None:
    result = evaluate(case.condition, case.value, judge=case.judge)
    assert set(result) == RESULT_KEYS
    assert result["status"] == case.status, result
    assert (result["failure"] or {}).get("code") == case.code, result
    assert result["assertion_id"] == "assert_t" and result["assertion_label"] == "t"
    assert result["actual_value"] == (None if case.value is MISSING else case.value)
    if case.status == "passed":
        assert result["failure"] is None
    else:
        assert result["failure"]["message"] and isinstance(result["failure"]["details"], dict)


def test_table_covers_every_kind_and_outcome() -> None:
    assert len(CASES) >= 120
    kinds = {c.condition["kind"] for c in CASES}
    assert set(CONDITION_KINDS) <= kinds
    for kind in CONDITION_KINDS:
        of_kind = [c for c in CASES if c.condition["kind"] == kind]
        assert {"passed", "failed"} <= {c.status for c in of_kind}, kind
        assert any(c.value is MISSING for c in of_kind), kind


def test_condition_kind_is_canonical_for_legacy_dialects() -> None:
    assert evaluate({"kind": "compare", "op": "gt", "expected": 1}, 2)["condition_kind"] == "number_compare"
    legacy = evaluate({"kind": "matches_regex", "expected": "^A"}, "Acme")
    assert legacy["condition_kind"] == "matches_regex" and legacy["expected_value"] == "^A"


MESSAGES = [
    ({"kind": "equals", "expected": "Acme"}, "Acme Inc", "expected 'Acme' but got 'Acme Inc'"),
    ({"kind": "number_compare", "op": "gt", "expected": 5}, 5, "expected a number > 5 but got 5"),
    ({"kind": "between", "lower": 1, "upper": 3, "inclusive": False}, 3, "in (1, 3)"),
    ({"kind": "contains", "expected": "inc"}, "Acme Inc", "to contain 'inc'"),
    ({"kind": "starts_with", "expected": "X"}, "Acme", "to start with 'X'"),
    ({"kind": "matches_regex", "pattern": "("}, "a", "invalid regex '('"),
    ({"kind": "number_compare", "op": "gt", "expected": 1}, "5", "number_compare needs a number, got string '5'"),
    ({"kind": "object_contains", "expected": {"a": {"b": 1}}}, {"a": {"b": 2}}, "missing or different: a.b"),
    ({"kind": "json_schema_valid", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}, {"n": "x"},
     "at n: 'x' is not of type 'integer'"),
    ({"kind": "all_items_match", "condition": GT0}, [1, 0], "1 of 2 items fail; item 1"),
    ({"kind": "similarity_gte", "reference": "abcd", "threshold": 0.9}, "abXY", "similarity 0.5 is below the threshold 0.9"),
]


@pytest.mark.parametrize("condition,value,fragment", MESSAGES, ids=[m[0]["kind"] for m in MESSAGES])
def test_failure_messages_are_readable(condition: dict[str, Any], value: Any, fragment: str) -> None:
    assert fragment in evaluate(condition, value)["failure"]["message"]


def test_scores_thresholds_and_metrics_are_filled() -> None:
    sim = evaluate({"kind": "similarity_gte", "reference": "abcd", "threshold": 0.5}, "abce")
    assert (sim["score"], sim["threshold"], sim["metric_kind"]) == (0.75, 0.5, "levenshtein")
    empty = evaluate({"kind": "similarity_gte", "reference": "", "threshold": 1}, "")
    assert empty["score"] == 1.0 and empty["status"] == "passed"
    iou = evaluate({"kind": "split_iou_gte", "expected": SPLITS, "threshold": 0.5},
                   {"splits": [{"name": "invoice", "pages": [1]}, {"name": "terms", "pages": [3]}]})
    assert (iou["score"], iou["threshold"], iou["metric_kind"]) == (0.75, 0.5, "iou")
    assert iou["failure"] is None
    default = evaluate({"kind": "split_iou_gte", "expected": SPLITS}, SHIFTED)
    assert default["threshold"] == 1 and default["score"] == round((0.5 + 0.5) / 2, 6)
    assert default["failure"]["details"]["per_split"] == {"invoice": 0.5, "terms": 0.5}
    embedded = evaluate(EMBED, "aab", judge=FakeJudge())
    assert embedded["metric_kind"] == "embeddings" and embedded["score"] == 1.0 and embedded["threshold"] == 0.99
    # Known from the condition alone, so reported even when no score could be computed.
    missing = evaluate({"kind": "similarity_gte", "reference": "x", "threshold": 0.7}, MISSING)
    assert (missing["score"], missing["threshold"], missing["metric_kind"]) == (None, 0.7, "levenshtein")
    assert evaluate(EMBED, "x")["metric_kind"] == "embeddings"


def test_expected_value_per_kind() -> None:
    assert evaluate({"kind": "equals", "expected": [1]}, [1])["expected_value"] == [1]
    assert evaluate({"kind": "between", "lower": 1, "upper": 2}, 1)["expected_value"] == {"lower": 1, "upper": 2, "inclusive": True}
    assert evaluate({"kind": "similarity_gte", "reference": "r", "threshold": 0}, "x")["expected_value"] == "r"
    assert evaluate({"kind": "exists"}, 1)["expected_value"] is None


def test_judge_gets_the_raw_value_rubric_and_label() -> None:
    judge = FakeJudge()
    result = evaluate(JUDGE_POSITIVE, {"note": "good"}, judge=judge)
    assert result["status"] == "passed" and judge.calls == [("judge", {"note": "good"})]
    failed = evaluate(JUDGE_POSITIVE, "meh", judge=FakeJudge())
    assert failed["failure"]["details"]["label"] == "negative" and "'negative'" in failed["failure"]["message"]


def test_embeddings_compare_canonical_json_of_non_strings() -> None:
    judge = FakeJudge()
    evaluate({**EMBED, "reference": {"b": 1, "a": 2}}, [1, "x"], judge=judge)
    assert judge.calls == [("embed", ['[1,"x"]', '{"a":2,"b":1}'])]


def test_missing_handle_and_missing_path_are_told_apart() -> None:
    no_handle = evaluate_assertion({"id": "a", "target": {"output_handle_id": "output-json-9", "path": ""},
                                    "condition": {"kind": "exists"}}, {HANDLE: 1})
    assert no_handle["status"] == "failed" and no_handle["failure"]["code"] == "value_missing"
    assert no_handle["failure"]["details"]["reason"] == "output_handle_missing"
    assert "output-json-9" in no_handle["failure"]["message"]
    no_path = evaluate({"kind": "exists"}, MISSING)
    assert no_path["failure"]["details"] == {"reason": "path_not_found", "output_handle_id": HANDLE, "path": "v"}
    assert evaluate_assertion({"id": "a", "target": {"output_handle_id": "x"}, "condition": {"kind": "not_exists"}},
                              {})["status"] == "passed"


def test_whole_payload_and_indexed_paths() -> None:
    outputs = {HANDLE: {"items": [{"amount": 5}, {"amount": 7}]}}

    def status(path: str, condition: dict[str, Any]) -> str:
        return evaluate_assertion({"id": "a", "target": {"output_handle_id": HANDLE, "path": path},
                                   "condition": condition}, outputs)["status"]

    assert status("items[1].amount", {"kind": "equals", "expected": 7}) == "passed"
    assert status("items.1.amount", {"kind": "equals", "expected": 7}) == "passed"
    assert status("", {"kind": "object_contains", "expected": {"items": [{"amount": 5}, {"amount": 7}]}}) == "passed"
    assert status("items.2.amount", {"kind": "exists"}) == "failed"
    assert status("items", {"kind": "all_items_match", "condition": {"kind": "object_contains", "expected": {"amount": 5}}}) == "failed"


LOOKUPS = [
    ({"a": {"b": 1}}, "a.b", (True, 1)),
    ({"a": [{"b": 1}, {"b": 2}]}, "a.1.b", (True, 2)),
    ({"a": [{"b": 1}, {"b": 2}]}, "a[1].b", (True, 2)),
    ({"a": [[1, 2], [3]]}, "a[1][0]", (True, 3)),
    ({"a": [[1, 2], [3]]}, "a.1.0", (True, 3)),
    ([10, 20], "1", (True, 20)),
    ({"a": 1}, "", (True, {"a": 1})),
    ({"a": 1}, None, (True, {"a": 1})),
    (None, "", (True, None)),
    ({"a": 1}, "b", (False, None)),
    ({"a": [1]}, "a.5", (False, None)),
    ({"a": [1, 2]}, "a.-1", (False, None)),
    ({"a": [1, 2]}, "a.x", (False, None)),
    ({"a": [1, 2]}, "a.²", (False, None)),
    ({"a": "text"}, "a.b", (False, None)),
    ({"a": "text"}, "a.0", (False, None)),
    ({"a": None}, "a", (True, None)),
    ({"a": None}, "a.b", (False, None)),
    ({"a": {"0": "key"}}, "a.0", (True, "key")),
    ({"a": {"0": "key"}}, "a[0]", (True, "key")),
    ({"a": {"b": 1}}, "a..b", (True, 1)),
]


@pytest.mark.parametrize("payload,path,expected", LOOKUPS, ids=[f"{p!r}" for _, p, _ in LOOKUPS])
def test_lookup(payload: Any, path: str | None, expected: tuple[bool, Any]) -> None:
    assert lookup(payload, path) == expected


@pytest.mark.parametrize("status,passed,failed,blocked,ids", [
    ("passed", 1, 0, 0, []),
    ("failed", 0, 1, 0, ["assert_t"]),
    ("blocked", 0, 0, 1, []),
    ("error", 0, 1, 0, ["assert_t"]),
])
def test_verdict_summary(status: str, passed: int, failed: int, blocked: int, ids: list[str]) -> None:
    summary = verdict_summary({"assertion_id": "assert_t", "status": status})
    assert summary == {"result": status == "passed", "assertions_passed": passed, "assertions_failed": failed,
                       "blocked_assertions": blocked, "failed_assertion_ids": ids}


def test_verdict_summary_from_real_results() -> None:
    assert verdict_summary(evaluate({"kind": "exists"}, 1))["result"] is True
    assert verdict_summary(evaluate(GT0, "x"))["blocked_assertions"] == 1


def test_a_catastrophically_backtracking_regex_is_blocked_at_its_deadline(monkeypatch) -> None:
    """re would spin for hours on this near-miss (and cannot be interrupted); the deadline blocks it."""
    from workers.assertions import checks

    monkeypatch.setattr(checks, "REGEX_TIMEOUT_S", 0.2)
    result = evaluate({"kind": "matches_regex", "pattern": r"^(a|aa)+$"}, "a" * 40 + "!")
    assert result["status"] == "blocked" and result["failure"]["code"] == "invalid_regex"
    assert "catastrophic backtracking" in result["failure"]["message"]
    assert result["failure"]["details"] == {"timeout_s": 0.2}
    # The same pattern on a value it matches quickly still passes.
    assert evaluate({"kind": "matches_regex", "pattern": r"^(a|aa)+$"}, "aaaa")["status"] == "passed"


def test_inline_flags_keep_their_meaning_under_the_deadline() -> None:
    assert evaluate({"kind": "matches_regex", "pattern": r"(?i)^inv-\d+$"}, "INV-001")["status"] == "passed"
    assert evaluate({"kind": "matches_regex", "pattern": r"(?m)^b$"}, "a\nb")["status"] == "passed"
