"""The 21 condition kinds (SPEC §5), one small function each, on a *present* value.

``check`` is the entry point: it applies the missing-value rule (only ``not_exists`` passes without a
value) and dispatches to the kind's function. Conditions reaching here have passed
``models.conditions.validate_condition`` and been normalized, so parameters have the right types.
"""

from __future__ import annotations

import operator
import re
from types import MappingProxyType
from typing import Any, Callable, Mapping

import jsonschema
import referencing.exceptions
import regex
from jsonschema_specifications import REGISTRY as METASCHEMAS

from models.conditions import is_integer, is_number
from workers.assertions.judge import Judge
from workers.assertions.metrics import as_text, cosine_similarity, levenshtein_similarity, split_iou
from workers.assertions.values import is_subset, json_equal, show, type_name
from workers.assertions.verdict import BLOCKED, ERROR, PASSED, Verdict, blocked, errored, failed, passed
from workers.blocks.providers.base import ProviderUnavailable

Check = Callable[[dict[str, Any], Any, "Judge | None"], Verdict]

_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = MappingProxyType({
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
    "lte": operator.le, "eq": operator.eq, "neq": operator.ne,
})
_OP_SYMBOL: Mapping[str, str] = MappingProxyType({
    "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "=", "neq": "≠"})
REGEX_TIMEOUT_S = 2.0  # a matches_regex evaluation that takes longer is blocked, not waited for
_SCORE_DIGITS = 6  # scores are reported rounded; the pass/fail decision uses the same rounded number
_MAX_REPORTED_ERRORS = 10


def _type_error(kind: str, value: Any, wanted: str) -> Verdict:
    return blocked("type_error", f"{kind} needs {wanted}, got {type_name(value)} {show(value)}",
                   details={"actual_type": type_name(value)})


def _outcome(holds: bool, failure_code: str, failure_message: str, **metrics: Any) -> Verdict:
    if holds:
        return passed(**{k: v for k, v in metrics.items() if k != "details"})
    return failed(failure_code, failure_message, **metrics)


# -- presence ------------------------------------------------------------------------------------

def _exists(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    return _outcome(value is not None, "value_null", "expected a value but got null")


def _not_exists(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    return _outcome(value is None, "value_present", f"expected no value but got {show(value)}")


# -- equality and numbers ------------------------------------------------------------------------

def _equals(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    expected = cond.get("expected")
    return _outcome(json_equal(value, expected), "not_equal", f"expected {show(expected)} but got {show(value)}")


def _not_equals(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    expected = cond.get("expected")
    return _outcome(not json_equal(value, expected), "equal", f"expected anything but {show(expected)}")


def _number_compare(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    if not is_number(value):
        return _type_error("number_compare", value, "a number")
    op, expected = cond["op"], cond["expected"]
    return _outcome(_COMPARE[op](value, expected), "comparison_failed",
                    f"expected a number {_OP_SYMBOL[op]} {show(expected)} but got {show(value)}")


def _between(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    if not is_number(value):
        return _type_error("between", value, "a number")
    lower, upper = cond["lower"], cond["upper"]
    inclusive = cond.get("inclusive") is not False  # absent or null means the default, inclusive
    inside = lower <= value <= upper if inclusive else lower < value < upper
    interval = f"[{show(lower)}, {show(upper)}]" if inclusive else f"({show(lower)}, {show(upper)})"
    return _outcome(inside, "out_of_range", f"expected a number in {interval} but got {show(value)}")


def _length_compare(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    if not isinstance(value, (str, list, dict)):
        return _type_error("length_compare", value, "a string, an array or an object")
    op, expected = cond["op"], cond["expected"]
    return _outcome(_COMPARE[op](len(value), expected), "comparison_failed",
                    f"expected a length {_OP_SYMBOL[op]} {expected} but got {len(value)}",
                    details={"length": len(value)})


# -- strings and containment ---------------------------------------------------------------------

def _has(kind: str, value: Any, expected: Any) -> bool | Verdict:
    """Whether ``value`` contains ``expected`` (substring or list element), or why it cannot say."""
    if isinstance(value, str):
        if not isinstance(expected, str):
            return blocked("type_error", f"{kind} on a string needs a string to look for, got "
                                         f"{type_name(expected)} {show(expected)}")
        return expected in value
    if isinstance(value, list):
        return any(json_equal(item, expected) for item in value)
    return _type_error(kind, value, "a string or an array")


def _contains(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    has = _has("contains", value, cond.get("expected"))
    if isinstance(has, Verdict):
        return has
    return _outcome(has, "not_contained", f"expected {show(value)} to contain {show(cond.get('expected'))}")


def _not_contains(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    has = _has("not_contains", value, cond.get("expected"))
    if isinstance(has, Verdict):
        return has
    return _outcome(not has, "contained", f"expected {show(value)} not to contain {show(cond.get('expected'))}")


def _starts_with(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    if not isinstance(value, str):
        return _type_error("starts_with", value, "a string")
    return _outcome(value.startswith(cond["expected"]), "affix_mismatch",
                    f"expected {show(value)} to start with {show(cond['expected'])}")


def _ends_with(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    if not isinstance(value, str):
        return _type_error("ends_with", value, "a string")
    return _outcome(value.endswith(cond["expected"]), "affix_mismatch",
                    f"expected {show(value)} to end with {show(cond['expected'])}")


def _matches_regex(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    pattern = cond["pattern"]
    try:
        # Python's re decides what a valid pattern is (SPEC §5 says re.search). Compiled before the
        # type check: a broken pattern is the test's fault whatever the value.
        compiled = re.compile(pattern)
    except re.error as exc:
        return blocked("invalid_regex", f"invalid regex {show(pattern)}: {exc}")
    if not isinstance(value, str):
        return _type_error("matches_regex", value, "a string")
    try:
        matched = _search_within_deadline(compiled, value)
    except TimeoutError:
        return blocked("invalid_regex", f"the pattern {show(pattern)} did not finish within {REGEX_TIMEOUT_S:g} s on "
                       "this value (catastrophic backtracking): simplify it", details={"timeout_s": REGEX_TIMEOUT_S})
    return _outcome(matched, "no_match", f"{show(value)} does not match the pattern {show(pattern)}")


def _search_within_deadline(compiled: re.Pattern[str], value: str) -> bool:
    """``re.search`` semantics with a deadline. A pattern like ``^(a|aa)+$`` on a long near-miss
    backtracks for hours, and re cannot be interrupted (the task's soft time limit is a signal that
    is never handled while the C matcher runs), so it would hold a pool process until the hard limit
    kills it, on every redelivery. The ``regex`` module, in its re-compatible mode, takes a timeout."""
    try:
        # Conditions carry no flags parameter: any flags are inline in the pattern, read by both.
        guarded = regex.compile(compiled.pattern, flags=regex.VERSION0)
    except regex.error:
        return compiled.search(value) is not None  # a pattern only re accepts: no deadline
    return guarded.search(value, timeout=REGEX_TIMEOUT_S) is not None


def _subset_mismatches(expected: Any, actual: Any, at: str = "") -> list[str]:
    """Dotted paths of ``expected`` that ``actual`` lacks or holds differently (for the message)."""
    if not isinstance(expected, dict) or not isinstance(actual, dict):
        return [] if json_equal(expected, actual) else [at or "(root)"]
    out: list[str] = []
    for key, sub in expected.items():
        where = f"{at}.{key}" if at else str(key)
        out += [where] if key not in actual else _subset_mismatches(sub, actual[key], where)
    return out


def _object_contains(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    if not isinstance(value, dict):
        return _type_error("object_contains", value, "an object")
    mismatches = _subset_mismatches(cond["expected"], value)
    return _outcome(not mismatches, "not_contained",
                    f"expected the object to contain {show(cond['expected'])}; "
                    f"missing or different: {', '.join(mismatches)}", details={"mismatched_paths": mismatches})


def _array_contains(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    if not isinstance(value, list):
        return _type_error("array_contains", value, "an array")
    expected = cond.get("expected")
    hit = any(json_equal(item, expected) or (isinstance(expected, dict) and is_subset(expected, item))
              for item in value)
    return _outcome(hit, "not_contained", f"no element of the {len(value)}-element array matches {show(expected)}")


# -- JSON Schema ---------------------------------------------------------------------------------

def _json_schema_valid(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    schema = cond.get("schema")
    if schema is None:
        return blocked("schema_invalid", "json_schema_valid has no schema to validate against")
    # 2020-12 unless the schema declares another dialect with $schema (then the author meant that one).
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator_cls.check_schema(schema)
        # The metaschemas only, no retrieval: a remote $ref must not make evaluation touch the network.
        validator = validator_cls(schema, registry=METASCHEMAS)
        errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    except jsonschema.SchemaError as exc:
        return blocked("schema_invalid", f"invalid JSON Schema: {exc.message}")
    except referencing.exceptions.Unresolvable as exc:
        return blocked("schema_invalid", f"invalid JSON Schema: cannot resolve $ref {getattr(exc, 'ref', exc)!r} (only local references are followed)")
    if not errors:
        return passed()
    reported = [{"path": ".".join(str(p) for p in e.absolute_path) or "(root)", "message": e.message}
                for e in errors[:_MAX_REPORTED_ERRORS]]
    first = reported[0]
    return failed("schema_mismatch", f"the value does not match the schema at {first['path']}: {first['message']}",
                  details={"error_count": len(errors), "errors": reported})


# -- model-backed conditions ---------------------------------------------------------------------

def _ask_model(call: Callable[[], Any], what: str, **metrics: Any) -> tuple[Any, Verdict | None]:
    """Run a judge/embeddings call: its answer, or the verdict it forces. ``ProviderUnavailable`` is a
    missing capability (blocked, with the provider's code); any other exception is the call breaking
    (error) — never a made-up verdict."""
    try:
        return call(), None
    except ProviderUnavailable as exc:
        return None, blocked(exc.code, str(exc), **metrics)
    except Exception as exc:  # noqa: BLE001 - whatever the provider raised, the call did not answer
        return None, errored("judge_error", f"the {what} call failed: {type(exc).__name__}: {exc}", **metrics)


def _similarity_gte(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    threshold, method = cond["threshold"], cond.get("method") or "levenshtein"
    metrics: dict[str, Any] = {"threshold": threshold, "metric_kind": method}
    if method == "levenshtein":
        raw = levenshtein_similarity(value, cond["reference"])
    else:
        if judge is None:
            return blocked("embeddings_unavailable", "no embeddings model is configured", **metrics)
        vectors, stop = _ask_model(lambda: judge.embed([as_text(value), as_text(cond["reference"])]),
                                   "embeddings", **metrics)
        if stop:
            return stop
        try:
            (u, v) = vectors
            raw = cosine_similarity([float(x) for x in u], [float(x) for x in v])
        except (TypeError, ValueError) as exc:
            return errored("judge_error", f"the embeddings answer is unusable: {exc}", **metrics)
    score = round(raw, _SCORE_DIGITS)
    return _outcome(score >= threshold, "below_threshold",
                    f"similarity {score:g} is below the threshold {threshold:g} ({method})", score=score, **metrics)


def _judgement(cond: dict[str, Any], value: Any, judge: Judge | None) -> tuple[bool | None, Verdict | None, dict[str, Any]]:
    """Whether the judge labels ``value`` with ``expected_label`` (or, without a label, says the rubric
    holds); or the verdict that stops the evaluation."""
    metrics = {"metric_kind": "llm_judge"}
    if judge is None:
        return None, blocked("judge_unavailable", "no judge model is configured", **metrics), {}
    expected_label = cond.get("expected_label")
    answer, stop = _ask_model(lambda: judge.judge(value, cond["rubric"], expected_label), "judge", **metrics)
    if stop:
        return None, stop, {}
    if not isinstance(answer, dict) or not isinstance(answer.get("label"), str) or not isinstance(answer.get("holds"), bool):
        return None, errored("judge_error", "the judge's answer lacks a string 'label' or a boolean 'holds'", **metrics), {}
    details = {"label": answer["label"], "holds": answer["holds"], "reasoning": str(answer.get("reasoning") or "")}
    if expected_label:
        # Labels are words a model wrote: compare them the way a reader would (case and spaces aside).
        return answer["label"].strip().casefold() == expected_label.strip().casefold(), None, details
    return answer["holds"], None, details


def _judged_message(cond: dict[str, Any], details: dict[str, Any], negated: bool) -> str:
    label, reasoning = details["label"], details["reasoning"]
    if cond.get("expected_label"):
        wanted = f"{'not ' if negated else ''}{show(cond['expected_label'])}"
        return f"the judge labelled the value {show(label)}, expected {wanted}: {reasoning}".rstrip(": ")
    verdict = "holds" if details["holds"] else "does not hold"
    return f"the judge says the rubric {verdict} ({show(label)}): {reasoning}".rstrip(": ")


def _llm_judged_as(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    judged, stop, details = _judgement(cond, value, judge)
    if stop:
        return stop
    return _outcome(bool(judged), "judged_otherwise", _judged_message(cond, details, negated=False),
                    metric_kind="llm_judge", details=details)


def _llm_not_judged_as(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    judged, stop, details = _judgement(cond, value, judge)
    if stop:
        return stop
    return _outcome(not judged, "judged_otherwise", _judged_message(cond, details, negated=True),
                    metric_kind="llm_judge", details=details)


# -- lists ---------------------------------------------------------------------------------------

def _item_verdicts(kind: str, cond: dict[str, Any], value: Any, judge: Judge | None) -> list[Verdict] | Verdict:
    """The nested condition on every element (evaluated at the element itself: nested conditions
    have no path), or the verdict for the whole list when one element cannot be judged."""
    if not isinstance(value, list):
        return _type_error(kind, value, "an array")
    verdicts = [check(cond["condition"], True, item, judge) for item in value]
    for status in (BLOCKED, ERROR):  # blocked first: a broken nested condition is the test's fault
        index = next((i for i, v in enumerate(verdicts) if v.status == status), None)
        if index is not None:
            first = verdicts[index]
            return Verdict(status, first.code, f"item {index} could not be evaluated: {first.message}",
                           details={"item": index, **first.details})
    return verdicts


def _all_items_match(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    verdicts = _item_verdicts("all_items_match", cond, value, judge)
    if isinstance(verdicts, Verdict):
        return verdicts
    failing = [i for i, v in enumerate(verdicts) if v.status != PASSED]
    message = f"{len(failing)} of {len(verdicts)} items fail; item {failing[0]}: {verdicts[failing[0]].message}" if failing else ""
    return _outcome(not failing, "item_failed", message, details={"failed_items": failing})


def _any_item_matches(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    verdicts = _item_verdicts("any_item_matches", cond, value, judge)
    if isinstance(verdicts, Verdict):
        return verdicts
    matching = [i for i, v in enumerate(verdicts) if v.status == PASSED]
    if not verdicts:
        message = "the array is empty, so no item matches"
    else:
        message = f"none of the {len(verdicts)} items matches; item 0: {verdicts[0].message}"
    return _outcome(bool(matching), "no_item_matched", message, details={"matching_items": matching})


# -- splits --------------------------------------------------------------------------------------

def _is_split_manifest(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("splits"), list) and all(
        isinstance(s, dict) and isinstance(s.get("name"), str)
        and isinstance(s.get("pages", []), list) and all(is_integer(p) for p in s.get("pages", []))
        for s in value["splits"])


def _split_iou_gte(cond: dict[str, Any], value: Any, judge: Judge | None) -> Verdict:
    if not _is_split_manifest(value):
        return _type_error("split_iou_gte", value, 'a split manifest {"splits": [{"name": str, "pages": [int]}]}')
    threshold = cond.get("threshold")
    threshold = 1 if threshold is None else threshold
    raw, per_split = split_iou(value, cond["expected"])
    score = round(raw, _SCORE_DIGITS)
    worst = min(per_split, key=per_split.__getitem__) if per_split else None
    message = f"mean split IoU {score:g} is below the threshold {threshold:g}"
    if worst is not None:
        message += f" (lowest: {worst!r} at {per_split[worst]:.3g})"
    return _outcome(score >= threshold, "below_threshold", message,
                    score=score, threshold=threshold, metric_kind="iou", details={"per_split": per_split})


CHECKS: Mapping[str, Check] = MappingProxyType({
    "exists": _exists, "not_exists": _not_exists,
    "equals": _equals, "not_equals": _not_equals,
    "number_compare": _number_compare, "between": _between, "length_compare": _length_compare,
    "contains": _contains, "not_contains": _not_contains,
    "starts_with": _starts_with, "ends_with": _ends_with, "matches_regex": _matches_regex,
    "object_contains": _object_contains, "array_contains": _array_contains,
    "json_schema_valid": _json_schema_valid, "similarity_gte": _similarity_gte,
    "llm_judged_as": _llm_judged_as, "llm_not_judged_as": _llm_not_judged_as,
    "all_items_match": _all_items_match, "any_item_matches": _any_item_matches,
    "split_iou_gte": _split_iou_gte,
})


def check(cond: dict[str, Any], found: bool, value: Any, judge: Judge | None = None) -> Verdict:
    """One normalized, shape-valid condition on one (possibly missing) value."""
    kind = cond["kind"]
    if not found:
        # A block that stopped producing a field is a regression (failed), not a broken test —
        # except for not_exists, whose whole point is the absence.
        if kind == "not_exists":
            return passed()
        return failed("value_missing", "no value at the target path")
    return CHECKS[kind](cond, value, judge)
