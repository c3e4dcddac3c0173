"""`retail-edge catalog ...`: import product files, show what the box sells."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from edge.platform.cli import ConfigOpt, env, fail

app = typer.Typer(help="Product catalog: import, show.", no_args_is_help=True)


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .csv (header row) or .json product file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import products (upsert by GTIN); refused rows are listed with the reason."""
    from edge.checkout.catalog import import_products, read_file
    from edge.platform.errors import EdgeError

    settings = env(ctx).settings(config)
    if not file.is_file():
        raise fail(f"{file} is not a file")
    try:
        rows = read_file(file)
    except EdgeError as exc:
        raise fail(exc.message) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    db = env(ctx).open_store(settings)
    with typer.progressbar(length=len(rows), label="importing", hidden=json_out, file=sys.stderr) as bar:
        report = import_products(db, rows, default_currency=settings.store.currency, progress=bar.update)
    if json_out:
        out = report.summary()
        out["refusals"] = [r.__dict__ for r in report.refused[:1000]]
        typer.echo(json.dumps(out))
    else:
        typer.echo(f"accepted {report.accepted}, refused {len(report.refused)}")
        for r in report.refused[:50]:
            typer.echo(f"  row {r.row} gtin {r.gtin!r}: {r.code}: {r.reason}")
        if len(report.refused) > 50:
            typer.echo(f"  ... and {len(report.refused) - 50} more (use --json for all)")
    raise typer.Exit(0 if report.accepted or not rows else 1)


@app.command("show")
def show(
    ctx: typer.Context,
    gtin: Annotated[str | None, typer.Argument(help="Show one product (and its variants).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Show catalog counts, or one product."""
    from edge.checkout.catalog import Catalog

    db = env(ctx).open_store(env(ctx).settings(config))
    catalog = Catalog(db)
    if gtin is None:
        typer.echo(json.dumps(catalog.counts()))
        return
    product = catalog.get(gtin)
    if product is None:
        raise fail(f"no product {gtin!r}")
    typer.echo(
        json.dumps({"product": product.model_dump(), "variants": [v.model_dump() for v in catalog.variants(gtin)]})
    )
