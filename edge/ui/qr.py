"""QR codes as SVG, rendered on the box so pages need no JavaScript QR library."""

from __future__ import annotations

import io

import segno


def qr_svg(text: str, scale: int = 8) -> bytes:
    """A standalone SVG; error correction M survives a scuffed kiosk screen and a gate camera."""
    code = segno.make_qr(text, error="m")
    buf = io.BytesIO()
    code.save(buf, kind="svg", scale=scale, border=4, dark="#000", light="#fff", xmldecl=False, svgns=True)
    return buf.getvalue()
