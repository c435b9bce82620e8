"""The extract, classifier and split executors driven the way the engine drives them."""

from __future__ import annotations

from typing import Any

import pytest

from workers.blocks.base import BlockError, BlockOutput, BlockSpec, CallContext, Document
from workers.blocks.documents import load_document
from workers.blocks.providers.base import ProviderError
from workers.blocks.registry import get_executor

INVOICE = "INVOICE\nVendor:\n  Name: Acme Inc\nTotal: $1,234.56\nPaid: yes\nItems:\n  - Description: Widget\n    Qty: 2\n"
SCHEMA = {"type": "object", "properties": {
    "vendor": {"type": "object", "properties": {"name": {"type": "string"}}},
    "total": {"type": "number"}, "paid": {"type": "boolean"},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "description": {"type": "string"}, "qty": {"type": "integer"}}}}}}
EXPECTED = {"vendor": {"name": "Acme Inc"}, "total": 1234.56, "paid": True, "items": [{"description": "Widget", "qty": 2}]}
CATEGORIES = [{"name": "Invoice", "description": "a bill"}, {"name": "Booking confirmation", "description": "travel"}]
SUBDOCUMENTS = [{"name": "Invoice", "description": ""}, {"name": "Receipt", "description": ""}]
PACKET = "INVOICE no. 1\fline items continued\fRECEIPT\fthanks"


def document(text: str) -> Document:
    return load_document("file_abc", "doc.txt", "text/plain", text.encode())


def context(block_type: str, config: dict[str, Any], inputs: dict[str, Any], n: int = 1, seed: str = "run:test",
            call_index: int = 0) -> CallContext:
    block = BlockSpec(id="block-1", type=block_type, label="", config={"provider": "simulated", **config})
    return CallContext(block=block, inputs=inputs, call_index=call_index, n_consensus=n, seed=seed)


def run_block(block_type: str, config: dict[str, Any], inputs: dict[str, Any], n: int = 1, seed: str = "run:test") -> BlockOutput:
    """What the engine does: n sub-calls (failures recorded), then one assemble."""
    executor = get_executor(block_type)
    choices: list[Any] = []
    errors: list[str] = []
    for i in range(n):
        try:
            choices.append(executor.call(context(block_type, config, inputs, n, seed, i)))
        except (BlockError, ProviderError) as exc:
            choices.append(None)
            errors.append(f"sub-call {i + 1}/{n} failed: {exc}")
    return executor.assemble(context(block_type, config, inputs, n, seed), choices, errors)


def leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in leaves(v)]
    if isinstance(tree, list):
        return [leaf for v in tree for leaf in leaves(v)]
    return [tree]


# --------------------------------------------------------------------------- extract

EXTRACT_INPUTS = {"input-file-document": document(INVOICE)}


def test_extract_single_call():
    output = run_block("extract", {"json_schema": SCHEMA}, EXTRACT_INPUTS)
    assert output.outputs == {"output-json-0": EXPECTED}
    assert output.consensus is None and output.routing_decision is None and output.warnings == []


@pytest.mark.parametrize("n", [3, 5])
def test_extract_consensus_without_noise_is_unanimous(n):
    output = run_block("extract", {"json_schema": SCHEMA}, EXTRACT_INPUTS, n=n)
    assert output.outputs["output-json-0"] == EXPECTED
    likelihoods = output.outputs["likelihoods-json-0"]
    assert likelihoods == {"vendor": {"name": 1.0}, "total": 1.0, "paid": 1.0, "items": [{"description": 1.0, "qty": 1.0}]}
    assert output.consensus == {"choices": [EXPECTED] * n, "likelihoods": likelihoods}


def test_extract_consensus_with_noise_is_deterministic_and_outvotes_the_noise():
    config = {"json_schema": SCHEMA, "sim_noise": 0.25}
    first = run_block("extract", config, EXTRACT_INPUTS, n=5, seed="run_1:test_1")
    assert first == run_block("extract", config, EXTRACT_INPUTS, n=5, seed="run_1:test_1")
    assert any(choice != EXPECTED for choice in first.consensus["choices"])  # the noise did something
    assert first.outputs["output-json-0"] == EXPECTED  # and the majority still wins
    assert min(leaves(first.outputs["likelihoods-json-0"])) < 1.0
    assert all(0.0 <= leaf <= 1.0 for leaf in leaves(first.outputs["likelihoods-json-0"]))


def test_extract_failed_sub_calls_become_warnings_until_the_majority_is_lost():
    config = {"json_schema": SCHEMA, "sim_fail_calls": [1]}
    output = run_block("extract", config, EXTRACT_INPUTS, n=3)
    assert output.outputs["output-json-0"] == EXPECTED
    assert output.consensus["choices"][1] is None
    assert len(output.warnings) == 1 and "sub-call 2/3 failed" in output.warnings[0]
    with pytest.raises(BlockError, match="strict majority"):
        run_block("extract", {"json_schema": SCHEMA, "sim_fail_calls": [0, 2]}, EXTRACT_INPUTS, n=3)
    with pytest.raises(BlockError, match="simulated failure"):
        run_block("extract", {"json_schema": SCHEMA, "sim_fail_calls": [0]}, EXTRACT_INPUTS, n=1)


@pytest.mark.parametrize("config, inputs, message", [
    ({}, EXTRACT_INPUTS, "json_schema"),
    ({"json_schema": {"type": "string"}}, EXTRACT_INPUTS, "json_schema"),
    ({"json_schema": SCHEMA, "instructions": 3}, EXTRACT_INPUTS, "instructions"),
    ({"json_schema": SCHEMA}, {}, "needs a document on input 'input-file-document'"),
    ({"json_schema": SCHEMA}, {"input-file-document": {"type": "json"}}, "must be a file"),
    ({"json_schema": SCHEMA, "provider": "nope"}, EXTRACT_INPUTS, "unknown provider"),
])
def test_extract_rejects_bad_config_and_inputs(config, inputs, message):
    executor = get_executor("extract")
    with pytest.raises(BlockError, match=message):
        executor.call(CallContext(block=BlockSpec(id="b", type="extract", label="", config=config), inputs=inputs,
                                  call_index=0, n_consensus=1, seed="s"))


# --------------------------------------------------------------------------- classifier

def test_classifier_single_call_routes_the_document():
    inputs = {"input-file-document": document("Booking confirmation\nYour booking confirmation for an invoice")}
    output = run_block("classifier", {"categories": CATEGORIES}, inputs)
    handle = "output-file-booking-confirmation"
    assert output.routing_decision == [handle]
    assert output.outputs == {
        "output-json-0": {"category": "Booking confirmation", "likelihood": 1.0},
        handle: inputs["input-file-document"].as_file_ref(),
        "output-file-invoice": None,
    }
    assert output.consensus is None


@pytest.mark.parametrize("n", [3, 5])
def test_classifier_consensus(n):
    inputs = {"input-file-document": document("INVOICE\nInvoice number 7")}
    output = run_block("classifier", {"categories": CATEGORIES}, inputs, n=n)
    assert output.outputs["output-json-0"] == {"category": "Invoice", "likelihood": 1.0}
    assert output.routing_decision == ["output-file-invoice"]
    assert len(output.consensus["choices"]) == n and output.consensus["likelihood"] == 1.0


def test_classifier_noise_lowers_the_likelihood_deterministically():
    inputs = {"input-file-document": document("INVOICE")}
    config = {"categories": CATEGORIES, "sim_noise": 0.3}
    outputs = [run_block("classifier", config, inputs, n=5, seed=f"run:{i}") for i in range(10)]
    assert outputs == [run_block("classifier", config, inputs, n=5, seed=f"run:{i}") for i in range(10)]
    likelihoods = [o.outputs["output-json-0"]["likelihood"] for o in outputs]
    assert min(likelihoods) < 1.0 and all(v in (0.2, 0.4, 0.6, 0.8, 1.0) for v in likelihoods)


def test_classifier_needs_categories():
    with pytest.raises(BlockError, match="categories"):
        run_block("classifier", {}, {"input-file-document": document("x")})


# --------------------------------------------------------------------------- split

SPLIT_INPUTS = {"input-file-0": document(PACKET)}


def test_split_single_call():
    output = run_block("split", {"subdocuments": SUBDOCUMENTS}, SPLIT_INPUTS)
    ref = SPLIT_INPUTS["input-file-0"].as_file_ref()
    assert output.outputs == {
        "output-json-splits": {"splits": [{"name": "Invoice", "pages": [1, 2]}, {"name": "Receipt", "pages": [3, 4]}]},
        "output-file-invoice": {**ref, "pages": [1, 2]},
        "output-file-receipt": {**ref, "pages": [3, 4]},
    }
    assert output.consensus is None


def test_split_subdocument_without_pages_has_a_null_handle():
    output = run_block("split", {"subdocuments": SUBDOCUMENTS}, {"input-file-0": document("Receipt")})
    assert output.outputs["output-json-splits"] == {"splits": [{"name": "Receipt", "pages": [1]}]}
    assert output.outputs["output-file-invoice"] is None


@pytest.mark.parametrize("n", [3, 5])
def test_split_consensus(n):
    output = run_block("split", {"subdocuments": SUBDOCUMENTS}, SPLIT_INPUTS, n=n)
    assert output.outputs["output-json-splits"] == {"splits": [{"name": "Invoice", "pages": [1, 2], "likelihood": 1.0},
                                                               {"name": "Receipt", "pages": [3, 4], "likelihood": 1.0}]}
    assert output.consensus["likelihoods"] == [{"name": 1.0, "pages": [1.0, 1.0]}, {"name": 1.0, "pages": [1.0, 1.0]}]
    assert len(output.consensus["choices"]) == n
    assert output.consensus["choices"][0] == [{"name": "Invoice", "pages": [1, 2]}, {"name": "Receipt", "pages": [3, 4]}]


def test_split_noise_is_deterministic_and_lowers_page_likelihoods():
    config = {"subdocuments": SUBDOCUMENTS, "sim_noise": 0.2}
    first = run_block("split", config, SPLIT_INPUTS, n=5, seed="r:t")
    assert first == run_block("split", config, SPLIT_INPUTS, n=5, seed="r:t")
    page_likelihoods = [p for split in first.consensus["likelihoods"] for p in split["pages"]]
    assert len(page_likelihoods) == 4 and min(page_likelihoods) < 1.0


def test_split_rejects_answers_naming_unknown_subdocuments():
    from workers.blocks.base import TransientBlockError
    from workers.blocks.split import normalize_splits

    doc = document("a\fb")
    assert normalize_splits({"splits": [{"name": "Receipt", "pages": [2, 9, 2]}, {"name": "Invoice", "pages": [2, 1]}]},
                            ["Invoice", "Receipt"], doc) == {"splits": [{"name": "Invoice", "pages": [1]},
                                                                        {"name": "Receipt", "pages": [2]}]}
    with pytest.raises(TransientBlockError):
        normalize_splits({"splits": [{"name": "Other", "pages": [1]}]}, ["Invoice"], doc)


# --------------------------------------------------------------------------- registry

def test_registry():
    assert {get_executor(t).block_type for t in ("extract", "classifier", "split", "function")} == {
        "extract", "classifier", "split", "function"}
    assert not get_executor("function").supports_consensus and get_executor("extract").supports_consensus
    with pytest.raises(BlockError, match="not testable"):
        get_executor("note")
