"""The boundary between the run engine and the block executors.

Nothing in ``workers.blocks`` imports Celery or SQLAlchemy: the engine resolves a test's
frozen inputs into plain values, then asks an executor for one *sub-call* at a time
(``call``) and for the block's outputs built from the sub-calls' choices (``assemble``).
With ``n_consensus == 1`` the engine makes one call and assembles a list of one choice;
with n > 1 it makes n calls as separate Celery tasks and assembles the n choices, failed
ones given as ``None``. Keeping the two steps apart is what lets the sub-calls run in
parallel on the calls queue while the reconciliation stays a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Document:
    """A file handle input, resolved: the bytes live in PostgreSQL, the executor sees text."""

    id: str
    filename: str
    mime_type: str
    pages: list[str]  # text per page (PDF pages; form-feed separated pages of a text file)

    @property
    def text(self) -> str:
        return "\f".join(self.pages)

    def as_function_input(self) -> dict[str, Any]:
        return {"id": self.id, "filename": self.filename, "mime_type": self.mime_type, "text": self.text}

    def as_file_ref(self) -> dict[str, Any]:
        return {"type": "file", "document": {"id": self.id, "filename": self.filename, "mime_type": self.mime_type}}


@dataclass(frozen=True)
class BlockSpec:
    """One block as frozen in the run's workflow version."""

    id: str
    type: str
    label: str
    config: dict[str, Any]


@dataclass(frozen=True)
class CallContext:
    """Everything one sub-call needs. ``inputs`` maps input handle ids to resolved values:
    JSON handles to their ``data`` value, file handles to a :class:`Document`."""

    block: BlockSpec
    inputs: dict[str, Any]
    call_index: int  # 0 .. n-1
    n_consensus: int  # effective n for this test in this run
    seed: str  # stable per (run, test): lets the simulated provider's noise be deterministic


@dataclass
class BlockOutput:
    """What a block produced, ready to be stored on the result row."""

    outputs: dict[str, Any]  # {handle_id: raw JSON payload}
    routing_decision: list[str] | None = None
    warnings: list[str] = field(default_factory=list)
    consensus: dict[str, Any] | None = None  # {"choices": [...], "likelihoods": ...} when n > 1


class BlockError(Exception):
    """The block could not produce outputs (bad config, missing input, sandbox limit,
    provider failure after retries, too few successful consensus sub-calls).
    The test ends ``error`` with ``str(exc)`` as its message. Never raised for a wrong answer."""


class TransientBlockError(BlockError):
    """A failure worth retrying (provider 429/5xx/timeout after the provider's own retries)."""


class Executor(Protocol):
    block_type: str
    supports_consensus: bool

    def call(self, ctx: CallContext) -> Any:
        """One sub-call. Returns a JSON-serializable *choice* (e.g. the extracted object,
        ``{"category": ...}``, ``{"splits": [...]}``, a function's return value). Raises BlockError."""

    def assemble(self, ctx: CallContext, choices: list[Any | None], errors: list[str]) -> BlockOutput:
        """Build the block's outputs from the choices of every sub-call (``None`` where a sub-call
        failed; ``errors`` holds those failures' messages, which become warnings). With one choice it
        wraps it; with several it reconciles them into a consensus. Raises BlockError when a strict
        majority of the sub-calls did not succeed."""
