"""One Settings tree: a TOML file plus RETAIL_EDGE_<SECTION>__<KEY> environment overrides.

Secrets never live here; see edge.platform.security. Unknown keys are errors that name the key and file,
because a typo in a store's config must not silently fall back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from edge.cameras.settings import CameraSettings
from edge.checkout.settings import CheckoutSettings
from edge.facepay.settings import FacepaySettings
from edge.fitting.settings import FittingSettings
from edge.mqtt.settings import MqttSettings
from edge.phone.settings import PhoneSettings
from edge.platform.security import SECRET_ENV_PREFIX
from edge.platform.settings import HttpSettings, LoggingSettings, StorageSettings, StoreSettings
from edge.scanning.settings import ScanningSettings
from edge.sync.settings import SyncSettings

ENV_PREFIX = "RETAIL_EDGE_"
CONFIG_ENV = "RETAIL_EDGE_CONFIG"


class ConfigError(Exception):
    """A config that cannot be used; the message says what to fix and where."""


class Settings(BaseSettings):
    """The whole daemon configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    store: StoreSettings = Field(default_factory=StoreSettings, description="Store identity.")
    http: HttpSettings = Field(default_factory=HttpSettings, description="HTTP server.")
    storage: StorageSettings = Field(default_factory=StorageSettings, description="State on disk.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="Logging.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Store MQTT broker.")
    sync: SyncSettings = Field(default_factory=SyncSettings, description="Cloud sync.")
    model_dir: Path = Field(
        default=Path("models"), description="Directory holding the ONNX face models (RETAIL_EDGE_MODEL_DIR)."
    )
    cameras: list[CameraSettings] = Field(default_factory=list, description="Cameras and their roles.")
    scanning: ScanningSettings = Field(default_factory=ScanningSettings, description="Barcode scanning.")
    checkout: CheckoutSettings = Field(default_factory=CheckoutSettings, description="Scan-and-go checkout.")
    facepay: FacepaySettings = Field(default_factory=FacepaySettings, description="Face-pay.")
    fitting: FittingSettings = Field(default_factory=FittingSettings, description="Fitting rooms.")
    phone: PhoneSettings = Field(default_factory=PhoneSettings, description="Scan-and-go on the shopper's phone.")

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cams: list[CameraSettings]) -> list[CameraSettings]:
        seen: set[str] = set()
        for cam in cams:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice")
            seen.add(cam.id)
        return cams

    @field_validator("mqtt")
    @classmethod
    def _no_password_in_broker_url(cls, mqtt: MqttSettings) -> MqttSettings:
        # Secrets never come from the config: a password in the URL would be printed, logged
        # and committed with the TOML.
        if urlsplit(mqtt.url).password is not None:
            raise ValueError(
                "mqtt.url must not carry a password; set mqtt.username and put the password in "
                f"<data_dir>/secrets/mqtt_password (0600) or {SECRET_ENV_PREFIX}MQTT_PASSWORD"
            )
        return mqtt

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file (init carries the TOML), as operators expect.
        return (env_settings, init_settings)


def _format_errors(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}' in {origin}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"invalid value for '{key}' in {origin}: {msg}")
    return "; ".join(lines)


def _format_env_error(exc: SettingsError) -> str:
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else ""
    names = sorted(n for n in os.environ if field and n.upper().startswith(f"{ENV_PREFIX}{field.upper()}"))
    var = " or ".join(names) or f"a {ENV_PREFIX}* variable"
    reason = f" ({exc.__cause__})" if exc.__cause__ else ""
    return (
        f"cannot read {var} from the environment{reason}: lists and tables must be given as JSON, "
        f'e.g. {ENV_PREFIX}CAMERAS=\'[{{"id": "k1", "source": "0", "role": "kiosk"}}]\''
    )


def config_path_from_env(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else None


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read the TOML file (if any), apply env overrides, validate everything at once."""
    data: dict[str, Any] = {}
    origin = "defaults and environment"
    if path is not None:
        origin = str(path)
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, f"{origin} (or {ENV_PREFIX}* environment)")) from exc
    except SettingsError as exc:  # an env value pydantic-settings cannot even parse (bad JSON)
        raise ConfigError(_format_env_error(exc)) from exc


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def describe(settings: Settings) -> dict[str, Any]:
    """The effective config as plain data (no secrets are in Settings by construction)."""
    return settings.model_dump(mode="json")
