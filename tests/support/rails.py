"""Both payment-gateway simulators (cloud/gateways), running, with the box's secrets and settings
pointing at them: what a test, the benchmark or the demo needs to pay on the real rails' protocols."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud.gateways import AlipaySimulator, WeChatPaySimulator, new_rsa_pair
from edge.platform.files import write_atomic

ALIPAY_APP_ID = "2021000000000042"
WECHAT_APPID, WECHAT_MCH_ID = "wx00000000000000a1", "1900000042"


@dataclass
class Gateways:
    alipay: AlipaySimulator
    wechat: WeChatPaySimulator
    settings: dict[str, Any]  # the [checkout.rails] section that points the box at them

    def sim(self, rail: str) -> AlipaySimulator | WeChatPaySimulator:
        return self.alipay if rail == "alipay" else self.wechat


def write_secrets(data_dir: Path, secrets: dict[str, str]) -> None:
    (data_dir / "secrets").mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, value in secrets.items():
        write_atomic(data_dir / "secrets" / name, value.encode(), 0o600)


@contextmanager
def gateways(data_dir: Path, *, latency_ms: int = 0, **rails: Any) -> Iterator[Gateways]:
    """Start both simulators and write the merchant's keys into `data_dir/secrets`."""
    app_private, app_public = new_rsa_pair()
    gw_private, gw_public = new_rsa_pair()
    api_key = "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=32))
    ali = AlipaySimulator(ALIPAY_APP_ID, app_public, gw_private, latency_ms=latency_ms)
    wx = WeChatPaySimulator(WECHAT_APPID, WECHAT_MCH_ID, api_key, latency_ms=latency_ms)
    ali_url, wx_url = ali.start(), wx.start()
    try:
        write_secrets(
            data_dir,
            {"alipay_app_private_key": app_private, "alipay_public_key": gw_public, "wechatpay_api_key": api_key},
        )
        settings = {
            "alipay": {"app_id": ALIPAY_APP_ID, "gateway_url": ali_url},
            "wechatpay": {"appid": WECHAT_APPID, "mch_id": WECHAT_MCH_ID, "api_base_url": wx_url},
            "timeout_s": 1.0,
            "shopper_wait_s": 3.0,
            "poll_interval_s": 0.1,
            **rails,
        }
        yield Gateways(ali, wx, settings)
    finally:
        ali.stop()
        wx.stop()


def wallet_code(rail: str, rng: random.Random | None = None) -> str:
    """A fresh 18-digit payment code of this rail (WeChat Pay 10-15, Alipay 25-30)."""
    r = rng or random.Random()
    prefix = r.randint(10, 15) if rail == "wechatpay" else r.randint(25, 30)
    return f"{prefix}{r.randrange(10**16):016d}"


def money_taken(trades: list[dict[str, Any]], attach: str) -> int:
    """What a gateway's own ledger says it took for one cart (paid trades less their refunds)."""
    return sum(
        int(t["amount_minor"]) - int(t.get("refunded_minor", 0))
        for t in trades
        if t.get("attach") == attach and t.get("state") == "paid"
    )
