"""Evaluating one assertion on a block's outputs (SPEC §5). Pure: the judge is passed in.

Outcomes: ``passed`` / ``failed`` (the condition evaluated to true / false), ``blocked`` (it could
not be evaluated: a type the condition cannot take, an invalid regex or schema, no judge), and
``error`` (the judge itself failed). A missing value is ``failed`` (``value_missing``), except for
``not_exists``, which passes: a block that stopped producing a field is a regression.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import jsonschema
from rapidfuzz.distance import Levenshtein

from models.conditions import is_number, normalize_condition
from workers.assertions.paths import lookup
from workers.blocks.providers.base import ProviderUnavailable


class Judge(Protocol):
    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]: ...

    def embed(self, texts: list[str]) -> list[list[float]]: ...


@dataclass
class Verdict:
    status: str  # passed | failed | blocked | error
    code: str | None = None
    message: str | None = None
    score: float | None = None
    threshold: float | None = None
    metric_kind: str | None = None
    details: dict[str, Any] | None = None


def _pass(**kw: Any) -> Verdict:
    return Verdict("passed", **kw)


def _fail(code: str, message: str, **kw: Any) -> Verdict:
    return Verdict("failed", code, message, **kw)


def _blocked(code: str, message: str, **kw: Any) -> Verdict:
    return Verdict("blocked", code, message, **kw)


def _type_error(kind: str, value: Any, wanted: str) -> Verdict:
    return _blocked("type_error", f"{kind} needs {wanted}, got {type_name(value)}")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality: 1 == 1.0, but True != 1 and no string↔number coercion."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def is_subset(expected: Any, actual: Any) -> bool:
    """``expected`` is a recursive subset of ``actual`` (objects by key; anything else by equality)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and is_subset(v, actual[k]) for k, v in expected.items())
    return json_equal(expected, actual)


_OPS: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b,
}
_OP_TEXT = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "=", "neq": "≠"}


def _compare(kind: str, left: float, op: str, right: float, what: str) -> Verdict:
    if _OPS[op](left, right):
        return _pass()
    return _fail("comparison_failed", f"expected {what} {_OP_TEXT[op]} {right}, got {left}")


def _levenshtein(value: Any, reference: Any) -> float:
    a = value if isinstance(value, str) else canonical(value)
    b = reference if isinstance(reference, str) else canonical(reference)
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - Levenshtein.distance(a, b) / longest


def _cosine(u: list[float], v: list[float]) -> float:
    dot = sum(x * y for x, y in zip(u, v))
    norm = math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in v))
    return 0.0 if norm == 0 else dot / norm


def _iou(produced: Any, expected: dict[str, Any]) -> float:
    def pages_by_name(manifest: Any) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for split in manifest.get("splits", []):
            out.setdefault(split["name"], set()).update(split.get("pages") or [])
        return out

    got, want = pages_by_name(produced), pages_by_name(expected)
    names = set(got) | set(want)
    if not names:
        return 1.0
    scores = []
    for name in names:
        a, b = got.get(name, set()), want.get(name, set())
        union = a | b
        scores.append(1.0 if not union else len(a & b) / len(union))
    return sum(scores) / len(scores)


def check(cond: dict[str, Any], found: bool, value: Any, judge: Judge | None) -> Verdict:
    """One condition on one (possibly missing) value."""
    kind = cond["kind"]
    if kind == "not_exists":
        return _pass() if not found or value is None else _fail("value_present", f"expected no value, got {canonical(value)}")
    if not found:
        return _fail("value_missing", "no value at the target path")
    if kind == "exists":
        return _pass() if value is not None else _fail("value_null", "the value is null")

    if kind in ("equals", "not_equals"):
        same = json_equal(value, cond.get("expected"))
        if same == (kind == "equals"):
            return _pass()
        return _fail("not_equal" if kind == "equals" else "equal",
                     f"expected {'' if kind == 'equals' else 'anything but '}{canonical(cond.get('expected'))}, got {canonical(value)}")

    if kind == "number_compare":
        if not is_number(value):
            return _type_error(kind, value, "a number")
        return _compare(kind, value, cond["op"], cond["expected"], "value")

    if kind == "between":
        if not is_number(value):
            return _type_error(kind, value, "a number")
        lower, upper, inclusive = cond["lower"], cond["upper"], cond.get("inclusive", True) is not False
        inside = lower <= value <= upper if inclusive else lower < value < upper
        bounds = f"[{lower}, {upper}]" if inclusive else f"({lower}, {upper})"
        return _pass() if inside else _fail("out_of_range", f"expected a value in {bounds}, got {value}")

    if kind in ("contains", "not_contains"):
        expected = cond.get("expected")
        if isinstance(value, str):
            if not isinstance(expected, str):
                return _type_error(kind, expected, "a string to look for in a string")
            has = expected in value
        elif isinstance(value, list):
            has = any(json_equal(item, expected) for item in value)
        else:
            return _type_error(kind, value, "a string or an array")
        if has == (kind == "contains"):
            return _pass()
        return _fail("not_contained" if kind == "contains" else "contained",
                     f"expected {canonical(value)} {'to' if kind == 'contains' else 'not to'} contain {canonical(expected)}")

    if kind in ("starts_with", "ends_with"):
        if not isinstance(value, str):
            return _type_error(kind, value, "a string")
        ok = value.startswith(cond["expected"]) if kind == "starts_with" else value.endswith(cond["expected"])
        return _pass() if ok else _fail("affix_mismatch", f"expected {value!r} to {kind.replace('_', ' ')} {cond['expected']!r}")

    if kind == "matches_regex":
        if not isinstance(value, str):
            return _type_error(kind, value, "a string")
        try:
            pattern = re.compile(cond["pattern"])
        except re.error as exc:
            return _blocked("invalid_regex", f"invalid regex {cond['pattern']!r}: {exc}")
        return _pass() if pattern.search(value) else _fail("no_match", f"{value!r} does not match {cond['pattern']!r}")

    if kind == "length_compare":
        if not isinstance(value, (str, list, dict)):
            return _type_error(kind, value, "a string, an array or an object")
        return _compare(kind, len(value), cond["op"], cond["expected"], "length")

    if kind == "object_contains":
        if not isinstance(value, dict):
            return _type_error(kind, value, "an object")
        return _pass() if is_subset(cond["expected"], value) else _fail(
            "not_contained", f"{canonical(value)} does not contain {canonical(cond['expected'])}")

    if kind == "array_contains":
        if not isinstance(value, list):
            return _type_error(kind, value, "an array")
        expected = cond.get("expected")
        hit = any(json_equal(item, expected) or (isinstance(expected, dict) and is_subset(expected, item)) for item in value)
        return _pass() if hit else _fail("not_contained", f"no element of the array matches {canonical(expected)}")

    if kind == "json_schema_valid":
        schema = cond["schema"]
        try:
            validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            validator_cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            return _blocked("schema_invalid", f"invalid JSON Schema: {exc.message}")
        errors = sorted(validator_cls(schema).iter_errors(value), key=lambda e: list(e.path))
        if not errors:
            return _pass()
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(root)"
        return _fail("schema_mismatch", f"{where}: {first.message}", details={"errors": len(errors)})

    if kind == "similarity_gte":
        threshold, method = cond["threshold"], cond.get("method") or "levenshtein"
        if method == "levenshtein":
            score = _levenshtein(value, cond["reference"])
        else:
            if judge is None:
                return _blocked("embeddings_unavailable", "no embeddings model is configured", threshold=threshold, metric_kind=method)
            try:
                texts = [v if isinstance(v, str) else canonical(v) for v in (value, cond["reference"])]
                u, v = judge.embed(texts)
            except ProviderUnavailable as exc:
                return _blocked(exc.code, str(exc), threshold=threshold, metric_kind=method)
            except Exception as exc:  # noqa: BLE001 - the embeddings call itself failed: error, not a verdict
                return Verdict("error", "judge_error", f"{type(exc).__name__}: {exc}", threshold=threshold,
                               metric_kind=method)
            score = _cosine(u, v)
        kw = dict(score=round(score, 6), threshold=threshold, metric_kind=method)
        return _pass(**kw) if score >= threshold else _fail("below_threshold", f"similarity {score:.3f} < {threshold}", **kw)

    if kind in ("llm_judged_as", "llm_not_judged_as"):
        if judge is None:
            return _blocked("judge_unavailable", "no judge model is configured", metric_kind="llm_judge")
        try:
            answer = judge.judge(value, cond["rubric"], cond.get("expected_label"))
        except ProviderUnavailable as exc:
            return _blocked(exc.code, str(exc), metric_kind="llm_judge")
        expected_label = cond.get("expected_label")
        judged = (str(answer.get("label")).strip().lower() == expected_label.strip().lower()) if expected_label else bool(answer.get("holds"))
        details = {"label": answer.get("label"), "reasoning": answer.get("reasoning")}
        if judged == (kind == "llm_judged_as"):
            return _pass(metric_kind="llm_judge", details=details)
        return _fail("judged_otherwise", f"the judge said {answer.get('label')!r}: {answer.get('reasoning', '')}",
                     metric_kind="llm_judge", details=details)

    if kind in ("all_items_match", "any_item_matches"):
        if not isinstance(value, list):
            return _type_error(kind, value, "an array")
        nested = cond["condition"]
        verdicts = [check(nested, True, item, judge) for item in value]
        if any(v.status == "blocked" for v in verdicts):
            first = next(v for v in verdicts if v.status == "blocked")
            return _blocked(first.code or "type_error", f"an item could not be evaluated: {first.message}")
        if any(v.status == "error" for v in verdicts):
            return next(v for v in verdicts if v.status == "error")
        passed = [v.status == "passed" for v in verdicts]
        if kind == "all_items_match":
            if all(passed):
                return _pass()
            i = passed.index(False)
            return _fail("item_failed", f"item {i} fails: {verdicts[i].message}", details={"failed_items": passed.count(False)})
        return _pass() if any(passed) else _fail("no_item_matched", f"none of the {len(value)} items matches")

    if kind == "split_iou_gte":
        if not isinstance(value, dict) or not isinstance(value.get("splits"), list) or not all(
                isinstance(s, dict) and "name" in s for s in value["splits"]):
            return _type_error(kind, value, 'a split manifest {"splits": [...]}')
        threshold = cond.get("threshold", 1)
        threshold = 1 if threshold is None else threshold
        score = _iou(value, cond["expected"])
        kw = dict(score=round(score, 6), threshold=threshold, metric_kind="iou")
        return _pass(**kw) if score >= threshold else _fail("below_threshold", f"mean IoU {score:.3f} < {threshold}", **kw)

    return _blocked("unknown_condition", f"unknown condition kind {kind!r}")


def _expected_of(cond: dict[str, Any]) -> Any:
    for key in ("expected", "pattern", "schema", "reference", "expected_label"):
        if key in cond:
            return cond[key]
    if cond["kind"] == "between":
        return {"lower": cond.get("lower"), "upper": cond.get("upper"), "inclusive": cond.get("inclusive", True)}
    if "condition" in cond:
        return cond["condition"]
    return None


def evaluate_assertion(assertion: dict[str, Any], outputs: dict[str, Any], judge: Judge | None = None) -> dict[str, Any]:
    """The ``assertion_result`` of one test (the shape the SDK parses)."""
    target = assertion.get("target") or {}
    cond = normalize_condition(assertion.get("condition") or {})
    handle = target.get("output_handle_id")
    found, value = (False, None)
    if handle in (outputs or {}):
        found, value = lookup(outputs[handle], target.get("path") or "")
    try:
        verdict = check(cond, found, value, judge)
    except ProviderUnavailable as exc:
        verdict = _blocked(exc.code, str(exc))
    except Exception as exc:  # noqa: BLE001 - the judge's own infrastructure failed: an error, not a verdict
        verdict = Verdict("error", "judge_error", f"{type(exc).__name__}: {exc}")
    failure = None
    if verdict.status != "passed":
        failure = {"code": verdict.code or verdict.status, "message": verdict.message or verdict.status,
                   "details": verdict.details or {}}
    return {
        "assertion_id": assertion.get("id") or "",
        "condition_kind": cond.get("kind", ""),
        "status": verdict.status,
        "actual_value": value if found else None,
        "expected_value": _expected_of(cond) if cond.get("kind") else None,
        "score": verdict.score,
        "threshold": verdict.threshold,
        "metric_kind": verdict.metric_kind,
        "assertion_label": assertion.get("label"),
        "failure": failure,
    }


def verdict_summary(assertion_result: dict[str, Any]) -> dict[str, Any]:
    status = assertion_result["status"]
    return {
        "result": status == "passed",
        "assertions_passed": int(status == "passed"),
        "assertions_failed": int(status in ("failed", "error")),
        "blocked_assertions": int(status == "blocked"),
        "failed_assertion_ids": [assertion_result["assertion_id"]] if status in ("failed", "error") else [],
    }
