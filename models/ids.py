"""Public identifiers: a Retab-style prefix plus a random, URL-safe, time-sortable body.

The body starts with a millisecond timestamp so ids sort by creation time; list cursors are
resource ids, and ordering by id therefore matches ordering by ``created_at``.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    stamp = _base62(time.time_ns() // 1_000_000, 8)
    return f"{prefix}_{stamp}{_base62(secrets.randbits(96), 14)}"


WORKFLOW = "wf"
TEST = "wfnodetest"
RUN = "wftestrun"
RESULT = "wfnodetestrun"
ASSERTION = "assert"
FILE = "file"
ORG = "org"
API_KEY = "key"
