"""The Alipay rail: face-to-face payment-code pay (alipay.trade.pay, scene bar_code) through
python-alipay-sdk, which signs every request with the merchant's RSA2 key and verifies every
answer with Alipay's public key. An answer that is unsigned or does not verify is treated as an
unknown outcome, never as a refusal: a forged "declined" must not hide money that was taken.
"""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import parse_qsl

from alipay import AliPay
from alipay.utils import AliPayConfig

from edge.checkout.payments import ChargeState, PaymentFailed, PaymentTimeout
from edge.checkout.rails import Answer, Notice, NotificationRefused, Rail, fen, refund_state, yuan
from edge.checkout.settings import RailSettings

log = logging.getLogger(__name__)

_EXPIRED = {
    "ACQ.PAYMENT_AUTH_CODE_INVALID",
    "ACQ.AUTH_CODE_INVALID",
    "ACQ.AGREEMENT_NOT_EXIST",
    "ACQ.AGREEMENT_INVALID",
}
_UNKNOWN = {"ACQ.SYSTEM_ERROR", "ACQ.TRADE_HAS_SUCCESS"}  # ask: it may have been paid


class AlipayRail(Rail):
    name = "alipay"

    def __init__(self, settings: RailSettings, subject: str, *, app_private_key: str, alipay_public_key: str) -> None:
        super().__init__(settings, subject)
        conf = settings.alipay
        self.client = AliPay(
            appid=conf.app_id,
            app_notify_url=conf.notify_url or None,
            app_private_key_string=app_private_key,
            alipay_public_key_string=alipay_public_key,
            sign_type="RSA2",
            config=AliPayConfig(timeout=settings.timeout_s),
        )
        self.client._gateway = conf.gateway_url  # the SDK knows only the two public gateways

    def _call(self, what: str, fn: Any, **kwargs: Any) -> dict[str, Any] | None:
        """One signed call; None when the outcome is unknown (network, 5xx, unsigned or forged answer)."""
        try:
            result = fn(**kwargs)
        except Exception as exc:  # the SDK raises socket, HTTP and signature errors alike
            log.warning("alipay %s: no trustworthy answer (%s)", what, type(exc).__name__)
            return None
        return result if isinstance(result, dict) else None

    @staticmethod
    def _trade(key: str, r: dict[str, Any], kind: str) -> Answer:
        if r.get("out_trade_no") != key:
            return Answer("unknown", code="wrong_trade")
        return Answer(kind, str(r.get("trade_no", "")), fen(r["total_amount"]) if "total_amount" in r else None)  # type: ignore[arg-type]

    def _pay(self, key: str, amount_minor: int, code: str, order_ref: str) -> Answer:
        r = self._call(
            "pay",
            self.client.api_alipay_trade_pay,
            out_trade_no=key,
            scene="bar_code",
            auth_code=code,
            subject=self.subject,
            total_amount=yuan(amount_minor),
            body=order_ref,
        )
        return self._pay_answer(key, r)

    def _pay_answer(self, key: str, r: dict[str, Any] | None) -> Answer:
        if r is None:
            return Answer("unknown")
        status, sub = str(r.get("code", "")), str(r.get("sub_code", ""))
        if status == "10000":
            return self._trade(key, r, "paid")
        if status == "10003":
            return Answer("waiting", code=status)
        if status == "40004" and sub == "ACQ.TRADE_HAS_CLOSE":
            return Answer("closed", code=sub)
        if status == "40004" and sub not in _UNKNOWN:
            return Answer("refused", code=sub, expired_code=sub in _EXPIRED)
        return Answer("unknown", code=sub or status)

    def _withhold(self, key: str, amount_minor: int, agreement: str, order_ref: str) -> Answer:
        biz = {
            "out_trade_no": key,
            "total_amount": yuan(amount_minor),
            "subject": self.subject,
            "body": order_ref,
            "product_code": "GENERAL_WITHHOLDING",
            "agreement_params": {"agreement_no": agreement},
        }
        return self._pay_answer(key, self._call("withhold", self.client.server_api, api_name="alipay.trade.pay",
                                                biz_content=biz))  # fmt: skip

    def _query(self, key: str) -> Answer:
        r = self._call("query", self.client.api_alipay_trade_query, out_trade_no=key)
        if r is None:
            return Answer("unknown")
        if str(r.get("code")) == "10000":
            kind = {
                "TRADE_SUCCESS": "paid",
                "TRADE_FINISHED": "paid",
                "WAIT_BUYER_PAY": "waiting",
                "TRADE_CLOSED": "closed",
            }.get(str(r.get("trade_status")), "unknown")
            return self._trade(key, r, kind)
        if r.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return Answer("absent")
        return Answer("unknown", code=str(r.get("sub_code", r.get("code", ""))))

    def _cancel(self, key: str) -> bool:
        r = self._call("cancel", self.client.api_alipay_trade_cancel, out_trade_no=key)
        return self._confirmed(key, r) and r is not None and r.get("retry_flag", "N") != "Y"

    def close(self, key: str) -> bool:
        return self._confirmed(key, self._call("close", self.client.api_alipay_trade_close, out_trade_no=key))

    @staticmethod
    def _confirmed(key: str, r: dict[str, Any] | None) -> bool:
        """A signed success about this very trade (a signature covers an answer, not which call it answers)."""
        return r is not None and str(r.get("code")) == "10000" and r.get("out_trade_no", key) == key

    def _refund(self, key: str, total_minor: int, amount_minor: int, refund_key: str) -> ChargeState:
        r = self._call(
            "refund",
            self.client.api_alipay_trade_refund,
            refund_amount=yuan(amount_minor),
            out_trade_no=key,
            out_request_no=refund_key,
        )
        if r is None or str(r.get("code")) == "20000" or r.get("sub_code") == "ACQ.SYSTEM_ERROR":
            raise PaymentTimeout("Alipay did not confirm the refund")  # retried later with the same key
        if str(r.get("code")) != "10000":
            raise PaymentFailed(
                f"Alipay refused the refund ({r.get('sub_code', r.get('code'))}); nothing was refunded",
                code="refund_refused",
            )
        return refund_state(key, total_minor, fen(r.get("refund_fee", "")) or amount_minor)

    def _refund_state(self, key: str, refund_key: str) -> ChargeState | None:
        r = self._call(
            "refund query",
            self.client.api_alipay_trade_fastpay_refund_query,
            out_request_no=refund_key,
            out_trade_no=key,
        )
        if r is None or str(r.get("code")) != "10000":
            raise PaymentTimeout("Alipay could not be asked about this refund")
        if r.get("refund_status") != "REFUND_SUCCESS":
            return None
        trade = self._query(key)
        return refund_state(key, trade.amount_minor or 0, fen(r.get("refund_amount", "")) or 0)

    def create_order(self, key: str, amount_minor: int, order_ref: str) -> str:
        r = self._call(
            "precreate",
            self.client.api_alipay_trade_precreate,
            subject=self.subject,
            out_trade_no=key,
            total_amount=yuan(amount_minor),
            body=order_ref,
            # the QR stops working at the gateway when the box gives up on the order
            qr_code_timeout_express=f"{max(1, math.ceil(self.settings.inapp_wait_s / 60))}m",
        )
        if r is None:
            raise PaymentTimeout("Alipay did not confirm the order")
        if str(r.get("code")) != "10000" or not r.get("qr_code"):
            raise PaymentFailed(f"Alipay refused the order ({r.get('sub_code', r.get('code'))})", code="order_refused")
        return str(r["qr_code"])

    def notification(self, body: bytes, content_type: str) -> Notice:
        try:
            data = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise NotificationRefused("not a form-encoded Alipay notification") from None
        sign = data.pop("sign", "")
        if not sign or data.get("app_id") != self.settings.alipay.app_id:
            raise NotificationRefused("unsigned, or for another merchant")
        try:
            good = self.client.verify(dict(data), sign)
        except Exception:  # the SDK raises on an unknown sign_type or a malformed signature
            good = False
        if not good:
            raise NotificationRefused("the notification's signature does not verify", code="notification_forged")
        amount = fen(data.get("total_amount", ""))
        if not data.get("out_trade_no") or amount is None:
            raise NotificationRefused("the notification names no trade or amount")
        paid = data.get("trade_status") in ("TRADE_SUCCESS", "TRADE_FINISHED")
        return Notice(data["out_trade_no"], data.get("trade_no", ""), amount, paid)
