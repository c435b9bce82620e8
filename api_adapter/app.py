"""The ASGI app: ``api_adapter.app:app`` (``wft api``)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from api_adapter.errors import RejectNulMiddleware, RequestIdMiddleware, install_error_handlers
from api_adapter.responses import Health, documented
from api_adapter.routes import blocks, files, runs, tests, workflows
from models.db import session_scope


def create_app() -> FastAPI:
    app = FastAPI(title="wft", version="0.1.0",
                  description="Self-hosted workflow tests, API-compatible with Retab's Workflow Tests API")
    install_error_handlers(app)
    # add_middleware wraps: the last one added is the outermost (so every response gets an id).
    app.add_middleware(RejectNulMiddleware)
    app.add_middleware(RequestIdMiddleware)
    # Run routes first: their static segments (/workflows/tests/runs) must win over /workflows/{id}.
    for module in (runs, workflows, blocks, files, tests):
        app.include_router(module.router)

    _document_error_body(app)

    @app.get("/healthz", tags=["health"], **documented(Health))
    def healthz() -> dict[str, str]:
        with session_scope() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app


ERROR_BODY_SCHEMA = {
    "title": "ErrorBody",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "object", "required": ["code", "message", "details"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}},
}


def _document_error_body(app: FastAPI) -> None:
    """Every error, request validation included, has the body the SDK parses; say so in the
    OpenAPI document instead of FastAPI's default list-shaped 422. Also hoists the request
    bodies' nested models into ``components/schemas``."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["HTTPValidationError"] = ERROR_BODY_SCHEMA
            components.pop("ValidationError", None)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                    # Request models documented by deps.documented_body carry their nested models
                    # in $defs; OpenAPI wants them among the components.
                    components.update(body.get("schema", {}).pop("$defs", {}))
                    responses = operation.setdefault("responses", {})
                    for status in ("401", "404", "409", "413", "415", "422", "503"):
                        responses.setdefault(status, {"description": "error", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


app = create_app()
