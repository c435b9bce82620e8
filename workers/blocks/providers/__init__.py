"""Pick the provider a block call talks to, by name."""

from __future__ import annotations

from typing import Any

from workers.blocks.base import BlockError
from workers.blocks.providers.base import Provider

PROVIDER_NAMES = ("simulated", "openai")


def get_provider(name: str | None = None) -> Provider:
    """A fresh provider named ``name`` (default: ``settings.wft_provider``).

    Providers are built per call rather than cached so no state is shared between calls; the
    openai module is imported lazily so the simulated path never needs its dependencies.
    """
    from models.settings import get_settings

    if name is not None and not isinstance(name, str):
        raise BlockError(f"provider must be a string, got {name!r}")
    settings = get_settings()
    chosen = (name or settings.wft_provider or "simulated").strip().lower()
    if chosen == "simulated":
        from workers.blocks.providers.simulated import SimulatedProvider

        return SimulatedProvider(settings)
    if chosen == "openai":
        from workers.blocks.providers.openai_compat import OpenAIProvider

        return OpenAIProvider(settings)
    raise BlockError(f"unknown provider {name!r}: expected one of {', '.join(PROVIDER_NAMES)}")


def provider_for_block(config: dict[str, Any]) -> Provider:
    """The provider a block's calls use: its config's ``provider`` key, else the deployment's."""
    return get_provider(config.get("provider"))
