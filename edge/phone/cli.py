"""`retail-edge phone entry`: today's entry code for the screen at the entrance and the trolleys."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import segno
import typer

from edge.phone.codes import EntryCodes
from edge.platform.cli import ConfigOpt, env, fail
from edge.platform.security import SecretStore, Signer

app = typer.Typer(help="Scan-and-go on the shopper's phone: the store's entry code.", no_args_is_help=True)


@app.command("entry")
def entry(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option(help="The day (YYYY-MM-DD, store time); default today.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="URL phones use to reach the box; default http.public_url.")
    ] = None,
    svg: Annotated[Path | None, typer.Option(help="Also write the QR code as an SVG file here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Print the URL of the day's entry code (it opens carts that day, and until
    phone.entry_grace_h after midnight)."""
    s = env(ctx).settings(config)
    secrets = SecretStore(s.storage.data_dir)
    codes = EntryCodes(Signer("entry_code", secrets.keyring("entry_code")), s.store.id, s.store.timezone,
                       s.phone.entry_grace_h)  # fmt: skip
    try:
        when = date.fromisoformat(day) if day else codes.today()
    except ValueError:
        raise fail(f"--day {day!r} is not a date like 2026-12-03", code=2) from None
    http = s.http
    host = "127.0.0.1" if http.host in ("0.0.0.0", "::") else http.host
    base = (base_url or http.public_url or f"http://{host}:{http.port}").rstrip("/")
    url = f"{base}/go/{codes.code(when)}"
    if svg is not None:
        segno.make(url, error="m").save(str(svg), kind="svg", scale=8, border=4)
    if json_out:
        typer.echo(json.dumps({"day": when.isoformat(), "url": url, "store": s.store.id}))
    else:
        typer.echo(url)
