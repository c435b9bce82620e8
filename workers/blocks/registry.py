"""Block type → executor: the explicit list of what a test can target."""

from __future__ import annotations

from collections.abc import Callable

from workers.blocks.base import BlockError, Executor
from workers.blocks.classifier import ClassifierExecutor
from workers.blocks.extract import ExtractExecutor
from workers.blocks.split import SplitExecutor


def _function_executor() -> Executor:
    # Imported on demand: the function block's sandbox machinery is not needed by the others.
    from workers.blocks.function import FunctionExecutor

    return FunctionExecutor()


EXECUTOR_FACTORIES: dict[str, Callable[[], Executor]] = {
    "extract": ExtractExecutor,
    "classifier": ClassifierExecutor,
    "split": SplitExecutor,
    "function": _function_executor,
}


def get_executor(block_type: str) -> Executor:
    """A fresh executor for ``block_type``; BlockError for a type tests cannot target."""
    factory = EXECUTOR_FACTORIES.get(block_type)
    if factory is None:
        raise BlockError(f"block type {block_type!r} is not testable: expected one of {', '.join(EXECUTOR_FACTORIES)}")
    return factory()
