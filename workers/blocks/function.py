"""The ``function`` block: user Python ``main(inputs) -> JSON`` run in the sandbox (SPEC §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers.blocks.base import BlockError, BlockOutput, CallContext, Document
from workers.blocks.sandbox import SandboxLimits, run_main

if TYPE_CHECKING:
    from models.settings import Settings

OUTPUT_HANDLE = "output-json-0"


class FunctionExecutor:
    block_type = "function"
    supports_consensus = False

    def __init__(self, settings: Settings | None = None):
        # Settings are read lazily so importing the registry never needs a configured environment.
        self._settings = settings

    def call(self, ctx: CallContext) -> Any:
        code = ctx.block.config.get("code")
        if not isinstance(code, str) or not code.strip():
            raise BlockError("function block has no code (config.code must be Python source defining main(inputs))")
        return run_main(code, function_inputs(ctx.inputs), self.limits(ctx.block.config))

    def assemble(self, ctx: CallContext, choices: list[Any | None], errors: list[str]) -> BlockOutput:
        # A function block runs once (no consensus). A failed call arrives as None *with* an error;
        # None without one is a legitimate ``return None`` (JSON null).
        if not choices or (choices[0] is None and errors):
            raise BlockError(errors[0] if errors else "function call failed")
        return BlockOutput(outputs={OUTPUT_HANDLE: choices[0]}, warnings=list(errors))

    def limits(self, config: dict[str, Any]) -> SandboxLimits:
        """The block may ask for less wall time than the operator allows, never more."""
        settings = self._settings or _default_settings()
        cap = float(settings.wft_function_timeout_s)
        requested = config.get("timeout_s")
        if requested is None:
            wall = cap
        elif isinstance(requested, bool) or not isinstance(requested, (int, float)) or requested <= 0:
            raise BlockError(f"function config timeout_s must be a positive number of seconds, got {requested!r}")
        else:
            wall = min(float(requested), cap)
        return SandboxLimits(wall_time_s=wall, memory_mb=int(settings.wft_function_memory_mb))


def function_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """JSON handles pass their value through; file handles become ``{id, filename, mime_type, text}``."""
    return {handle: value.as_function_input() if isinstance(value, Document) else value
            for handle, value in inputs.items()}


def _default_settings() -> Settings:
    from models.settings import get_settings

    return get_settings()
