"""Credentials that cameras read (wallet payment codes, member cards, coupons, exit passes) are
kept out of logs and dashboards: only their kind and last four characters are shown.

The prefixes are checkout's QR kinds (edge/checkout/tokens.py); a test keeps the two in step.
"""

from __future__ import annotations

import re

CREDENTIAL_PREFIXES = {"RM1:": "member code", "RC1:": "coupon", "RX1:": "exit pass"}
# The 18-digit dynamic code a wallet app shows (10-15: WeChat Pay, 25-30: Alipay).
_WALLET_CODE = re.compile(r"^(1[0-5]|2[5-9]|30)\d{16}$")


def redact_credential(text: str) -> str:
    """The text itself, unless it is a credential; then `<kind> …<last 4>`."""
    for prefix, kind in CREDENTIAL_PREFIXES.items():
        if text.startswith(prefix):
            return f"[{kind} …{text[-4:]}]"
    if _WALLET_CODE.match(text):
        return f"[wallet payment code …{text[-4:]}]"
    return text
