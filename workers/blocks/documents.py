"""Documents as blocks see them: loaded from bytes, found among a call's inputs, and routed
to the file output handles of classifier and split blocks.

Blocks never see bytes: a PDF becomes the text of each of its pages (via pypdf); anything else
is decoded as UTF-8 (undecodable bytes replaced, so a stray Latin-1 byte never fails a test) with
pages separated by form feeds, the convention ``pdftotext`` uses too.
"""

from __future__ import annotations

import io
from typing import Any

from workers.blocks.base import BlockError, CallContext, Document

PDF_MIME_TYPES = frozenset({"application/pdf", "application/x-pdf"})
PDF_MAGIC = b"%PDF-"
PAGE_SEPARATOR = "\f"


def load_document(id: str, filename: str, mime_type: str, data: bytes) -> Document:  # noqa: A002 - mirrors Document.id
    """Read ``data`` as a PDF (by mime type or magic bytes) or as form-feed-paged UTF-8 text."""
    pages = pdf_pages(data) if is_pdf(mime_type, data) else text_pages(data)
    return Document(id=id, filename=filename, mime_type=mime_type, pages=pages)


def is_pdf(mime_type: str | None, data: bytes) -> bool:
    """Magic bytes win over a wrong mime type: uploads often arrive as application/octet-stream."""
    return (mime_type or "").split(";")[0].strip().lower() in PDF_MIME_TYPES or data.lstrip()[:5] == PDF_MAGIC


def text_pages(data: bytes) -> list[str]:
    """UTF-8 text split on form feeds. A trailing form feed ends the last page rather than opening an
    empty one (text exported page by page usually ends with one)."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pages = text.split(PAGE_SEPARATOR)
    if len(pages) > 1 and not pages[-1].strip():
        pages.pop()
    return pages


def pdf_pages(data: bytes) -> list[str]:
    """Text of every page; a PDF without pages still yields one empty page so page-based blocks
    always have something to assign."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").replace("\r\n", "\n") for page in reader.pages]
    except Exception as exc:  # noqa: BLE001 - a parser fed untrusted bytes can raise anything
        raise BlockError(f"could not read PDF: {exc}") from exc
    return pages or [""]


def build_text_pdf(pages: list[str]) -> bytes:
    """A minimal, valid PDF with one page per string (Helvetica, one text line per line).

    pypdf can read text but not lay it out, so tests and demo data build their PDFs with this.
    Only Latin-1 text is representable; other characters become ``?``.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)  # object numbers are 1-based

    catalog = add(b"")  # filled in once the page tree's number is known
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids: list[int] = []
    for text in pages:
        stream = _page_content_stream(text)
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_obj, content, font)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    kid_refs = b" ".join(b"%d 0 R" % k for k in kids)
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kid_refs, len(kids))

    out = bytearray(b"%PDF-1.4\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref_at)
    return bytes(out)


def _page_content_stream(text: str) -> bytes:
    lines = [_pdf_string(line) for line in text.split("\n")]
    body = b" T*\n".join(b"(%s) Tj" % line for line in lines)
    return b"BT\n/F1 11 Tf\n14 TL\n50 750 Td\n%s\nET" % body


def _pdf_string(line: str) -> bytes:
    raw = line.encode("latin-1", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


# --------------------------------------------------------------------------- documents in block calls

def document_input(ctx: CallContext, handle_id: str) -> Document:
    """The document on ``handle_id``; when that handle is absent, the call's only document input
    (older drafts name document inputs ``input-document-0`` or ``input-file-0``)."""
    if handle_id in ctx.inputs:
        value = ctx.inputs[handle_id]
        if not isinstance(value, Document):
            raise BlockError(f"input {handle_id!r} of block {ctx.block.id!r} must be a file, got {type(value).__name__}")
        return value
    documents = [v for v in ctx.inputs.values() if isinstance(v, Document)]
    if len(documents) == 1:
        return documents[0]
    found = f"{len(documents)} file inputs" if documents else "no file input"
    raise BlockError(f"block {ctx.block.id!r} needs a document on input {handle_id!r} ({found} given)")


def file_handle_id(name: str) -> str:
    """``output-file-<key>``, key = the name lowercased with runs of spaces turned into one hyphen."""
    return "output-file-" + "-".join(name.lower().split())


def named_routes(config: dict[str, Any], key: str, block_id: str) -> list[tuple[str, str]]:
    """(name, output handle id) for each entry of ``config[key]`` (``categories`` / ``subdocuments``).
    An entry's explicit ``handle_key`` wins over the derived key. BlockError when the list is
    missing or empty, a name is missing, or two entries would share a handle."""
    entries = config.get(key)
    if not isinstance(entries, list) or not entries:
        raise BlockError(f"block {block_id!r} config needs a non-empty {key!r} list")
    routes: list[tuple[str, str]] = []
    for position, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise BlockError(f"block {block_id!r}: {key}[{position}] needs a non-empty 'name'")
        explicit = entry.get("handle_key")
        handle = f"output-file-{explicit}" if isinstance(explicit, str) and explicit else file_handle_id(name)
        if handle in (h for _, h in routes):
            raise BlockError(f"block {block_id!r}: two {key} map to the same handle {handle!r}")
        routes.append((name, handle))
    return routes
