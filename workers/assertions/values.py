"""JSON value semantics shared by the conditions: type names, equality, subsets, display.

Values come from ``json.loads`` so they are dict / list / str / int / float / bool / None. Python
conflates some of these (``True == 1``), JSON does not; these helpers keep the JSON meaning.
"""

from __future__ import annotations

import json
from typing import Any

from models.conditions import is_number

_MAX_SHOWN = 200  # failure messages quote values; a whole document would drown the message


def type_name(value: Any) -> str:
    """The JSON type of ``value``, as users know it from JSON Schema."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def canonical(value: Any) -> str:
    """Canonical JSON text (sorted keys, no spaces). Non-ASCII stays as is, so that edit distances
    over it count characters, not ``\\uXXXX`` escapes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def show(value: Any) -> str:
    """A short human rendering for messages: ``'Acme'`` for strings, canonical JSON otherwise."""
    text = repr(value) if isinstance(value, str) else canonical(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def json_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality: ``1 == 1.0``, but ``true != 1`` and no string↔number coercion."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def is_subset(expected: Any, actual: Any) -> bool:
    """``expected`` is a recursive subset of ``actual``: objects match by a subset of their keys at
    every depth; anything else (arrays included) must be JSON-equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(sub, actual[key]) for key, sub in expected.items())
    return json_equal(expected, actual)
