"""The outcome of one condition, and the ``verdict_summary`` built from an ``assertion_result``.

``passed`` / ``failed``: the condition evaluated to true / false. ``blocked``: the test itself
cannot be judged (a value type the condition cannot take, an invalid regex or schema, no model
configured). ``error``: the evaluation infrastructure failed (the judge call itself broke).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASSED, FAILED, BLOCKED, ERROR = "passed", "failed", "blocked", "error"


@dataclass(frozen=True)
class Verdict:
    status: str
    code: str | None = None
    message: str | None = None
    score: float | None = None
    threshold: float | None = None
    metric_kind: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def failure(self) -> dict[str, Any] | None:
        """The wire ``failure`` object; ``None`` exactly when the condition passed."""
        if self.status == PASSED:
            return None
        return {"code": self.code or self.status, "message": self.message or self.status,
                "details": dict(self.details)}


def passed(**metrics: Any) -> Verdict:
    return Verdict(PASSED, **metrics)


def failed(code: str, message: str, **metrics: Any) -> Verdict:
    return Verdict(FAILED, code, message, **metrics)


def blocked(code: str, message: str, **metrics: Any) -> Verdict:
    return Verdict(BLOCKED, code, message, **metrics)


def errored(code: str, message: str, **metrics: Any) -> Verdict:
    return Verdict(ERROR, code, message, **metrics)


def verdict_summary(assertion_result: dict[str, Any]) -> dict[str, Any]:
    """Retab's per-test summary (one assertion per test, so 0/1 counters). An ``error`` counts as
    failed: the test did not pass and was not blocked by its own definition."""
    status = assertion_result["status"]
    not_passing = status in (FAILED, ERROR)
    return {
        "result": status == PASSED,
        "assertions_passed": int(status == PASSED),
        "assertions_failed": int(not_passing),
        "blocked_assertions": int(status == BLOCKED),
        "failed_assertion_ids": [assertion_result["assertion_id"]] if not_passing else [],
    }
