"""Run progress for terminals (one redrawn line) and for logs/CI (a plain line per change)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

BUCKETS = ("queued", "running", "passed", "failed", "blocked", "error", "cancelled")
_SYMBOL = {"passed": "=", "failed": "x", "blocked": "~", "error": "!", "cancelled": "-", "running": ">", "queued": "."}


def render_bar(counts: dict[str, int], total: int, width: int = 40) -> str:
    """A bar whose cells are filled in bucket order, so the colours of a run read left to right."""
    if total <= 0:
        return "[" + " " * width + "]"
    cells: list[str] = []
    for bucket in ("passed", "failed", "blocked", "error", "cancelled", "running", "queued"):
        cells += [_SYMBOL[bucket]] * round(width * counts.get(bucket, 0) / total)
    cells = (cells + ["."] * width)[:width]
    return "[" + "".join(cells) + "]"


def summary(counts: dict[str, int]) -> str:
    return " ".join(f"{b}={counts.get(b, 0)}" for b in BUCKETS)


class Progress:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._last = ""

    def update(self, run: dict[str, Any]) -> None:
        counts, total = run.get("counts") or {}, run.get("total_tests") or 0
        status = (run.get("lifecycle") or {}).get("status", "?")
        done = total - counts.get("queued", 0) - counts.get("running", 0)
        line = f"{render_bar(counts, total)} {done}/{total} {status:9} {summary(counts)}"
        if line == self._last:
            return
        self._last = line
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()
