"""The `retail-edge` command line. Each domain brings its own sub-commands."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from edge.checkout.railsetup import production_problem, rail_status
from edge.config import ConfigError, Settings, config_path_from_env, describe, load_settings
from edge.platform.cli import ConfigOpt, fail
from edge.platform.errors import EdgeError, StartupRefused
from edge.platform.observability import setup_logging
from edge.platform.security import RingDelivered, SecretStore, mask_secrets
from edge.platform.store import Store

app = typer.Typer(
    help="retail-edge: the in-store edge daemon (scan-and-go, face-pay, fitting room, cloud sync).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Store-IT users (dashboard and admin API logins).", no_args_is_help=True)
devices_app = typer.Typer(help="Kiosks, guide handhelds and gates (per-device tokens).", no_args_is_help=True)
keys_app = typer.Typer(help="Signing and encryption keys (rotation).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(devices_app, name="devices")
app.add_typer(keys_app, name="keys")
mqtt_app = typer.Typer(help="The store broker's accounts (one per handheld and gate).", no_args_is_help=True)
app.add_typer(mqtt_app, name="mqtt")


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config_path_from_env(config))
    except ConfigError as exc:
        raise fail(str(exc)) from None


def open_storage(settings: Settings) -> Store:
    """Check, back up and migrate; a refusal is a sentence and exit code 3, never a traceback."""
    from edge.app import prepare_storage

    try:
        return prepare_storage(settings)
    except StartupRefused as exc:
        raise fail(str(exc), code=3) from None


class _RootEnv:
    """The CliEnv domain sub-commands get (edge.platform.cli)."""

    def settings(self, config: Path | None) -> Settings:
        return settings_or_exit(config)

    def open_store(self, settings: Settings) -> Store:
        return open_storage(settings)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """retail-edge: the in-store edge daemon (scan-and-go, face-pay, fitting room, cloud sync)."""
    ctx.obj = _RootEnv()


@app.command()
def run(config: ConfigOpt = None) -> None:
    """Start the daemon (HTTP API, pages, cameras, MQTT, sync) until SIGTERM."""
    settings = settings_or_exit(config)
    setup_logging(settings.logging.level, settings.logging.format)
    from edge.app import run_daemon

    try:
        code = run_daemon(settings)
    except StartupRefused as exc:
        raise fail(str(exc), code=3) from None
    raise typer.Exit(code)


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo store keeps its state.")] = Path(".demo-data"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
    mqtt_url: Annotated[str, typer.Option(help="Broker URL; a local mosquitto is started if none answers.")] = (
        "mqtt://127.0.0.1:1883"
    ),
) -> None:
    """Run the demo store: demo config, catalog, generated camera clips, tokens; prints the URLs."""
    setup_logging("INFO", "text")
    from edge.demo.runner import run_demo

    try:
        code = run_demo(data_dir.resolve(), host, port, mqtt_url, say=lambda text: typer.echo(text))
    except StartupRefused as exc:
        raise fail(str(exc), code=3) from None
    raise typer.Exit(code)


@app.command("check-config")
def check_config(
    file: Annotated[Path, typer.Argument(help="The TOML file to validate.")],
) -> None:
    """Validate a config file and print the effective config (environment applied, secrets masked)."""
    try:
        settings = load_settings(file)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    data = mask_secrets(describe(settings))
    store = SecretStore(settings.storage.data_dir)
    data["secrets"] = {name: "***" for name in store.names()}
    # Built from the masked dump, never from `settings`: camera URLs may carry passwords.
    data["would_run"] = {
        "listen": f"http://{settings.http.host}:{settings.http.port}",
        "database": str(settings.storage.data_dir / "edge.db"),
        "cameras": [f"{c['id']} ({c['role']}) <- {c['source']}" for c in data["cameras"] if c["enabled"]],
        "rooms": [r.id for r in settings.fitting.rooms],
        "sync": data["sync"]["url"] or "off",
        "payment_rails": {
            name: f"{st.state}: {st.reason}" for name, st in rail_status(settings.checkout, store).items()
        },
    }
    typer.echo(json.dumps(data, indent=2, default=str))
    problem = production_problem(settings.checkout, store, any(c.role == "kiosk" for c in settings.cameras))
    if problem:
        raise fail(problem)


@app.command()
def migrate(config: ConfigOpt = None) -> None:
    """Back up the database and apply pending schema migrations."""
    settings = settings_or_exit(config)
    setup_logging("WARNING", "text")
    db = open_storage(settings)
    current = sorted(db.schema.current_revisions())
    typer.echo(f"database {db.path} is at {', '.join(current)}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a store-IT user (argon2-hashed password)."""
    settings = settings_or_exit(config)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    access = _access(settings)
    try:
        access.add_user(username, password)
    except EdgeError as exc:
        raise fail(exc.message) from None
    typer.echo(f"user {username} created")


@users_app.command("disable")
def users_disable(username: str, config: ConfigOpt = None) -> None:
    """Disable a user; their open dashboard sessions end at once."""
    try:
        _access(settings_or_exit(config)).end_sessions(username, actor="cli", disable=True)
    except EdgeError as exc:
        raise fail(exc.message) from None
    typer.echo(f"user {username} disabled")


@users_app.command("list")
def users_list(config: ConfigOpt = None) -> None:
    """List store-IT users."""
    for user in _access(settings_or_exit(config)).list_users():
        typer.echo(f"{user.username}\t{user.role}\t{'disabled' if user.disabled else 'active'}")


@devices_app.command("add")
def devices_add(
    device_id: Annotated[str, typer.Argument(help="Device id, e.g. kiosk-1.")],
    role: Annotated[str, typer.Option(help="kiosk, guide, gate or manager.")],
    name: Annotated[str, typer.Option(help="A name people recognise.")] = "",
    config: ConfigOpt = None,
) -> None:
    """Register a device and print its token once (only a hash is kept)."""
    access = _access(settings_or_exit(config))
    try:
        token = access.add_device(device_id, role, name)
    except EdgeError as exc:
        raise fail(exc.message) from None
    typer.echo(token)


@mqtt_app.command("accounts")
def mqtt_accounts(
    passwd: Annotated[Path, typer.Option(help="The broker's password file to write.")] = Path(
        "/etc/mosquitto/retail-edge.passwd"
    ),
    acl: Annotated[Path, typer.Option(help="The broker's ACL file to write.")] = Path("/etc/mosquitto/retail-edge.acl"),
    config: ConfigOpt = None,
) -> None:
    """Write the broker's password file and ACL from the device registry: the edge, and one account
    per guide, manager and gate (its device id, its token as the password). Then reload the broker."""
    from edge.mqtt.accounts import Account, write_files
    from edge.platform.security import broker_password_hash

    settings = settings_or_exit(config)
    edge_password = SecretStore(settings.storage.data_dir).get("mqtt_password")
    if not edge_password or not settings.mqtt.username:
        raise fail("set mqtt.username and the mqtt_password secret first: the edge needs its own account")
    accounts = [Account(settings.mqtt.username, "edge", broker_password_hash(edge_password))]
    accounts += [Account(d, role, h) for d, role, h in _access(settings).broker_accounts()]
    try:
        n = write_files(accounts, passwd, acl)
    except OSError as exc:
        raise fail(f"cannot write {exc.filename}: {exc.strerror}") from None
    typer.echo(f"{n} broker accounts written to {passwd} and {acl}; now: systemctl reload mosquitto")


@devices_app.command("list")
def devices_list(config: ConfigOpt = None) -> None:
    """List devices (never their tokens)."""
    for dev in _access(settings_or_exit(config)).list_devices():
        typer.echo(f"{dev.id}\t{dev.role}\t{'revoked' if dev.revoked else 'active'}\t{dev.name}")


@devices_app.command("revoke")
def devices_revoke(device_id: str, config: ConfigOpt = None) -> None:
    """Revoke a device token at once."""
    try:
        _access(settings_or_exit(config)).revoke_device(device_id)
    except EdgeError as exc:
        raise fail(exc.message) from None
    typer.echo(f"device {device_id} revoked")


@keys_app.command("rotate")
def keys_rotate(
    purpose: Annotated[str, typer.Argument(help="session, exit_pass, room_code, member, coupon, guide or templates.")],
    retire_old: Annotated[bool, typer.Option(help="Also drop the older keys (their tokens stop working).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Add a new active key; old keys keep verifying unless retired."""
    settings = settings_or_exit(config)
    ring = SecretStore(settings.storage.data_dir).keyring(purpose)
    try:
        kid = ring.rotate()
        gone = ring.retire_all_but_active() if retire_old else []
    except RingDelivered as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{purpose}: active key {kid}" + (f"; retired {', '.join(gone)}" if gone else ""))


def _access(settings: Settings):  # type: ignore[no-untyped-def]
    from edge.access.service import AccessService
    from edge.platform.security import Signer

    db = open_storage(settings)
    store = SecretStore(settings.storage.data_dir)
    return AccessService(db, Signer("session", store.keyring("session")))


def _register_domain_commands() -> None:
    from edge.checkout.cli import app as catalog_app
    from edge.facepay.cli import face_app, models_app
    from edge.fitting.cli import app as rooms_app
    from edge.phone.cli import app as phone_app
    from edge.scanning.cli import decode

    app.command("decode")(decode)
    app.add_typer(face_app, name="face")
    app.add_typer(models_app, name="models")
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(rooms_app, name="rooms")
    app.add_typer(phone_app, name="phone")


_register_domain_commands()


def main() -> None:
    logging.captureWarnings(True)
    app()
