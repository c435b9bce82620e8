"""The scores behind the scored conditions: edit-distance similarity, cosine similarity, split IoU."""

from __future__ import annotations

import math
from typing import Any

from rapidfuzz.distance import Levenshtein

from workers.assertions.values import canonical


def as_text(value: Any) -> str:
    """Strings compare as themselves; any other value as its canonical JSON."""
    return value if isinstance(value, str) else canonical(value)


def levenshtein_similarity(value: Any, reference: Any) -> float:
    """``1 − distance / max length``; two empty texts are identical (1.0)."""
    a, b = as_text(value), as_text(reference)
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - Levenshtein.distance(a, b) / longest


def cosine_similarity(u: list[float], v: list[float]) -> float:
    if len(u) != len(v):
        raise ValueError(f"embeddings of different sizes ({len(u)} and {len(v)})")
    norm = math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in v))
    return 0.0 if norm == 0 else sum(x * y for x, y in zip(u, v)) / norm


def pages_by_split(manifest: dict[str, Any]) -> dict[str, set[int]]:
    """``{"splits": [{"name", "pages"}]}`` → name → page set (a repeated name pools its pages)."""
    pages: dict[str, set[int]] = {}
    for split in manifest["splits"]:
        pages.setdefault(split["name"], set()).update(split.get("pages") or [])
    return pages


def split_iou(produced: dict[str, Any], expected: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Mean over the union of split names of IoU(pages produced, pages expected), and the per-name IoU.
    A name on one side only scores 0; a name with no pages on either side scores 1; no names at all
    on either side is a perfect match (1.0)."""
    got, want = pages_by_split(produced), pages_by_split(expected)
    per_name: dict[str, float] = {}
    for name in sorted(set(got) | set(want)):
        a, b = got.get(name, set()), want.get(name, set())
        union = a | b
        per_name[name] = 1.0 if not union else len(a & b) / len(union)
    score = 1.0 if not per_name else sum(per_name.values()) / len(per_name)
    return score, per_name
