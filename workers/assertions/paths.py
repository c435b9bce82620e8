"""Value lookup (SPEC §5): where an assertion's ``target.path`` points inside a handle's payload.

``vendor.name`` walks objects; a numeric segment indexes a list (``items.0.amount``), and
``items[0].amount`` means the same. The empty path is the whole payload. A missing key, an index out
of range, or a step into a scalar gives *no value* — which is different from a present ``null``.
"""

from __future__ import annotations

import re
from typing import Any

_BRACKET_INDEX = re.compile(r"\[(\d+)\]")


def split_path(path: str | None) -> list[str]:
    """``"items[0].amount"`` → ``["items", "0", "amount"]``; empty segments (``a..b``) are skipped."""
    if not path:
        return []
    return [segment for segment in _BRACKET_INDEX.sub(r".\1", path).split(".") if segment != ""]


def _step(current: Any, segment: str) -> tuple[bool, Any]:
    if isinstance(current, dict):
        # Objects are checked first so a key literally named "0" stays reachable.
        return (True, current[segment]) if segment in current else (False, None)
    if isinstance(current, list) and segment.isascii() and segment.isdigit():
        # Only non-negative decimal indices: "-1" is not a numeric segment, so it is not found.
        index = int(segment)
        return (True, current[index]) if index < len(current) else (False, None)
    return False, None


def lookup(payload: Any, path: str | None) -> tuple[bool, Any]:
    """``(found, value)`` of ``path`` inside ``payload``; ``(False, None)`` when it does not resolve."""
    current = payload
    for segment in split_path(path):
        found, current = _step(current, segment)
        if not found:
            return False, None
    return True, current
