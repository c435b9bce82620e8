"""The assertion engine: value lookup and the 21 condition kinds (SPEC §5)."""

from workers.assertions.evaluate import Judge, check, evaluate_assertion, json_equal, verdict_summary
from workers.assertions.paths import lookup, split_path

__all__ = ["Judge", "check", "evaluate_assertion", "json_equal", "lookup", "split_path", "verdict_summary"]
