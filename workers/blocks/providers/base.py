"""What a block call talks to. The simulated provider is offline and deterministic; the
openai provider talks to any OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

from typing import Any, Protocol

from workers.blocks.base import Document


class ProviderUnavailable(Exception):
    """The provider does not offer this capability (e.g. no judge or embeddings model).
    Assertions turn it into ``blocked`` (``judge_unavailable`` / ``embeddings_unavailable``)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class ProviderError(Exception):
    """A call failed after the provider's own retries (the engine treats it as a failed sub-call)."""


class Provider(Protocol):
    name: str

    def extract(self, document: Document, json_schema: dict[str, Any], instructions: str | None,
                *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]: ...

    def classify(self, document: Document, categories: list[dict[str, Any]],
                 *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]:
        """Returns ``{"category": <name>, "reasoning": str}``."""

    def split(self, document: Document, subdocuments: list[dict[str, Any]],
              *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]:
        """Returns ``{"splits": [{"name": str, "pages": [1-based ints]}]}``."""

    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        """Returns ``{"label": str, "holds": bool, "reasoning": str}``; raises ProviderUnavailable."""

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Raises ProviderUnavailable when no embeddings model is configured."""
