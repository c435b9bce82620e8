"""The split block: assigns each page of a document to one of the configured subdocuments.

``output-json-splits`` is the manifest ``{"splits": [{"name", "pages"}]}`` listing the
subdocuments that got pages, in config order (under consensus each entry also carries its
``likelihood``). Every subdocument has an ``output-file-<key>`` handle: the document's file ref
plus its ``pages`` when it got any, ``None`` otherwise.
"""

from __future__ import annotations

from typing import Any

from workers.blocks.base import BlockOutput, CallContext, Document, TransientBlockError
from workers.blocks.consensus import reconcile_splits, single_choice
from workers.blocks.documents import document_input, named_routes
from workers.blocks.providers import provider_for_block

INPUT_HANDLE = "input-file-0"
MANIFEST_HANDLE = "output-json-splits"


class SplitExecutor:
    block_type = "split"
    supports_consensus = True

    def call(self, ctx: CallContext) -> dict[str, Any]:
        """One split, normalized: known names only, valid pages, each page in one subdocument."""
        config = ctx.block.config
        names = [name for name, _ in named_routes(config, "subdocuments", ctx.block.id)]
        document = document_input(ctx, INPUT_HANDLE)
        answer = provider_for_block(config).split(document, config["subdocuments"], call_index=ctx.call_index,
                                                  seed=ctx.seed, config=config)
        return normalize_splits(answer, names, document)

    def assemble(self, ctx: CallContext, choices: list[Any | None], errors: list[str]) -> BlockOutput:
        routes = named_routes(ctx.block.config, "subdocuments", ctx.block.id)
        document = document_input(ctx, INPUT_HANDLE)
        consensus = None
        if len(choices) == 1:
            splits: list[dict[str, Any]] = [dict(s) for s in single_choice(choices, errors)["splits"]]
        else:
            splits, likelihoods = reconcile_splits(choices, [name for name, _ in routes])
            splits = [{**split, "likelihood": likelihood["name"]} for split, likelihood in zip(splits, likelihoods)]
            consensus = {"choices": [c["splits"] if c is not None else None for c in choices], "likelihoods": likelihoods}
        pages_of = {split["name"]: split["pages"] for split in splits}
        outputs: dict[str, Any] = {MANIFEST_HANDLE: {"splits": splits}}
        outputs.update({handle: ({**document.as_file_ref(), "pages": pages_of[name]} if pages_of.get(name) else None)
                        for name, handle in routes})
        return BlockOutput(outputs=outputs, warnings=list(errors), consensus=consensus)


def normalize_splits(answer: Any, names: list[str], document: Document) -> dict[str, Any]:
    """``{"splits": [...]}`` in config order with sorted, in-range, non-repeated pages.
    A page claimed twice stays with its first claimant; an unknown name is a (retryable) bad answer."""
    raw = answer.get("splits") if isinstance(answer, dict) else None
    if not isinstance(raw, list):
        raise TransientBlockError("the provider's split answer has no 'splits' list")
    owner: dict[int, str] = {}
    for split in raw:
        name = split.get("name") if isinstance(split, dict) else None
        if name not in names:
            raise TransientBlockError(f"the provider split into {name!r}, which is not one of the subdocuments {names}")
        for page in split.get("pages") or []:
            if isinstance(page, int) and not isinstance(page, bool) and 1 <= page <= len(document.pages):
                owner.setdefault(page, name)
    splits = [{"name": name, "pages": sorted(p for p, n in owner.items() if n == name)} for name in names]
    return {"splits": [s for s in splits if s["pages"]]}
