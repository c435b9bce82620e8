"""The demo's "Invoice workflow": four blocks and the tests that exercise them, over the sample
documents in ``demo_data/``. Some tests are designed to fail (a European number format the
extractor misreads, a wrong vendor) and one to be blocked (a numeric check on a string)."""

from __future__ import annotations

from typing import Any

INVOICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "vendor": {"type": "object", "properties": {"name": {"type": "string"}, "country": {"type": "string"}}},
        "invoice_number": {"type": "string"},
        "date": {"type": "string"},
        "currency": {"type": "string"},
        "paid": {"type": "boolean"},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "description": {"type": "string"}, "quantity": {"type": "integer"}, "amount": {"type": "number"}}}},
        "total": {"type": "number"},
    },
}

VALIDATE_CODE = '''\
def main(inputs):
    invoice = inputs["input-json-0"]
    items = invoice.get("items") or []
    computed = round(sum(item["amount"] for item in items), 2)
    ok = abs(computed - invoice["total"]) < 0.01
    return {
        "is_valid": ok,
        "computed_total": computed,
        "line_count": len(items),
        "error_message": None if ok else f"items sum to {computed}, total says {invoice['total']}",
    }
'''

BLOCKS: list[dict[str, Any]] = [
    {"id": "extract-invoice", "type": "extract", "label": "Extract invoice fields",
     "config": {"json_schema": INVOICE_SCHEMA, "sim_latency_ms": 120, "sim_noise": 0.04}},
    {"id": "classify-document", "type": "classifier", "label": "Classify document",
     "config": {"categories": [{"name": "invoice", "description": "a bill to pay"},
                               {"name": "receipt", "description": "proof of a payment"},
                               {"name": "purchase order", "description": "an order from a buyer"}],
                "sim_latency_ms": 80}},
    {"id": "split-packet", "type": "split", "label": "Split document packet",
     "config": {"subdocuments": [{"name": "invoice", "description": "the invoice pages"},
                                 {"name": "packing slip", "description": "what was shipped"},
                                 {"name": "terms", "description": "payment terms"}],
                "sim_latency_ms": 80}},
    {"id": "validate-totals", "type": "function", "label": "Validate totals", "config": {"code": VALIDATE_CODE}},
]

DOCUMENTS = ["invoice_acme.txt", "invoice_globex.txt", "invoice_initech.txt", "receipt_cafe.txt",
             "purchase_order.txt", "packet_stark.txt"]


def _a(handle: str, path: str, condition: dict[str, Any]) -> dict[str, Any]:
    return {"target": {"output_handle_id": handle, "path": path}, "condition": condition}


def _doc(file_id: str, handle: str = "input-file-document") -> dict[str, Any]:
    return {"type": "manual", "handle_inputs": {handle: {"type": "file", "file_id": file_id}}}


def _json(data: Any) -> dict[str, Any]:
    return {"type": "manual", "handle_inputs": {"input-json-0": {"type": "json", "data": data}}}


def demo_tests(files: dict[str, str]) -> list[dict[str, Any]]:
    """``files`` maps sample filenames to uploaded file ids. Returns create-test bodies."""
    acme, globex, initech = files["invoice_acme.txt"], files["invoice_globex.txt"], files["invoice_initech.txt"]
    out: list[dict[str, Any]] = []

    def add(block: str, name: str, source: dict[str, Any], assertion: dict[str, Any]) -> None:
        out.append({"target": {"type": "block", "block_id": block}, "name": name, "source": source,
                    "assertion": assertion})

    x = "extract-invoice"
    add(x, "acme vendor name", _doc(acme), _a("output-json-0", "vendor.name", {"kind": "equals", "expected": "Acme Inc"}))
    add(x, "acme total", _doc(acme), _a("output-json-0", "total", {"kind": "number_compare", "op": "eq", "expected": 1234.56}))
    add(x, "acme is paid", _doc(acme), _a("output-json-0", "paid", {"kind": "equals", "expected": True}))
    add(x, "acme invoice number format", _doc(acme), _a("output-json-0", "invoice_number", {"kind": "matches_regex", "pattern": r"^INV-\d{4}-\d{4}$"}))
    add(x, "acme has two lines", _doc(acme), _a("output-json-0", "items", {"kind": "length_compare", "op": "eq", "expected": 2}))
    add(x, "acme lines are complete", _doc(acme), _a("output-json-0", "items", {"kind": "all_items_match", "condition": {"kind": "json_schema_valid", "schema": {"type": "object", "required": ["description", "amount"]}}}))
    add(x, "acme anvil line", _doc(acme), _a("output-json-0", "items", {"kind": "array_contains", "expected": {"description": "Anvil", "quantity": 2}}))
    add(x, "acme total confidence", _doc(acme), _a("likelihoods-json-0", "total", {"kind": "number_compare", "op": "gte", "expected": 0.6}))
    add(x, "acme date in 2026", _doc(acme), _a("output-json-0", "date", {"kind": "starts_with", "expected": "2026-"}))
    add(x, "acme vendor object", _doc(acme), _a("output-json-0", "vendor", {"kind": "object_contains", "expected": {"country": "USA"}}))
    add(x, "globex currency", _doc(globex), _a("output-json-0", "currency", {"kind": "equals", "expected": "EUR"}))
    add(x, "globex not paid", _doc(globex), _a("output-json-0", "paid", {"kind": "equals", "expected": False}))
    add(x, "globex total (European format)", _doc(globex), _a("output-json-0", "total", {"kind": "between", "lower": 1800, "upper": 1850}))
    add(x, "globex vendor similar", _doc(globex), _a("output-json-0", "vendor.name", {"kind": "similarity_gte", "reference": "Globex Corp", "threshold": 0.6}))
    add(x, "initech vendor is Umbrella", _doc(initech), _a("output-json-0", "vendor.name", {"kind": "contains", "expected": "Umbrella"}))
    add(x, "initech total", _doc(initech), _a("output-json-0", "total", {"kind": "equals", "expected": 250}))
    add(x, "initech schema valid", _doc(initech), _a("output-json-0", "", {"kind": "json_schema_valid", "schema": {"type": "object", "required": ["vendor", "total"]}}))
    add(x, "initech vendor name is a number", _doc(initech), _a("output-json-0", "vendor.name", {"kind": "number_compare", "op": "gt", "expected": 0}))
    add(x, "initech no discount field", _doc(initech), _a("output-json-0", "discount", {"kind": "not_exists"}))
    add(x, "receipt total", _doc(files["receipt_cafe.txt"]), _a("output-json-0", "total", {"kind": "number_compare", "op": "lt", "expected": 20}))

    c = "classify-document"
    for name, expected in [("invoice_acme.txt", "invoice"), ("invoice_globex.txt", "invoice"),
                           ("receipt_cafe.txt", "receipt"), ("purchase_order.txt", "purchase order")]:
        add(c, f"{name} is a {expected}", _doc(files[name]), _a("output-json-0", "category", {"kind": "equals", "expected": expected}))
    add(c, "receipt routed to receipt handle", _doc(files["receipt_cafe.txt"]), _a("output-file-receipt", "", {"kind": "exists"}))
    add(c, "purchase order confidently classified", _doc(files["purchase_order.txt"]), _a("output-json-0", "likelihood", {"kind": "number_compare", "op": "gte", "expected": 0.6}))

    s = "split-packet"
    packet = files["packet_stark.txt"]
    expected = {"splits": [{"name": "invoice", "pages": [1]}, {"name": "packing slip", "pages": [2, 3]}, {"name": "terms", "pages": [4]}]}
    add(s, "packet split exactly", _doc(packet, "input-file-0"), _a("output-json-splits", "", {"kind": "split_iou_gte", "expected": expected, "threshold": 1.0}))
    add(s, "packet has three parts", _doc(packet, "input-file-0"), _a("output-json-splits", "splits", {"kind": "length_compare", "op": "eq", "expected": 3}))
    add(s, "packing slip spans two pages", _doc(packet, "input-file-0"), _a("output-json-splits", "splits", {"kind": "any_item_matches", "condition": {"kind": "object_contains", "expected": {"name": "packing slip", "pages": [2, 3]}}}))

    f = "validate-totals"
    good = {"total": 1234.56, "items": [{"amount": 400.0}, {"amount": 834.56}]}
    bad = {"total": 1000.0, "items": [{"amount": 400.0}, {"amount": 834.56}]}
    add(f, "balanced invoice is valid", _json(good), _a("output-json-0", "is_valid", {"kind": "equals", "expected": True}))
    add(f, "line count", _json(good), _a("output-json-0", "line_count", {"kind": "equals", "expected": 2}))
    add(f, "unbalanced invoice is flagged", _json(bad), _a("output-json-0", "error_message", {"kind": "contains", "expected": "items sum to"}))
    add(f, "unbalanced invoice passes (wrong on purpose)", _json(bad), _a("output-json-0", "is_valid", {"kind": "equals", "expected": True}))
    return out
