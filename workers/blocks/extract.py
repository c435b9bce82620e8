"""The extract block: a document in, a schema-shaped object out (plus likelihoods under consensus)."""

from __future__ import annotations

from typing import Any

from workers.blocks.base import BlockError, BlockOutput, CallContext, TransientBlockError
from workers.blocks.consensus import reconcile_extraction, single_choice
from workers.blocks.documents import document_input
from workers.blocks.providers import provider_for_block

INPUT_HANDLE = "input-file-document"
OUTPUT_HANDLE = "output-json-0"
LIKELIHOODS_HANDLE = "likelihoods-json-0"


class ExtractExecutor:
    block_type = "extract"
    supports_consensus = True

    def call(self, ctx: CallContext) -> dict[str, Any]:
        """One extraction by the block's provider."""
        config = ctx.block.config
        schema = json_schema_of(ctx)
        instructions = config.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise BlockError(f"block {ctx.block.id!r}: 'instructions' must be a string")
        document = document_input(ctx, INPUT_HANDLE)
        extracted = provider_for_block(config).extract(document, schema, instructions, call_index=ctx.call_index,
                                                       seed=ctx.seed, config=config)
        if not isinstance(extracted, dict):
            raise TransientBlockError(f"the provider returned {type(extracted).__name__}, not an object")
        return extracted

    def assemble(self, ctx: CallContext, choices: list[Any | None], errors: list[str]) -> BlockOutput:
        """One choice is the output as is; several are reconciled, with likelihoods beside them."""
        if len(choices) == 1:
            return BlockOutput(outputs={OUTPUT_HANDLE: single_choice(choices, errors)}, warnings=list(errors))
        value, likelihoods = reconcile_extraction(choices)
        return BlockOutput(
            outputs={OUTPUT_HANDLE: value, LIKELIHOODS_HANDLE: likelihoods},
            warnings=list(errors),
            consensus={"choices": list(choices), "likelihoods": likelihoods},
        )


def json_schema_of(ctx: CallContext) -> dict[str, Any]:
    schema = ctx.block.config.get("json_schema")
    if not isinstance(schema, dict) or not (schema.get("type") == "object" or "properties" in schema):
        raise BlockError(f"block {ctx.block.id!r} config needs a 'json_schema' describing an object")
    return schema
