"""The OpenAPI document the daemon serves, made to say what the daemon really answers.

FastAPI describes a 422 as its own `HTTPValidationError` and no other error at all, while every
error here is one body (`{"error": {"code", "message", ...}}`, see `factory.py`). The fuzzer in the
suite validates each response against this document, so it has to be exact: every operation
declares that body for 422 and as its `default` answer, and the ways a caller proves who it is are
named as security schemes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = "#/components/schemas/ErrorBody"
ERROR_BODY: dict[str, Any] = {
    "title": "ErrorBody",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, stable"},
                "message": {"type": "string", "description": "a sentence a person can act on"},
                "details": {"description": "what exactly was wrong, when there is more to say"},
            },
        }
    },
}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "a device token (kiosk, gate, guide, camera) or a staff session token from /api/auth/login",
    },
    "session": {"type": "apiKey", "in": "cookie", "name": "re_session", "description": "the staff page's session"},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}


def describe(app: FastAPI) -> dict[str, Any]:
    """The document for `app`: FastAPI's, with the real error body and the security schemes."""
    spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorBody"] = ERROR_BODY
    components["securitySchemes"] = SECURITY_SCHEMES
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _error("the request is not valid; `details` lists each field and its problem")
            responses["default"] = _error("refused or failed: the error body, with a code and a sentence")
    return spec


def install(app: FastAPI) -> None:
    """Serve `describe(app)` at /openapi.json, built once on first use."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
