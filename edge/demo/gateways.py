"""The demo store's payment gateways: both simulators (cloud/gateways), run beside the demo.

`retail-edge demo` starts `python -m cloud.gateways` from the project checkout, gives the box the
merchant keys it made (into the demo's secrets dir) and routes wallet payment codes to them, so
"Pay by payment QR" at the demo kiosk goes through the real SDKs and protocols against simulated
gateways. Without the checkout's cloud/ (an installed package) the demo keeps the sandbox.
"""

from __future__ import annotations

import atexit
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge.platform.files import write_atomic

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


def start_demo_gateways(data_dir: Path, public_url: str) -> dict[str, Any] | None:
    """Start the simulators; the [checkout.rails] settings that point the box at them, or None."""
    if not (ROOT / "cloud" / "gateways" / "__main__.py").exists():
        log.warning("cloud/gateways not found; the demo pays with the sandbox only")
        return None
    where = data_dir / "gateways"
    (where / "gateways.json").unlink(missing_ok=True)  # a stale one from a killed run names dead ports
    with (data_dir / "gateways.log").open("ab") as out:  # the child keeps its own handle
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloud.gateways", "--dir", str(where), "--latency-ms", "300"],
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
    atexit.register(proc.terminate)
    deadline = time.monotonic() + 20
    while not (where / "gateways.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log.warning("the demo payment gateways did not start (see gateways.log); sandbox only")
            return None
        time.sleep(0.1)
    doc = json.loads((where / "gateways.json").read_text())
    secrets = {
        "alipay_app_private_key": (where / "alipay_app_private.pem").read_text(),
        "alipay_public_key": (where / "alipay_gateway_public.pem").read_text(),
        "wechatpay_api_key": (where / "wechat_api_key").read_text().strip(),
    }
    (data_dir / "secrets").mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, value in secrets.items():
        write_atomic(data_dir / "secrets" / name, value.encode(), 0o600)
    return {
        "alipay": {
            "app_id": doc["alipay"]["app_id"],
            "gateway_url": doc["alipay"]["url"],
            "notify_url": f"{public_url}/api/payments/alipay/notify",
        },
        "wechatpay": {
            "appid": doc["wechat"]["appid"],
            "mch_id": doc["wechat"]["mch_id"],
            "api_base_url": doc["wechat"]["url"],
            "notify_url": f"{public_url}/api/payments/wechatpay/notify",
        },
        "shopper_wait_s": 30,
    }
