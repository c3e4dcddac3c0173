"""Which payment rails this box can use, built from the TOML (ids, URLs) and the secrets dir (keys).

Keys and certificates never live in the TOML: each comes from `<data_dir>/secrets/<name>` or
RETAIL_EDGE_SECRET_<NAME>. `rail_status` is what `check-config` prints and what start-up checks:
a rail is either ready, off (no merchant id), or named with exactly what is missing.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edge.checkout.rail_alipay import AlipayRail
from edge.checkout.rail_wechat import WeChatPayRail
from edge.checkout.rails import Rail
from edge.checkout.settings import CheckoutSettings
from edge.platform.security import SecretStore

ALIPAY_SECRETS = ("alipay_app_private_key", "alipay_public_key")
WECHAT_SECRETS = ("wechatpay_api_key",)
WECHAT_CERT_FILES = ("wechatpay_mch_cert.pem", "wechatpay_mch_key.pem")  # reverse and refund use TLS client auth


@dataclass(frozen=True)
class RailStatus:
    state: str  # ready | off | incomplete
    reason: str


def _missing(secrets: SecretStore, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not secrets.get(n)]


def _insecure(url: str) -> list[str]:
    """A gateway reached without TLS, other than a simulator on this box itself."""
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    return [] if parts.scheme == "https" or (parts.scheme == "http" and local) else [f"{url} is not https"]


def rail_status(checkout: CheckoutSettings, secrets: SecretStore) -> dict[str, RailStatus]:
    """Each rail's state, with what is missing in words an IT person can act on."""
    out: dict[str, RailStatus] = {}
    ali = checkout.rails.alipay
    if not ali.app_id:
        out["alipay"] = RailStatus("off", "no checkout.rails.alipay.app_id")
    else:
        gone = _missing(secrets, ALIPAY_SECRETS)
        bad = _insecure(ali.gateway_url)
        out["alipay"] = (
            RailStatus("incomplete", "; ".join(bad + (["missing secrets: " + ", ".join(gone)] if gone else [])))
            if gone or bad
            else RailStatus("ready", f"app {ali.app_id} via {ali.gateway_url}")
        )
    wx = checkout.rails.wechatpay
    if not (wx.appid and wx.mch_id):
        out["wechatpay"] = RailStatus("off", "no checkout.rails.wechatpay.appid and mch_id")
    else:
        gone = _missing(secrets, WECHAT_SECRETS)
        https = wx.api_base_url.startswith("https://")
        certs = [f for f in WECHAT_CERT_FILES if not (secrets.dir / f).exists()] if https else []
        bad = _insecure(wx.api_base_url)
        missing = ["missing secrets: " + ", ".join(gone + certs)] if gone or certs else []
        out["wechatpay"] = (
            RailStatus("incomplete", "; ".join(bad + missing))
            if gone or certs or bad
            else RailStatus("ready", f"merchant {wx.mch_id} via {wx.api_base_url}")
        )
    return out


def production_problem(checkout: CheckoutSettings, secrets: SecretStore, has_kiosk: bool) -> str | None:
    """Why this box must not start (or check-config must fail): production kiosks that cannot take money."""
    if checkout.mode != "production" or not has_kiosk:
        return None
    status = rail_status(checkout, secrets)
    if checkout.qr_acquirer == "rails" and any(st.state == "ready" for st in status.values()):
        return None
    why = "; ".join(f"{name}: {st.state} ({st.reason})" for name, st in status.items())
    if checkout.qr_acquirer != "rails":
        why = f"checkout.qr_acquirer is {checkout.qr_acquirer!r}, not 'rails'; {why}"
    return f"production mode with kiosks but no payment rail is ready, so every payment would be refused: {why}"


def _lan_address() -> str:
    """This box's address on its default route (WeChat Pay asks for the terminal's IP); sends nothing."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def build_rails(checkout: CheckoutSettings, secrets: SecretStore, subject: str) -> dict[str, Rail]:
    """The rails that are ready; the others are absent (a code for them is refused by name)."""
    status = rail_status(checkout, secrets)
    rails: dict[str, Rail] = {}
    if status["alipay"].state == "ready":
        rails["alipay"] = AlipayRail(
            checkout.rails,
            subject,
            app_private_key=secrets.get("alipay_app_private_key") or "",
            alipay_public_key=secrets.get("alipay_public_key") or "",
        )
    if status["wechatpay"].state == "ready":
        cert, key = (secrets.dir / f for f in WECHAT_CERT_FILES)
        rails["wechatpay"] = WeChatPayRail(
            checkout.rails,
            subject,
            api_key=secrets.get("wechatpay_api_key") or "",
            client_ip=_lan_address(),
            mch_cert=str(cert) if Path(cert).exists() else None,
            mch_key=str(key) if Path(key).exists() else None,
        )
    return rails
