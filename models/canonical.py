"""Canonical JSON and the stable hashes built on it (version ids, result fingerprints)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(value: Any, length: int = 32) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]
