"""/healthz (alive), /readyz (each component with a reason), /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge import __version__
from edge.platform.web import answers

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "alive", "version": __version__}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    comps = request.app.state.daemon.health()
    body: dict[str, Any] = {name: h.model_dump() for name, h in comps.items()}
    required_down = [n for n, h in comps.items() if h.required and h.status == "down"]
    if required_down:
        overall = "down"
    elif any(h.status != "ok" for h in comps.values()):
        overall = "degraded"
    else:
        overall = "ok"
    return JSONResponse(status_code=503 if required_down else 200, content={"status": overall, "components": body})


@router.get("/metrics", response_class=Response, responses=answers(CONTENT_TYPE_LATEST, "Prometheus text"))
def metrics(request: Request) -> Response:
    request.app.state.daemon.ctx.refresh_metrics()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
