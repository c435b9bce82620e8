"""The ASGI app: ``api_adapter.app:app`` (``wft api``)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from api_adapter.errors import RequestIdMiddleware, install_error_handlers
from api_adapter.routes import blocks, files, runs, tests, workflows
from models.db import session_scope


def create_app() -> FastAPI:
    app = FastAPI(title="wft", version="0.1.0",
                  description="Self-hosted workflow tests, API-compatible with Retab's Workflow Tests API")
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    # Run routes first: their static segments (/workflows/tests/runs) must win over /workflows/{id}.
    for module in (runs, workflows, blocks, files, tests):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with session_scope() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app


app = create_app()
