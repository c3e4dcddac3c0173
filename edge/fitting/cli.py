"""`retail-edge rooms ...`: list rooms, print their QR codes, rotate the room-code key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edge.fitting.codes import RoomCodes
from edge.fitting.settings import FittingSettings
from edge.platform.cli import ConfigOpt, env, fail
from edge.platform.codes import Codes
from edge.platform.security import RingDelivered, SecretStore

app = typer.Typer(help="Fitting rooms: printable QR codes, token rotation.", no_args_is_help=True)


def _codes(ctx: typer.Context, config: Path | None) -> tuple[str, FittingSettings, RoomCodes]:
    """(store name, the fitting section, the room codes) of this config."""
    s = env(ctx).settings(config)
    codes = RoomCodes(s.fitting.rooms, s.store.id, s.http, Codes(SecretStore(s.storage.data_dir)))
    return s.store.name, s.fitting, codes


@app.command("list")
def list_rooms(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per room.")] = False,
    config: ConfigOpt = None,
) -> None:
    """List configured rooms with their zone, camera and escalation time."""
    _name, fitting, codes = _codes(ctx, config)
    if not codes.rooms:
        typer.secho("no rooms configured (add [[fitting.rooms]] to the config)", err=True)
        raise typer.Exit(1)
    for room in codes.rooms.values():
        esc = fitting.escalation_s(room.zone)
        if json_out:
            data = {
                "id": room.id,
                "name": room.name,
                "zone": room.zone,
                "camera": room.camera,
                "escalate_after_s": esc,
            }
            typer.echo(json.dumps(data))
        else:
            cols = [room.id, room.name or room.id, f"zone={room.zone}", f"camera={room.camera or '-'}"]
            typer.echo("\t".join([*cols, f"escalate={esc}s"]))


@app.command("codes")
def codes_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory for the SVG/PNG per room and index.html.")],
    base_url: Annotated[
        str | None, typer.Option(help="URL phones use to reach the box; default http.public_url.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Write a printable sheet of room QR codes (print index.html)."""
    from edge.fitting.sheet import write_sheet

    store_name, _fitting, codes = _codes(ctx, config)
    if not codes.rooms:
        raise fail("no rooms configured (add [[fitting.rooms]] to the config)")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise fail("--base-url must start with http:// or https://")
    try:
        made = write_sheet(codes, out, base_url, store_name)
    except OSError as exc:
        raise fail(f"cannot write to {out}: {exc.strerror}") from None
    for c in made:
        typer.echo(f"{c.room_id}\t{c.svg}\t{c.url}")
    typer.echo(f"print {out / 'index.html'}")


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every printed room code stops working.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Rotate the room-code key and retire the old ones; reprint the codes afterwards."""

    if not yes:
        raise fail("rotation invalidates every printed room code; run again with --yes, then reprint")
    *_rest, codes = _codes(ctx, config)
    try:
        kid, gone = codes.rotate()
    except RingDelivered as exc:
        raise fail(str(exc)) from None
    typer.echo(f"room codes now signed with {kid}; retired {', '.join(gone) or 'none'}; reprint with `rooms codes`")
