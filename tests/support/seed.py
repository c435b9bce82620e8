"""Direct database seeding for engine tests (the API has its own contract tests)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import update

from models import ids
from models.db import session_scope
from models.drafts import bump_change_seq
from models.tables import Block, File, Organization, TestRevision, Workflow


def make_org(name: str | None = None) -> str:
    with session_scope() as s:
        org = Organization(id=ids.new_id(ids.ORG), name=name or f"org-{secrets.token_hex(5)}")
        s.add(org)
    return org.id


def make_workflow(org_id: str, name: str = "Invoice workflow") -> str:
    with session_scope() as s:
        wf = Workflow(id=ids.new_id(ids.WORKFLOW), organization_id=org_id, name=name, description="",
                      email_trigger={}, change_seq=0)
        s.add(wf)
    return wf.id


def put_block(workflow_id: str, block_id: str, type_: str, config: dict[str, Any], label: str = "") -> None:
    with session_scope() as s:
        existing = s.get(Block, (workflow_id, block_id))
        if existing is None:
            s.add(Block(workflow_id=workflow_id, id=block_id, type=type_, label=label or block_id, config=config,
                        position_x=0, position_y=0))
        else:
            existing.config = config
            existing.type = type_


def add_file(org_id: str, filename: str, data: bytes, mime_type: str = "text/plain") -> str:
    with session_scope() as s:
        f = File(id=ids.new_id(ids.FILE), organization_id=org_id, filename=filename, mime_type=mime_type,
                 size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data, status="complete")
        s.add(f)
    return f.id


def add_test(org_id: str, workflow_id: str, block_id: str, handle_inputs: dict[str, Any],
             assertion: dict[str, Any], name: str | None = None) -> str:
    assertion = {"id": ids.new_id(ids.ASSERTION), "label": None, **assertion}
    assertion.setdefault("target", {"output_handle_id": "output-json-0", "path": ""})
    with session_scope() as s:
        seq = bump_change_seq(s, workflow_id)
        test_id = ids.new_id(ids.TEST)
        s.add(TestRevision(id=test_id, created_seq=seq, organization_id=org_id, workflow_id=workflow_id,
                           target_block_id=block_id, name=name,
                           source={"type": "manual", "handle_inputs": handle_inputs}, assertion=assertion,
                           test_created_at=datetime.now(timezone.utc)))
    return test_id


def add_tests_bulk(org_id: str, workflow_id: str, block_id: str, n: int, handle_inputs: dict[str, Any],
                   assertion: dict[str, Any]) -> list[str]:
    """Many tests in one transaction (benchmarks, big runs)."""
    now = datetime.now(timezone.utc)
    out = []
    with session_scope() as s:
        seq = bump_change_seq(s, workflow_id)
        rows = []
        for i in range(n):
            test_id = ids.new_id(ids.TEST)
            out.append(test_id)
            rows.append(TestRevision(id=test_id, created_seq=seq, organization_id=org_id, workflow_id=workflow_id,
                                     target_block_id=block_id, name=f"t{i}",
                                     source={"type": "manual", "handle_inputs": handle_inputs},
                                     assertion={"id": f"assert_{i}", "label": None, **assertion},
                                     test_created_at=now))
        s.add_all(rows)
    return out


def delete_test(workflow_id: str, test_id: str) -> None:
    with session_scope() as s:
        seq = bump_change_seq(s, workflow_id)
        s.execute(update(TestRevision).where(TestRevision.id == test_id, TestRevision.retired_seq.is_(None))
                  .values(retired_seq=seq))


def function_block(code: str) -> dict[str, Any]:
    return {"code": code}


def json_input(data: Any) -> dict[str, Any]:
    return {"type": "json", "data": data}


def file_input(file_id: str) -> dict[str, Any]:
    return {"type": "file", "file_id": file_id}


TRIVIAL_DOC = b"INVOICE\nVendor: Acme Inc\nTotal: 12.50\n"
TRIVIAL_SCHEMA = {"type": "object", "properties": {"vendor": {"type": "string"}, "total": {"type": "number"}}}


def trivial_extract_workflow(n_tests: int, latency_ms: int = 0, n_consensus: int | None = None) -> tuple[str, str]:
    """A new organization and workflow with one extract block and ``n_tests`` identical passing
    tests over a two-line document (benchmarks and fault runs). Returns ``(org_id, workflow_id)``."""
    org = make_org()
    wf = make_workflow(org)
    config: dict[str, Any] = {"json_schema": TRIVIAL_SCHEMA, "sim_latency_ms": latency_ms}
    if n_consensus:
        config["n_consensus"] = n_consensus
    put_block(wf, "x", "extract", config)
    file_id = add_file(org, "doc.txt", TRIVIAL_DOC)
    add_tests_bulk(org, wf, "x", n_tests, {"input-file-document": file_input(file_id)},
                   {"target": {"output_handle_id": "output-json-0", "path": "vendor"},
                    "condition": {"kind": "equals", "expected": "Acme Inc"}})
    return org, wf
