"""What the model-backed conditions (``llm_judged_as``, ``llm_not_judged_as``, ``similarity_gte``
with ``method: embeddings``) need from the outside world. The engine takes it as an argument so the
evaluation stays pure; the worker passes its provider (see ``workers.blocks.providers.base``)."""

from __future__ import annotations

from typing import Any, Protocol


class Judge(Protocol):
    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        """``{"label": str, "holds": bool, "reasoning": str}``. May raise ``ProviderUnavailable``
        (``judge_unavailable``) when no judge model is configured."""
        ...

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order. May raise ``ProviderUnavailable``
        (``embeddings_unavailable``) when no embeddings model is configured."""
        ...
