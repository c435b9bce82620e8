"""Loading documents from bytes, finding them among a call's inputs, naming their file handles."""

from __future__ import annotations

import pytest

from workers.blocks.base import BlockError, BlockSpec, CallContext, Document
from workers.blocks.documents import (
    build_text_pdf,
    document_input,
    file_handle_id,
    is_pdf,
    load_document,
    named_routes,
)


def test_text_pages_are_separated_by_form_feeds():
    doc = load_document("file_1", "a.txt", "text/plain", b"first\fsecond\fthird")
    assert doc.pages == ["first", "second", "third"]
    assert doc.text == "first\fsecond\fthird"


def test_text_without_form_feed_is_one_page_and_empty_text_one_empty_page():
    assert load_document("f", "a.txt", "text/plain", b"only\nlines").pages == ["only\nlines"]
    assert load_document("f", "a.txt", "text/plain", b"").pages == [""]


def test_trailing_form_feed_does_not_open_an_empty_page():
    assert load_document("f", "a.txt", "text/plain", b"one\ftwo\f\n").pages == ["one", "two"]


def test_text_decoding_is_forgiving():
    doc = load_document("f", "a.txt", "text/plain", b"\xef\xbb\xbfVendor: Caf\xe9\r\nTotal: 1")
    assert doc.pages == ["Vendor: Caf\ufffd\nTotal: 1"]  # BOM dropped, CRLF folded, bad byte replaced


def test_pdf_text_is_read_per_page():
    data = build_text_pdf(["INVOICE\nVendor: Acme (Inc)", "Receipt\nback\\slash"])
    doc = load_document("file_2", "doc.pdf", "application/pdf", data)
    assert doc.pages == ["INVOICE\nVendor: Acme (Inc)", "Receipt\nback\\slash"]
    assert doc.as_file_ref() == {"type": "file", "document": {"id": "file_2", "filename": "doc.pdf",
                                                              "mime_type": "application/pdf"}}


def test_pdf_is_recognized_by_magic_bytes_despite_the_mime_type():
    data = build_text_pdf(["hello"])
    assert is_pdf("application/octet-stream", data)
    assert load_document("f", "upload.bin", "application/octet-stream", data).pages == ["hello"]
    assert not is_pdf("text/plain", b"%PD")


def test_unreadable_pdf_is_a_block_error():
    with pytest.raises(BlockError, match="could not read PDF"):
        load_document("f", "x.pdf", "application/pdf", b"%PDF-1.4 not really")


def _ctx(inputs: dict) -> CallContext:
    return CallContext(block=BlockSpec(id="b1", type="extract", label="", config={}), inputs=inputs,
                       call_index=0, n_consensus=1, seed="s")


def test_document_input_by_handle_or_the_only_document():
    doc = Document("f", "a.txt", "text/plain", ["x"])
    assert document_input(_ctx({"input-file-document": doc}), "input-file-document") is doc
    assert document_input(_ctx({"input-document-0": doc, "input-json-0": {}}), "input-file-document") is doc


def test_document_input_errors_are_clear():
    doc = Document("f", "a.txt", "text/plain", ["x"])
    with pytest.raises(BlockError, match="needs a document on input 'input-file-0'"):
        document_input(_ctx({}), "input-file-0")
    with pytest.raises(BlockError, match="2 file inputs"):
        document_input(_ctx({"a": doc, "b": doc}), "input-file-0")
    with pytest.raises(BlockError, match="must be a file"):
        document_input(_ctx({"input-file-0": {"x": 1}}), "input-file-0")


def test_file_handle_ids():
    assert file_handle_id("Invoice") == "output-file-invoice"
    assert file_handle_id("booking confirmation") == "output-file-booking-confirmation"
    assert file_handle_id("  Bank   Statement ") == "output-file-bank-statement"


def test_named_routes_validate_the_config():
    routes = named_routes({"categories": [{"name": "Invoice"}, {"name": "Other", "handle_key": "misc"}]}, "categories", "b")
    assert routes == [("Invoice", "output-file-invoice"), ("Other", "output-file-misc")]
    for bad in ({}, {"categories": []}, {"categories": [{"description": "no name"}]}, {"categories": "Invoice"},
                {"categories": [{"name": "A b"}, {"name": "a  B"}]}):
        with pytest.raises(BlockError):
            named_routes(bad, "categories", "b")
