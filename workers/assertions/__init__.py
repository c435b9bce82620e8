"""The assertion engine (SPEC §5): value lookup, the 21 condition kinds, and the verdict summary.

Pure domain code: no database, no queue, no network. Model-backed conditions go through a ``Judge``
passed in by the caller.
"""

from workers.assertions.checks import CHECKS, check
from workers.assertions.evaluate import evaluate_assertion
from workers.assertions.judge import Judge
from workers.assertions.paths import lookup, split_path
from workers.assertions.values import is_subset, json_equal
from workers.assertions.verdict import Verdict, verdict_summary

__all__ = ["CHECKS", "Judge", "Verdict", "check", "evaluate_assertion", "is_subset", "json_equal", "lookup",
           "split_path", "verdict_summary"]
