"""The printable sheet of room QR codes: an SVG and a PNG per room plus one HTML page to print."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import segno

from edge.fitting.codes import RoomCodes


@dataclass(frozen=True)
class RoomCode:
    room_id: str
    name: str
    url: str
    svg: Path
    png: Path


def write_sheet(codes: RoomCodes, out_dir: Path, base_url: str | None = None, store_name: str = "") -> list[RoomCode]:
    out_dir.mkdir(parents=True, exist_ok=True)
    made: list[RoomCode] = []
    for room in codes.rooms.values():
        url = codes.url(room.id, base_url)
        qr = segno.make(url, error="m", micro=False)
        svg, png = out_dir / f"room-{room.id}.svg", out_dir / f"room-{room.id}.png"
        qr.save(str(svg), scale=8, border=4, title=f"Fitting room {room.name or room.id}")
        qr.save(str(png), scale=10, border=4)
        made.append(RoomCode(room.id, room.name or room.id, url, svg, png))
    cards = "\n".join(
        f'<section class="card"><h2>{html.escape(c.name)}</h2>'
        f'<img src="{html.escape(c.svg.name)}" alt="QR code for {html.escape(c.name)}">'
        f"<p>Scan to call a guide or ask for another size</p>"
        f'<p class="url">{html.escape(c.url)}</p></section>'
        for c in made
    )
    title = html.escape(f"{store_name} fitting-room codes".strip())
    (out_dir / "index.html").write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title><style>"
        "body{font-family:sans-serif;margin:0}"
        ".card{width:90mm;height:120mm;display:inline-block;box-sizing:border-box;padding:8mm;margin:4mm;"
        "border:1px dashed #999;text-align:center;vertical-align:top;page-break-inside:avoid}"
        ".card img{width:70mm;height:70mm}.url{font-size:7pt;word-break:break-all;color:#555}"
        "@media print{.card{border-color:#ccc}}"
        f"</style></head><body><h1>{title}</h1>{cards}</body></html>",
        encoding="utf-8",
    )
    return made
