"""`retail-edge decode`: still images through the same strategy the cameras use."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from edge.platform.cli import env
from edge.platform.observability import escape_text
from edge.scanning.strategy import Strategy


def _strategy(ctx: typer.Context) -> Strategy:
    """The configured strategy (RETAIL_EDGE_CONFIG and RETAIL_EDGE_* env), the defaults without a
    config; a broken config is an error (exit 2), never a silent fall-back to defaults."""
    from edge.scanning.component import make_strategy

    return make_strategy(env(ctx).settings(None).scanning)


def decode_file(strategy: Strategy, image: str) -> dict[str, Any]:
    """One image -> the JSON-line dict; an unreadable image gives empty codes and an error."""
    import cv2
    import numpy as np

    t0 = time.perf_counter()
    out: dict[str, Any] = {"image": image, "codes": []}
    try:
        data = np.fromfile(image, dtype=np.uint8) if Path(image).is_file() else None
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    except (OSError, ValueError, cv2.error):
        frame = None
    if frame is None:
        out["error"] = {"code": "image_unreadable", "message": "not a readable image file"}
    else:
        outcome = strategy.decode(frame)
        out["codes"] = [{"symbology": c.symbology, "text": c.text, "gtin": c.gtin} for c in outcome.codes]
    out["ms"] = round((time.perf_counter() - t0) * 1000, 1)
    return out


def decode(
    ctx: typer.Context,
    images: Annotated[list[str], typer.Argument(help="Still images to decode.")],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per image.")] = False,
) -> None:
    """Decode barcodes in still images with the cameras' strategy.

    Exit 0 when a code was read in every image, 1 when some image had none, 2 when a file could
    not be read as an image (every image still gets its line first)."""
    strategy = _strategy(ctx)
    unreadable = no_code = 0
    for image in images:
        result = decode_file(strategy, image)
        unreadable += "error" in result
        no_code += "error" not in result and not result["codes"]
        if json_out:
            # ensure_ascii: control characters, <script> and odd bytes stay inert data on one line
            typer.echo(json.dumps(result, ensure_ascii=True))
            continue
        name = escape_text(image, 200)
        if "error" in result:
            typer.echo(f"{name}: error {result['error']['code']}")
        elif not result["codes"]:
            typer.echo(f"{name}: no code ({result['ms']} ms)")
        for code in result["codes"]:
            gtin = f" gtin {code['gtin']}" if code["gtin"] else ""
            typer.echo(f"{name}: {code['symbology']} {escape_text(code['text'], 300)}{gtin} ({result['ms']} ms)")
    if unreadable or no_code:
        raise typer.Exit(2 if unreadable else 1)
