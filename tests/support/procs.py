"""Subprocesses started by tests: the package's own process management, rooted at the repo."""

from __future__ import annotations

from pathlib import Path

from api_adapter.processes import VENV_BIN, ManagedProcess, child_pids, wait_for

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["VENV_BIN", "Proc", "child_pids", "wait_for"]


class Proc(ManagedProcess):
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, name: str):
        super().__init__(args, env, log_path, name, cwd=ROOT)
