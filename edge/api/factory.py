"""The FastAPI app factory: error mapping, security headers, health, auth, domain routers, pages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from edge import __version__
from edge.api import admin_router, health_router
from edge.api.headers import HeadersAndMetrics
from edge.api.limits import BodyLimit
from edge.api.openapi import install as install_openapi
from edge.api.origin import SameOrigin
from edge.platform.errors import EdgeError
from edge.platform.paths import ui_dir

if TYPE_CHECKING:
    from edge.app import Daemon

log = logging.getLogger(__name__)


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def create_app(daemon: Daemon) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await daemon.start()
        try:
            yield
        finally:
            await daemon.stop()

    # /openapi.json stays public (the API contract); the Swagger and ReDoc pages are not served:
    # they load scripts from a CDN our CSP forbids and are one more anonymous page.
    app = FastAPI(title="retail-edge", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.ctx = daemon.ctx
    app.state.daemon = daemon

    @app.exception_handler(EdgeError)
    async def _edge_error(_r: Request, exc: EdgeError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"error": exc.to_dict()})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")} for e in exc.errors()
        ]
        return JSONResponse(
            status_code=422,
            content=error_body("invalid_request", "the request is not valid; see details", details=problems[:20]),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(status_code=exc.status_code, content=error_body(code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _crash(_r: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(status_code=500, content=error_body("internal_error", "internal error; see the logs"))

    app.add_middleware(SameOrigin)
    app.add_middleware(HeadersAndMetrics)

    # Face images arrive base64-encoded (4/3 of their size), up to ten per enrolment.
    face_cap = int(daemon.settings.facepay.max_upload_bytes * 10 * 4 / 3) + 64 * 1024
    go_cap = daemon.settings.scanning.phone.max_bytes + 16 * 1024  # one phone frame, raw JPEG
    app.add_middleware(BodyLimit, prefixes={"/api/face/": face_cap, "/api/go/": go_cap, "/api/staff/frames": go_cap})

    app.include_router(health_router.router)
    app.include_router(admin_router.router)
    for comp in daemon.components:
        for router in comp.routers():
            app.include_router(router)

    ui = ui_dir()
    if ui.is_dir():
        app.mount("/ui", StaticFiles(directory=ui, html=True), name="ui")

    for page in ("kiosk", "dashboard", "guide", "gate"):

        def _redirect(page: str = page) -> RedirectResponse:
            return RedirectResponse(f"/ui/{page}/", status_code=307)

        app.add_api_route(f"/{page}", _redirect, include_in_schema=False, methods=["GET"])

    install_openapi(app)
    return app
