"""The one error type the storage and adapter layers raise for a client's mistake.
The HTTP layer renders it as ``{"detail": {"code", "message", "details"}}`` (the body the SDK parses)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return {"detail": {"code": self.code, "message": self.message, "details": self.details}}


def not_found(kind: str, ident: str) -> ApiError:
    # Foreign resources are reported exactly like unknown ones: never reveal other tenants.
    return ApiError(404, f"{kind}_not_found", f"{kind} {ident!r} not found", {f"{kind}_id": ident})
