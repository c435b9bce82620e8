"""Draft blocks: ``/v1/workflows/{workflow_id}/blocks``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from api_adapter.deps import documented_body, json_body, organization_id, parse
from api_adapter.responses import BlockOut, Page, documented
from api_adapter.routes.lookups import get_block, get_workflow
from models.db import session_scope
from models.errors import ApiError
from models.tables import Block
from models.wire import BlockCreate, BlockUpdate, block_to_wire, list_envelope

router = APIRouter(prefix="/v1/workflows/{workflow_id}/blocks", tags=["blocks"])


def _new_block(workflow_id: str, req: BlockCreate) -> Block:
    now = datetime.now(timezone.utc)
    return Block(workflow_id=workflow_id, id=req.id, type=req.type, label=req.label, position_x=req.position_x,
                 position_y=req.position_y, width=req.width, height=req.height, config=req.config,
                 parent_id=req.parent_id, created_at=now, updated_at=now)


def _insert(s, workflow_id: str, requests: list[BlockCreate]) -> list[Block]:
    wanted = [r.id for r in requests]
    dupes = {i for i in wanted if wanted.count(i) > 1}
    taken = set(s.scalars(select(Block.id).where(Block.workflow_id == workflow_id, Block.id.in_(wanted))))
    if dupes or taken:
        clash = sorted(dupes | taken)
        raise ApiError(409, "block_exists", f"block id {clash[0]!r} already exists in this workflow", {"block_ids": clash})
    blocks = [_new_block(workflow_id, r) for r in requests]
    s.add_all(blocks)
    return blocks


@router.post("", openapi_extra=documented_body(BlockCreate), **documented(BlockOut))
def create_block(workflow_id: str, org: str = Depends(organization_id), body: Any = Depends(json_body)) -> dict[str, Any]:
    req = parse(BlockCreate, body)
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        (block,) = _insert(s, workflow_id, [req])
        return block_to_wire(block)


@router.post("/batch", openapi_extra=documented_body(BlockCreate, array=True), **documented(list[BlockOut]))
def create_blocks(workflow_id: str, org: str = Depends(organization_id), body: Any = Depends(json_body)) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ApiError(422, "validation_error", "body must be a JSON array of blocks", {"field": "body"})
    requests = [parse(BlockCreate, item, prefix=f"body.{i}") for i, item in enumerate(body)]
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        return [block_to_wire(b) for b in _insert(s, workflow_id, requests)]


@router.get("", **documented(Page[BlockOut]))
def list_blocks(workflow_id: str, org: str = Depends(organization_id)) -> dict[str, Any]:
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        blocks = s.scalars(select(Block).where(Block.workflow_id == workflow_id).order_by(Block.created_at, Block.id))
        return list_envelope([block_to_wire(b) for b in blocks])


@router.get("/{block_id}", **documented(BlockOut))
def get_block_route(workflow_id: str, block_id: str, org: str = Depends(organization_id)) -> dict[str, Any]:
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        return block_to_wire(get_block(s, workflow_id, block_id))


@router.patch("/{block_id}", openapi_extra=documented_body(BlockUpdate), **documented(BlockOut))
def update_block(workflow_id: str, block_id: str, org: str = Depends(organization_id),
                 body: Any = Depends(json_body)) -> dict[str, Any]:
    req = parse(BlockUpdate, body)
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        block = get_block(s, workflow_id, block_id)
        for field, value in req.model_dump(exclude_unset=True).items():
            if value is None and field in ("label", "position_x", "position_y"):
                continue  # explicit nulls on non-nullable layout fields mean "leave as is"
            setattr(block, field, value)
        block.updated_at = datetime.now(timezone.utc)
        return block_to_wire(block)


@router.delete("/{block_id}", status_code=204)
def delete_block(workflow_id: str, block_id: str, org: str = Depends(organization_id)) -> Response:
    with session_scope() as s:
        get_workflow(s, org, workflow_id)
        s.delete(get_block(s, workflow_id, block_id))
    return Response(status_code=204)
