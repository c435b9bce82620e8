"""``wft worker`` presets: one pool per queue, each shaped for its work (SPEC §3 queues)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from workers.app import QUEUES


@dataclass(frozen=True)
class PoolPreset:
    queues: tuple[str, ...]
    pool: str
    concurrency: int
    prefetch: int
    why: str


def presets() -> dict[str, PoolPreset]:
    cpus = os.cpu_count() or 2
    return {
        # Fan-out publishes up to 10k messages and finalize/reap are short: a couple of processes.
        "control": PoolPreset(("wft.control",), "prefork", 2, 1, "fan-out, finalize, reaper"),
        # Test tasks do CPU work (documents, assertions, single calls, function sandboxes).
        "tests": PoolPreset(("wft.tests",), "prefork", cpus, 1, "test tasks and assertions"),
        # Provider calls are I/O bound: many threads in one process.
        "calls": PoolPreset(("wft.calls",), "threads", 16, 1, "model/provider calls (I/O bound)"),
    }


def worker_argv(*, pool_preset: str | None, queues: str | None, concurrency: int | None, loglevel: str,
                hostname: str | None, extra: list[str] | None) -> list[str]:
    preset = presets().get(pool_preset or "")
    pool = preset.pool if preset else (pool_preset or "prefork")
    queue_list = queues or (",".join(preset.queues) if preset else ",".join(QUEUES))
    conc = concurrency or (preset.concurrency if preset else (8 if pool == "threads" else (os.cpu_count() or 2)))
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", pool, "--concurrency", str(conc),
            "--queues", queue_list, "--loglevel", loglevel, "--prefetch-multiplier", str(preset.prefetch if preset else 1),
            "--without-gossip", "--without-mingle", "-E"]
    if hostname:
        argv += ["--hostname", hostname]
    elif preset:
        argv += ["--hostname", f"{pool_preset}@%h"]
    argv += [a for a in (extra or []) if a != "--"]
    return argv
