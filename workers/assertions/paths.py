"""Value lookup (SPEC §5): dotted paths, numeric segments index lists, ``items[0].x`` ≡ ``items.0.x``."""

from __future__ import annotations

import re
from typing import Any

_BRACKET = re.compile(r"\[(\d+)\]")


def split_path(path: str | None) -> list[str]:
    if not path:
        return []
    return [part for part in _BRACKET.sub(r".\1", path).split(".") if part != ""]


def lookup(payload: Any, path: str | None) -> tuple[bool, Any]:
    """``(found, value)``; a missing key or index (or a step into a scalar) is *not found*."""
    current = payload
    for part in split_path(path):
        if isinstance(current, dict):
            if part not in current:
                return False, None
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return False, None
            current = current[index]
        else:
            return False, None
    return True, current
