"""The classifier block: routes its document to the file handle of the category it belongs to.

Every category's handle is present in the outputs; the chosen one carries the document's file
ref and the others are ``None``, so an assertion on a handle that was not chosen sees null rather
than a missing handle.
"""

from __future__ import annotations

from typing import Any

from workers.blocks.base import BlockError, BlockOutput, CallContext, TransientBlockError
from workers.blocks.consensus import reconcile_classification, single_choice
from workers.blocks.documents import document_input, named_routes
from workers.blocks.providers import provider_for_block

INPUT_HANDLE = "input-file-document"
OUTPUT_HANDLE = "output-json-0"


class ClassifierExecutor:
    block_type = "classifier"
    supports_consensus = True

    def call(self, ctx: CallContext) -> dict[str, Any]:
        """One classification: ``{"category", "reasoning"}`` with a category from the config."""
        config = ctx.block.config
        names = [name for name, _ in named_routes(config, "categories", ctx.block.id)]
        document = document_input(ctx, INPUT_HANDLE)
        answer = provider_for_block(config).classify(document, config["categories"], call_index=ctx.call_index,
                                                     seed=ctx.seed, config=config)
        category = answer.get("category") if isinstance(answer, dict) else None
        if category not in names:
            raise TransientBlockError(f"the provider chose {category!r}, which is not one of the categories {names}")
        return {"category": category, "reasoning": str(answer.get("reasoning") or "")}

    def assemble(self, ctx: CallContext, choices: list[Any | None], errors: list[str]) -> BlockOutput:
        """Route the document to the (consensus) category; its likelihood is 1.0 for a single call."""
        routes = named_routes(ctx.block.config, "categories", ctx.block.id)
        document = document_input(ctx, INPUT_HANDLE)
        if len(choices) == 1:
            chosen, likelihood = single_choice(choices, errors), 1.0
            consensus = None
        else:
            chosen, likelihood = reconcile_classification(choices)
            consensus = {"choices": list(choices), "likelihood": likelihood}
        handle = dict(routes).get(chosen.get("category"))
        if handle is None:
            raise BlockError(f"category {chosen.get('category')!r} is not one of the block's categories")
        outputs: dict[str, Any] = {OUTPUT_HANDLE: {"category": chosen["category"], "likelihood": likelihood}}
        outputs.update({h: (document.as_file_ref() if h == handle else None) for _, h in routes})
        return BlockOutput(outputs=outputs, routing_decision=[handle], warnings=list(errors), consensus=consensus)
