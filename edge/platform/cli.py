"""What a domain's sub-commands get from the root `retail-edge` command.

Domains never import the root CLI (that made an import loop): the root puts a `CliEnv` on
typer's context object, and a domain command that needs the settings or the database asks
`env(ctx)` for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer

if TYPE_CHECKING:
    from edge.config import Settings
    from edge.platform.store import Store

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (or RETAIL_EDGE_CONFIG).", show_default=False),
]


class CliEnv(Protocol):
    def settings(self, config: Path | None) -> Settings:
        """The settings from this file (or RETAIL_EDGE_CONFIG); exits 2 with the reason when broken."""

    def open_store(self, settings: Settings) -> Store:
        """The database, checked, backed up and migrated; exits 3 with a sentence when refused."""


def env(ctx: typer.Context) -> CliEnv:
    found: CliEnv | None = ctx.find_root().obj
    if found is None:
        raise RuntimeError("retail-edge sub-commands run under the root command (edge.cli), which sets the env")
    return found


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` in red on stderr; raise the returned Exit."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)
