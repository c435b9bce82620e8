"""Files, in the SDK's three-step upload: ask for a signed URL, PUT the bytes, complete.
The bytes are stored by wft itself (in PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from api_adapter.deps import check_limit, documented_body, json_body, organization_id, parse, read_body
from api_adapter.pagination import paginate
from api_adapter.responses import FileOut, Page, UploadCompletedOut, UploadSessionOut, UploadedContentOut, documented
from api_adapter.uploads import check_token, make_token
from models import ids
from models.db import session_scope
from models.errors import ApiError, not_found
from models.settings import get_settings
from models.tables import File
from models.wire import UploadComplete, UploadCreate, file_to_wire, list_envelope

router = APIRouter(prefix="/v1/files", tags=["files"])

SORTABLE = {"created_at": File.created_at, "updated_at": File.updated_at}


def _too_large(size: int) -> ApiError:
    limit = get_settings().wft_max_file_bytes
    return ApiError(413, "file_too_large", f"size_bytes {size} exceeds the {limit}-byte limit",
                    {"field": "size_bytes", "limit": limit})


def _get_file(s, org: str, file_id: str) -> File:
    f = s.scalars(select(File).where(File.id == file_id, File.organization_id == org)).first()
    if f is None:
        raise not_found("file", file_id)
    return f


def _content_url(file_id: str) -> str:
    return f"{get_settings().wft_public_url.rstrip('/')}/v1/files/{file_id}"


@router.post("/upload", openapi_extra=documented_body(UploadCreate), **documented(UploadSessionOut))
def create_upload(org: str = Depends(organization_id), body: Any = Depends(json_body)) -> dict[str, Any]:
    req = parse(UploadCreate, body)
    if req.size_bytes > get_settings().wft_max_file_bytes:
        raise _too_large(req.size_bytes)
    with session_scope() as s:
        f = File(id=ids.new_id(ids.FILE), organization_id=org, filename=req.filename, mime_type=req.content_type,
                 declared_size=req.size_bytes, sha256=req.sha256, status="pending")
        s.add(f)
    token, expires_at = make_token(f.id)
    base = get_settings().wft_public_url.rstrip("/")
    return {
        "fileId": f.id,
        "uploadUrl": f"{base}/v1/files/upload/{f.id}/content?token={token}",
        "uploadMethod": "PUT",
        "uploadHeaders": {"Content-Type": req.content_type},
        "mimeData": {"filename": req.filename, "url": _content_url(f.id)},
        "expiresAt": datetime.fromtimestamp(expires_at, timezone.utc).isoformat(),
    }


@router.put("/upload/{file_id}/content", **documented(UploadedContentOut))
async def put_content(file_id: str, request: Request, token: str = Query(...)) -> dict[str, Any]:
    """The signed URL: no Api-Key, the token is the authority (bound to this file, short-lived)."""
    if not check_token(file_id, token):
        raise ApiError(401, "invalid_upload_token", "the upload URL is invalid or expired", {"file_id": file_id})
    data = await read_body(request, get_settings().wft_max_file_bytes, _too_large)
    with session_scope() as s:
        f = s.get(File, file_id)
        if f is None:
            raise not_found("file", file_id)
        if f.status == "complete":
            raise ApiError(409, "upload_completed", "this upload was already completed", {"file_id": file_id})
        if f.declared_size is not None and f.declared_size != len(data):
            raise ApiError(422, "size_mismatch", f"size_bytes declared {f.declared_size}, received {len(data)}",
                           {"field": "size_bytes", "declared": f.declared_size, "received": len(data)})
        f.data = data
        f.size_bytes = len(data)
        f.status = "uploaded"
        f.updated_at = datetime.now(timezone.utc)
    return {"file_id": file_id, "size_bytes": len(data)}


@router.post("/upload/{file_id}/complete", openapi_extra=documented_body(UploadComplete), **documented(UploadCompletedOut))
def complete_upload(file_id: str, org: str = Depends(organization_id), body: Any = Depends(json_body)) -> dict[str, Any]:
    req = parse(UploadComplete, body)
    with session_scope() as s:
        f = _get_file(s, org, file_id)
        if f.status == "pending":
            raise ApiError(409, "upload_incomplete", "no bytes were uploaded to this file's upload URL yet",
                           {"file_id": file_id})
        data = s.scalar(select(File.data).where(File.id == file_id)) or b""
        digest = hashlib.sha256(data).hexdigest()
        expected = (req.sha256 or f.sha256 or digest).lower()
        if expected != digest:
            raise ApiError(422, "sha256_mismatch", "sha256 does not match the uploaded bytes",
                           {"field": "sha256", "expected": expected, "received": digest})
        f.sha256 = digest
        f.status = "complete"
        f.page_count = _page_count(f, data)
        f.updated_at = datetime.now(timezone.utc)
        return {"id": f.id, "file_id": f.id, "filename": f.filename, "url": _content_url(f.id)}


def _page_count(f: File, data: bytes) -> int | None:
    from workers.blocks.base import BlockError
    from workers.blocks.documents import load_document

    try:
        return len(load_document(f.id, f.filename, f.mime_type, data).pages)
    except BlockError:
        return None  # not a readable document; tests that use it will say so


@router.get("", **documented(Page[FileOut]))
def list_files(org: str = Depends(organization_id), limit: int = Query(100), order: str = "desc",
               before: str | None = None, after: str | None = None, filename: str | None = None,
               mime_type: str | None = None, sort_by: str = "created_at") -> dict[str, Any]:
    check_limit(limit)
    if sort_by not in SORTABLE:
        raise ApiError(422, "validation_error", f"sort_by must be one of {', '.join(SORTABLE)}",
                       {"field": "sort_by", "value": sort_by})
    with session_scope() as s:
        stmt = select(File).where(File.organization_id == org)
        if filename:
            stmt = stmt.where(File.filename == filename)
        if mime_type:
            stmt = stmt.where(File.mime_type == mime_type)
        page = paginate(s, stmt, model=File, sort_col=SORTABLE[sort_by], order=order, limit=limit,
                        before=before, after=after)
        return list_envelope([file_to_wire(f) for f in page.rows], page.before, page.after)


@router.get("/{file_id}", **documented(FileOut))
def get_file(file_id: str, org: str = Depends(organization_id)) -> dict[str, Any]:
    with session_scope() as s:
        return file_to_wire(_get_file(s, org, file_id))
