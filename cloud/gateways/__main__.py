"""Run both gateway simulators as one process: `python -m cloud.gateways --dir D [--latency-ms 300]`.

Key material is made once into D (so a box configured from D keeps working across restarts);
D/gateways.json, written last and atomically, says where the simulators listen, and is removed on
exit because its URLs die with the process.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import threading
from pathlib import Path
from types import FrameType

from cloud.gateways.alipay import AlipaySimulator
from cloud.gateways.base import new_rsa_pair
from cloud.gateways.wechat import WeChatPaySimulator

ALIPAY_APP_ID = "2021000000000001"  # a sandbox-shaped app id; the simulator accepts only this one
WECHAT_APPID = "wx5im0000000000001"
WECHAT_MCH_ID = "1900000109"


def _write(path: Path, text: str, private: bool) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    if private:
        tmp.chmod(0o600)
    os.replace(tmp, path)


def ensure_keys(directory: Path) -> dict[str, str]:
    """Read the key files from `directory`, making the missing pairs first."""
    directory.mkdir(parents=True, exist_ok=True)
    for who in ("alipay_gateway", "alipay_app"):
        private, public = directory / f"{who}_private.pem", directory / f"{who}_public.pem"
        if not (private.exists() and public.exists()):
            private_pem, public_pem = new_rsa_pair()
            _write(private, private_pem, private=True)
            _write(public, public_pem, private=False)
    api_key = directory / "wechat_api_key"
    if not api_key.exists():
        _write(api_key, secrets.token_hex(16), private=True)  # 32 characters, as WeChat's API keys are
    names = (
        "alipay_gateway_private.pem",
        "alipay_gateway_public.pem",
        "alipay_app_private.pem",
        "alipay_app_public.pem",
    )
    keys = {name: (directory / name).read_text() for name in names}
    keys["wechat_api_key"] = api_key.read_text().strip()
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud.gateways", description=__doc__)
    parser.add_argument("--dir", required=True, type=Path, help="where keys and gateways.json live")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every gateway call")
    args = parser.parse_args(argv)
    directory: Path = args.dir
    keys = ensure_keys(directory)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    alipay = AlipaySimulator(
        ALIPAY_APP_ID, keys["alipay_app_public.pem"], keys["alipay_gateway_private.pem"], args.latency_ms
    )
    wechat = WeChatPaySimulator(WECHAT_APPID, WECHAT_MCH_ID, keys["wechat_api_key"], args.latency_ms)
    where = directory / "gateways.json"
    try:
        alipay_url, wechat_url = alipay.start(), wechat.start()
        doc = {
            "alipay": {"url": alipay_url, "app_id": ALIPAY_APP_ID, "control": alipay.base_url + "/_sim/"},
            "wechat": {
                "url": wechat_url,
                "appid": WECHAT_APPID,
                "mch_id": WECHAT_MCH_ID,
                "control": wechat_url + "_sim/",
            },
        }
        _write(where, json.dumps(doc, indent=2) + "\n", private=False)
        print(f"gateway simulators: alipay {alipay_url}, wechat {wechat_url}", flush=True)
        stop.wait()
    finally:
        where.unlink(missing_ok=True)
        alipay.stop()
        wechat.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
