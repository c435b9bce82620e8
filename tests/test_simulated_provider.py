"""The simulated provider: document conventions, type coercion, seeded noise, knobs."""

from __future__ import annotations

import time

import pytest

from models.settings import Settings
from workers.blocks.base import BlockError, Document
from workers.blocks.providers import get_provider
from workers.blocks.providers.base import ProviderError, ProviderUnavailable
from workers.blocks.providers.simulated import SimulatedProvider, coerce_value, parse_number

INVOICE = "INVOICE\nVendor: Acme Inc\nInvoice number: INV-001\nTotal: 1,234.56\nPaid: yes\n"
SCHEMA = {"type": "object", "properties": {
    "vendor": {"type": "string"}, "invoice_number": {"type": "string"},
    "total": {"type": "number"}, "paid": {"type": "boolean"}}}
ITEM = {"type": "object", "properties": {"description": {"type": "string"}, "qty": {"type": "integer"},
                                         "unit_price": {"type": "number"}}}
NESTED = {"type": "object", "properties": {
    "vendor": {"type": "object", "properties": {"name": {"type": "string"}, "vat_id": {"type": ["string", "null"]}}},
    "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
    "tags": {"type": "array", "items": {"type": "string"}},
    "amounts": {"type": "array", "items": {"type": "number"}}},
    "$defs": {"Item": ITEM}}


def provider(noise: float = 0.0, latency_ms: int = 0) -> SimulatedProvider:
    return SimulatedProvider(Settings(wft_sim_noise=noise, wft_sim_latency_ms=latency_ms))


def doc(*pages: str) -> Document:
    return Document(id="file_1", filename="doc.txt", mime_type="text/plain", pages=list(pages))


def extract(text: str, schema: dict, config: dict | None = None, call_index: int = 0, seed: str = "seed") -> dict:
    return provider().extract(doc(*text.split("\f")), schema, None, call_index=call_index, seed=seed, config=config or {})


# --------------------------------------------------------------------------- extract

def test_extract_label_lines():
    assert extract(INVOICE, SCHEMA) == {"vendor": "Acme Inc", "invoice_number": "INV-001", "total": 1234.56, "paid": True}


def test_labels_ignore_case_spaces_underscores_and_hyphens():
    schema = {"type": "object", "properties": {"invoice_number": {"type": "string"}, "dueDate": {"type": "string"}}}
    assert extract("INVOICE-NUMBER: 7\ndue date: today", schema) == {"invoice_number": "7", "dueDate": "today"}


def test_absent_values_are_null_empty_list_or_object_of_nulls():
    assert extract("nothing here", NESTED) == {"vendor": {"name": None, "vat_id": None}, "items": [], "tags": [], "amounts": []}


def test_first_line_for_a_path_wins_and_values_may_contain_colons():
    schema = {"type": "object", "properties": {"time": {"type": "string"}}}
    assert extract("Time: 10:30\nTime: 11:00", schema) == {"time": "10:30"}


@pytest.mark.parametrize("text, expected", [
    ("1,234.56", 1234.56), ("$1,234.56", 1234.56), ("€ 99", 99), ("1 234.5 EUR", 1234.5), ("-12.5", -12.5),
    ("(12.50)", -12.5), ("12%", 12), ("about 7 units", 7), ("none", None), ("n/a", None), ("abc", None),
])
def test_numbers(text, expected):
    assert coerce_value(text, {"type": "number"}) == expected


@pytest.mark.parametrize("text, expected", [("3", 3), ("3.0", 3), ("2.5", None), ("1,000", 1000)])
def test_integers(text, expected):
    value = coerce_value(text, {"type": "integer"})
    assert value == expected and (value is None or isinstance(value, int))


@pytest.mark.parametrize("text, expected", [("yes", True), ("No", False), ("TRUE", True), ("false", False),
                                            ("y", True), ("0", False), ("maybe", None), ("", None)])
def test_booleans(text, expected):
    assert coerce_value(text, {"type": "boolean"}) is expected


def test_enum_strings_take_the_member_they_equal():
    node = {"type": "string", "enum": ["Net 30", "Due on receipt"]}
    assert coerce_value("net-30", node) == "Net 30"
    assert coerce_value("whenever", node) is None


def test_parse_number_keeps_ints_as_ints():
    assert parse_number("42") == 42 and isinstance(parse_number("42"), int)
    assert parse_number("no digits") is None


def test_nested_objects_by_dotted_labels_headings_or_concatenated_names():
    expected = {"name": "Acme Inc", "vat_id": "FR123"}
    assert extract("Vendor.Name: Acme Inc\nvendor.vat-id: FR123", NESTED)["vendor"] == expected
    assert extract("Vendor:\n  Name: Acme Inc\n  VAT ID: FR123\nTotal: 5", NESTED)["vendor"] == expected
    assert extract("Vendor name: Acme Inc\nVendor VAT id: FR123", NESTED)["vendor"] == expected


def test_heading_scope_ends_at_a_less_indented_line():
    schema = {"type": "object", "properties": {"vendor": {"type": "object", "properties": {"name": {"type": "string"}}},
                                               "name": {"type": "string"}}}
    assert extract("Vendor:\n  Name: Acme\nName: Bob", schema) == {"vendor": {"name": "Acme"}, "name": "Bob"}


def test_arrays_of_objects_by_index():
    text = "items.0.description: Widget\nitems.0.qty: 2\nitems[1].description: Gadget\nitems.1.unit price: $5"
    assert extract(text, NESTED)["items"] == [{"description": "Widget", "qty": 2, "unit_price": None},
                                             {"description": "Gadget", "qty": None, "unit_price": 5}]


def test_arrays_of_objects_by_dash_items_and_gaps_close_up():
    text = "Items:\n  - Description: Widget\n    Qty: 2\n  - Description: Gadget\n    Unit price: 10\nitems.7.qty: 1"
    assert extract(text, NESTED)["items"] == [{"description": "Widget", "qty": 2, "unit_price": None},
                                             {"description": "Gadget", "qty": None, "unit_price": 10},
                                             {"description": None, "qty": 1, "unit_price": None}]


def test_arrays_of_scalars():
    assert extract("Tags: urgent, paid", NESTED)["tags"] == ["urgent", "paid"]
    assert extract("Amounts: 1,200.50; 3", NESTED)["amounts"] == [1200.5, 3]
    assert extract("Tags:\n  - urgent\n  - late", NESTED)["tags"] == ["urgent", "late"]
    assert extract("tags.1: b\ntags.0: a", NESTED)["tags"] == ["a", "b"]


def test_labels_span_pages():
    assert extract("Vendor: Acme Inc\fTotal: 3", SCHEMA)["total"] == 3


# --------------------------------------------------------------------------- classify and split

CATEGORIES = [{"name": "Invoice", "description": ""}, {"name": "Receipt", "description": ""},
              {"name": "Bank statement", "description": ""}]


def classify(text: str, config: dict | None = None, call_index: int = 0) -> str:
    return provider().classify(doc(text), CATEGORIES, call_index=call_index, seed="s", config=config or {})["category"]


def test_classifier_picks_the_most_mentioned_category():
    assert classify("Receipt for invoice INV-1. Receipt total. Thank you for this receipt.") == "Receipt"
    assert classify("BANK STATEMENT\nbank-statement period; see invoice") == "Bank statement"


def test_classifier_counts_whole_words_and_breaks_ties_by_order():
    assert classify("invoices invoiced receipt") == "Receipt"
    assert classify("receipt invoice") == "Invoice"
    assert classify("nothing relevant") == "Invoice"


SUBDOCS = [{"name": "Invoice"}, {"name": "Receipt"}, {"name": "Invoice copy"}]


def split(*pages: str, config: dict | None = None, call_index: int = 0) -> list:
    return provider().split(doc(*pages), SUBDOCS, call_index=call_index, seed="s", config=config or {})["splits"]


def test_split_assigns_pages_to_the_first_named_subdocument():
    assert split("cover", "INVOICE 1", "continued", "Receipt for the invoice", "Invoice copy") == [
        {"name": "Invoice", "pages": [1, 2, 3]}, {"name": "Receipt", "pages": [4]}, {"name": "Invoice copy", "pages": [5]}]


def test_split_lists_only_subdocuments_with_pages():
    assert split("Receipt", "more") == [{"name": "Receipt", "pages": [1, 2]}]


# --------------------------------------------------------------------------- noise, latency, failures

def test_noise_is_deterministic_per_seed_and_call_index():
    config = {"sim_noise": 0.5}
    runs = [extract(INVOICE, SCHEMA, config, call_index=i, seed="run:test") for i in range(8)]
    again = [extract(INVOICE, SCHEMA, config, call_index=i, seed="run:test") for i in range(8)]
    assert runs == again
    assert len({repr(r) for r in runs}) > 1
    assert runs != [extract(INVOICE, SCHEMA, config, call_index=i, seed="other") for i in range(8)]


def test_full_noise_perturbs_every_scalar_beyond_consensus_tolerance():
    clean = extract(INVOICE, SCHEMA)
    noisy = extract(INVOICE, SCHEMA, {"sim_noise": 1})
    assert noisy["paid"] is False
    assert abs(noisy["total"] - clean["total"]) > 0.03 * clean["total"]
    assert noisy["vendor"].startswith("Acme Inc ") and noisy["vendor"] != "Acme Inc"


def test_settings_noise_applies_when_the_block_sets_none():
    noisy = SimulatedProvider(Settings(wft_sim_noise=1.0)).extract(doc(INVOICE), SCHEMA, None, call_index=0, seed="s", config={})
    assert noisy != extract(INVOICE, SCHEMA)
    assert SimulatedProvider(Settings(wft_sim_noise=1.0)).extract(
        doc(INVOICE), SCHEMA, None, call_index=0, seed="s", config={"sim_noise": 0}) == extract(INVOICE, SCHEMA)


def test_classifier_and_split_noise_pick_something_else():
    assert classify("invoice", {"sim_noise": 1.0}) != "Invoice"
    assert split("Invoice", "Invoice", config={"sim_noise": 1.0}) != [{"name": "Invoice", "pages": [1, 2]}]


def test_latency_sleeps():
    started = time.monotonic()
    extract(INVOICE, SCHEMA, {"sim_latency_ms": 60})
    assert time.monotonic() - started >= 0.055


def test_scripted_failures_and_invalid_knobs():
    with pytest.raises(ProviderError):
        extract(INVOICE, SCHEMA, {"sim_fail_calls": [1]}, call_index=1)
    assert extract(INVOICE, SCHEMA, {"sim_fail_calls": [1]}, call_index=0)["vendor"] == "Acme Inc"
    for bad in ({"sim_noise": 2}, {"sim_noise": "high"}, {"sim_latency_ms": -1}, {"sim_fail_calls": "1"}):
        with pytest.raises(BlockError):
            extract(INVOICE, SCHEMA, bad)


def test_judge_and_embeddings_are_unavailable():
    with pytest.raises(ProviderUnavailable) as judge:
        provider().judge("x", "is it fine?", None)
    with pytest.raises(ProviderUnavailable) as embed:
        provider().embed(["x"])
    assert (judge.value.code, embed.value.code) == ("judge_unavailable", "embeddings_unavailable")


def test_get_provider_by_name():
    assert get_provider("simulated").name == "simulated"
    assert get_provider("openai").name == "openai"
    with pytest.raises(BlockError, match="unknown provider"):
        get_provider("magic")
