"""Config: unknown keys are refused with key and file named, env overrides win, secrets are masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError, load_settings
from tests.support.services import ROOT


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "store.toml"
    p.write_text(text)
    return p


def test_unknown_key_is_refused_naming_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 8081\nprot = 1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "http.prot" in str(err.value)
    assert str(path) in str(err.value)


def test_unknown_section_and_camera_key_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'htp'"):
        load_settings(write(tmp_path, "[htp]\nport = 1\n"))
    cams = '[[cameras]]\nid = "k1"\nsource = "0"\nrole = "kiosk"\nfsp = 3\n'
    with pytest.raises(ConfigError, match=r"cameras\.0\.fsp"):
        load_settings(write(tmp_path, cams))


def test_bad_values_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="store.timezone"):
        load_settings(write(tmp_path, '[store]\ntimezone = "Mars/Olympus"\n'))
    with pytest.raises(ConfigError, match="cameras.0.role"):
        load_settings(write(tmp_path, '[[cameras]]\nid = "k1"\nsource = "0"\nrole = "toaster"\n'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[http\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_env_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[http]\nport = 8081\nhost = "0.0.0.0"\n[store]\nid = "s1"\n')
    monkeypatch.setenv("RETAIL_EDGE_HTTP__PORT", "9099")
    monkeypatch.setenv("RETAIL_EDGE_STORE__TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("RETAIL_EDGE_MODEL_DIR", "/opt/models")
    s = load_settings(path)
    assert s.http.port == 9099
    assert s.http.host == "0.0.0.0"
    assert s.store.id == "s1"
    assert s.store.timezone == "Asia/Shanghai"
    assert str(s.model_dir) == "/opt/models"


def test_defaults_are_safe() -> None:
    s = load_settings(None)
    assert s.http.host == "127.0.0.1"  # not exposed on the LAN unless asked
    assert s.sync.url is None
    assert s.checkout.mode == "sandbox"


def test_every_field_has_a_description() -> None:
    from pydantic import BaseModel

    from edge.config import Settings

    missing: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(prefix + name)
            ann = field.annotation
            args = getattr(ann, "__args__", ()) or ()
            for t in (ann, *args):
                if isinstance(t, type) and issubclass(t, BaseModel):
                    walk(t, f"{prefix}{name}.")

    walk(Settings, "")
    assert missing == []


def check_config(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", "check-config", str(path)],
        capture_output=True,
        text=True,
        env=dict(os.environ, **env),
        cwd=ROOT,
    )


def test_check_config_masks_secrets_and_prints_effective_config(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "secrets").mkdir(parents=True)
    (data / "secrets" / "mqtt_password").write_text("hunter2-very-secret")
    path = write(
        tmp_path,
        f'[storage]\ndata_dir = "{data}"\n[mqtt]\nurl = "mqtt://broker:1883"\nusername = "edge"\n'
        '[sync]\nurl = "https://cloud.example/api?store=s1&access_token=tok-in-query"\n'
        '[[cameras]]\nid = "k1"\nsource = "/dev/video0"\nrole = "kiosk"\n'
        '[[cameras]]\nid = "f1"\nsource = "rtsp://admin:cam-pw-42@10.0.0.7:554/s1?password=cam-pw-42"\n'
        'role = "face"\n',
    )
    out = check_config(path, RETAIL_EDGE_HTTP__PORT="8123")
    assert out.returncode == 0, out.stderr
    for secret in ("hunter2", "cam-pw-42", "tok-in-query"):
        assert secret not in out.stdout, secret
    doc = json.loads(out.stdout)
    assert doc["http"]["port"] == 8123
    assert doc["secrets"] == {"mqtt_password": "***"}
    assert doc["mqtt"]["username"] == "edge"
    rtsp = "rtsp://admin:***@10.0.0.7:554/s1?password=***"
    assert doc["cameras"][1]["source"] == rtsp
    assert doc["would_run"]["cameras"] == ["k1 (kiosk) <- /dev/video0", f"f1 (face) <- {rtsp}"]
    assert doc["sync"]["url"] == doc["would_run"]["sync"] == "https://cloud.example/api?store=s1&access_token=***"


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('[mqtt]\nurl = "mqtt://edge:pw-in-url@broker:1883"\n', "RETAIL_EDGE_SECRET_MQTT_PASSWORD"),
        ('[sync]\nurl = "https://store:pw-in-url@cloud.example/api"\n', "RETAIL_EDGE_SECRET_SYNC_TOKEN"),
        ('[sync]\nurl = "https://pw-in-url@cloud.example/api"\n', "secrets/sync_token"),
    ],
)
def test_credentials_in_broker_or_cloud_url_are_refused(tmp_path: Path, toml: str, where: str) -> None:
    out = check_config(write(tmp_path, toml))
    assert out.returncode == 2
    assert "must not carry" in out.stderr and where in out.stderr
    assert "pw-in-url" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_credentials_in_broker_url_from_the_environment_are_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIL_EDGE_MQTT__URL", "mqtt://edge:pw@broker:1883")
    with pytest.raises(ConfigError, match="secrets/mqtt_password"):
        load_settings(None)
    monkeypatch.setenv("RETAIL_EDGE_MQTT__URL", "mqtt://edge@broker:1883")  # a user name is no secret
    assert load_settings(None).mqtt.url == "mqtt://edge@broker:1883"


def test_unparseable_env_value_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    out = check_config(write(tmp_path, "[http]\nport = 8081\n"), RETAIL_EDGE_CAMERAS="not json")
    assert out.returncode == 2
    assert "RETAIL_EDGE_CAMERAS" in out.stderr and "JSON" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_config_refuses_unknown_key_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[storage]\ndatadir = '/tmp'\n")
    out = check_config(path)
    assert out.returncode == 2
    assert "unknown key 'storage.datadir'" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_config_names_each_payment_rail_and_refuses_production_kiosks_without_one(tmp_path: Path) -> None:
    """The example store (production, a kiosk, both rails named) with its keys missing, then present."""
    data = tmp_path / "data"
    example = (ROOT / "examples" / "store.toml").read_text().replace("/var/lib/retail-edge", str(data))
    path = write(tmp_path, example)
    out = check_config(path)
    assert out.returncode == 2, out.stdout
    rails = json.loads(out.stdout)["would_run"]["payment_rails"]
    assert rails["alipay"] == "incomplete: missing secrets: alipay_app_private_key, alipay_public_key"
    assert rails["wechatpay"].startswith("incomplete: missing secrets: wechatpay_api_key")
    assert "no payment rail is ready" in out.stderr and "Traceback" not in out.stderr
    secret = "merchant-key-material-not-printed"  # any text: check-config only sees that it is there
    out = check_config(
        path, RETAIL_EDGE_SECRET_ALIPAY_APP_PRIVATE_KEY=secret, RETAIL_EDGE_SECRET_ALIPAY_PUBLIC_KEY="pem"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["would_run"]["payment_rails"]["alipay"].startswith("ready: app 2021000000000000")
    assert "not-printed" not in out.stdout + out.stderr
    sandboxed = example.replace('qr_acquirer = "rails"', 'qr_acquirer = "sandbox"')
    out = check_config(write(tmp_path, sandboxed))
    assert out.returncode == 2 and "qr_acquirer is 'sandbox'" in out.stderr
