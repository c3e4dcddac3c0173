"""The WeChat Pay rail: payment-code pay (付款码支付, API v2 micropay) through wechatpy's pay module,
which signs every request with the merchant's API key. wechatpy does not check the signature of
the gateway's answers, so this rail does, for success and failure alike: an answer that does not
verify is an unknown outcome (ask again), never a refusal.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import xmltodict
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay

from edge.checkout.payments import ChargeState, PaymentFailed, PaymentTimeout
from edge.checkout.rails import Answer, Notice, NotificationRefused, Rail, refund_state
from edge.checkout.settings import RailSettings

log = logging.getLogger(__name__)
_BEIJING = timezone(timedelta(hours=8))  # WeChat Pay states times in Beijing time

_EXPIRED = {"AUTHCODEEXPIRE", "AUTH_CODE_INVALID", "AUTH_CODE_ERROR"}
_UNKNOWN = {"SYSTEMERROR", "BANKERROR", "ORDERPAID"}  # ask: it may have been paid
_REFUND_RETRY = {"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED", "FREQ_LIMIT"}  # unknown: same key again
_CLOSED = {"ORDERREVERSED", "ORDERCLOSED", "TRADE_STATE_ERROR"}
_STATES = {
    "SUCCESS": "paid",
    "REFUND": "paid",
    "USERPAYING": "waiting",
    "NOTPAY": "waiting",
    "ACCEPT": "waiting",  # a withholding deduction accepted, not settled yet
    "CLOSED": "closed",
    "REVOKED": "closed",
    "PAYERROR": "closed",
}


class WeChatPayRail(Rail):
    name = "wechatpay"
    ack_body = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
    ack_media_type = "application/xml"

    def __init__(
        self,
        settings: RailSettings,
        subject: str,
        *,
        api_key: str,
        client_ip: str,
        mch_cert: str | None = None,
        mch_key: str | None = None,
    ) -> None:
        super().__init__(settings, subject)
        conf = settings.wechatpay
        self.client_ip = client_ip
        self.client = WeChatPay(
            appid=conf.appid,
            api_key=api_key,
            mch_id=conf.mch_id,
            mch_cert=mch_cert,
            mch_key=mch_key,
            timeout=settings.timeout_s,
        )
        self.client.API_BASE_URL = conf.api_base_url

    def _signed(self, data: Any) -> bool:
        return isinstance(data, dict) and bool(data.get("sign")) and bool(self.client.check_signature(data))

    def _call(self, what: str, fn: Any, **kwargs: Any) -> tuple[dict[str, Any] | None, str]:
        """(answer, error code): the answer when it verifies; (None, err_code) for a signed refusal;
        (None, "") when the outcome is unknown (network, 5xx, unsigned or forged answer)."""
        try:
            data = fn(**kwargs)
        except WeChatPayException as exc:
            body = getattr(exc.response, "text", "") if exc.response is not None else ""
            try:
                parsed = xmltodict.parse(body)["xml"] if body else None
            except Exception:
                parsed = None
            if exc.errcode and self._signed(parsed):
                return None, str(exc.errcode)
            log.warning("wechatpay %s: no trustworthy answer (%s)", what, exc.errcode or exc.return_code)
            return None, ""
        except Exception as exc:
            log.warning("wechatpay %s: no answer (%s)", what, type(exc).__name__)
            return None, ""
        if not self._signed(data):
            log.warning("wechatpay %s: the answer's signature does not verify", what)
            return None, ""
        return data, ""

    @staticmethod
    def _trade(key: str, r: dict[str, Any], kind: str) -> Answer:
        if r.get("out_trade_no") != key:
            return Answer("unknown", code="wrong_trade")
        total = r.get("total_fee")
        return Answer(kind, str(r.get("transaction_id", "")), int(total) if str(total).isdigit() else None)  # type: ignore[arg-type]

    def _pay(self, key: str, amount_minor: int, code: str, order_ref: str) -> Answer:
        r, err = self._call(
            "micropay",
            self.client.micropay.create,
            body=self.subject,
            total_fee=amount_minor,
            auth_code=code,
            client_ip=self.client_ip,
            out_trade_no=key,
            attach=order_ref,
        )
        return self._pay_answer(key, r, err)

    def _withhold(self, key: str, amount_minor: int, agreement: str, order_ref: str) -> Answer:
        # wechatpy's withhold.apply_deduct looks up the gateway's address in DNS for the client IP and
        # offers no way to pass it; the same signed request is sent through the client directly
        data = {
            "appid": self.settings.wechatpay.appid,
            "body": self.subject,
            "out_trade_no": key,
            "total_fee": amount_minor,
            "spbill_create_ip": self.client_ip,
            "notify_url": self.settings.wechatpay.notify_url or "https://invalid.example/none",
            "trade_type": "PAP",
            "contract_id": agreement,
            "attach": order_ref,
        }
        r, err = self._call("pappayapply", self.client.post, url="pay/pappayapply", data=data)
        if r is not None:  # accepted, not yet paid: the deduction settles after, and orderquery says how
            return Answer("waiting", code="ACCEPTED", tell=False)
        return self._pay_answer(key, r, err)

    def _pay_answer(self, key: str, r: dict[str, Any] | None, err: str) -> Answer:
        if r is not None:
            return self._trade(key, r, "paid")
        if err == "USERPAYING":
            return Answer("waiting", code=err)
        if err in _CLOSED:
            return Answer("closed", code=err)
        if err and err not in _UNKNOWN:
            return Answer("refused", code=err, expired_code=err in _EXPIRED)
        return Answer("unknown", code=err)

    def _query(self, key: str) -> Answer:
        r, err = self._call("orderquery", self.client.order.query, out_trade_no=key)
        if r is not None:
            return self._trade(key, r, _STATES.get(str(r.get("trade_state")), "unknown"))
        return Answer("absent" if err == "ORDERNOTEXIST" else "unknown", code=err)

    def _cancel(self, key: str) -> bool:
        r, _err = self._call("reverse", self.client.order.reverse, out_trade_no=key)
        return r is not None and r.get("recall", "N") != "Y"

    def close(self, key: str) -> bool:
        """closeorder: the call for a Native (in-app) order nobody paid; reverse is for payment codes."""
        r, err = self._call("closeorder", self.client.order.close, out_trade_no=key)
        return r is not None or err == "ORDERCLOSED"

    def _refund(self, key: str, total_minor: int, amount_minor: int, refund_key: str) -> ChargeState:
        r, err = self._call(
            "refund",
            self.client.refund.apply,
            total_fee=total_minor,
            refund_fee=amount_minor,
            out_refund_no=refund_key,
            out_trade_no=key,
        )
        if r is None and err and err not in _REFUND_RETRY:
            raise PaymentFailed(f"WeChat Pay refused the refund ({err}); nothing was refunded", code="refund_refused")
        if r is None:
            raise PaymentTimeout("WeChat Pay did not confirm the refund")  # retried later with the same key
        return refund_state(key, total_minor, int(r.get("refund_fee", amount_minor)))

    def _refund_state(self, key: str, refund_key: str) -> ChargeState | None:
        r, err = self._call("refundquery", self.client.refund.query, out_refund_no=refund_key)
        if r is None and err == "REFUNDNOTEXIST":
            return None
        if r is None:
            raise PaymentTimeout("WeChat Pay could not be asked about this refund")
        if r.get("refund_status_0") not in ("SUCCESS", "PROCESSING"):
            return None
        trade = self._query(key)
        return refund_state(key, trade.amount_minor or 0, int(r.get("refund_fee_0", r.get("refund_fee", 0))))

    def create_order(self, key: str, amount_minor: int, order_ref: str) -> str:
        r, err = self._call(
            "unifiedorder",
            self.client.order.create,
            trade_type="NATIVE",
            body=self.subject,
            total_fee=amount_minor,
            notify_url=self.settings.wechatpay.notify_url,
            client_ip=self.client_ip,
            out_trade_no=key,
            attach=order_ref,
            product_id=key,
            # the order stops being payable at the gateway when the box gives up on it
            time_expire=datetime.now(_BEIJING) + timedelta(seconds=max(60, self.settings.inapp_wait_s)),
        )
        if r is None and err:
            raise PaymentFailed(f"WeChat Pay refused the order ({err})", code="order_refused")
        if r is None or not r.get("code_url"):
            raise PaymentTimeout("WeChat Pay did not confirm the order")
        return str(r["code_url"])

    def notification(self, body: bytes, content_type: str) -> Notice:
        try:
            data = xmltodict.parse(body)["xml"]
        except Exception:
            raise NotificationRefused("not a WeChat Pay notification") from None
        if not isinstance(data, dict) or data.get("appid") != self.settings.wechatpay.appid:
            raise NotificationRefused("a notification for another merchant")
        if data.get("mch_id") != self.settings.wechatpay.mch_id:
            raise NotificationRefused("a notification for another merchant")
        if not self._signed(data):
            raise NotificationRefused("the notification's signature does not verify", code="notification_forged")
        total = str(data.get("total_fee", ""))
        if not data.get("out_trade_no") or not total.isdigit():
            raise NotificationRefused("the notification names no trade or amount")
        paid = data.get("return_code") == "SUCCESS" and data.get("result_code") == "SUCCESS"
        return Notice(str(data["out_trade_no"]), str(data.get("transaction_id", "")), int(total), paid)
