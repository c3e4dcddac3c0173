"""An Alipay OpenAPI v2 gateway simulator (RSA2), for the real `python-alipay-sdk` pointed at it by URL.

Requests are verified with the merchant's public key over the sorted `k=v` pairs (every parameter but
`sign`, empty values left out, `sign_type` included); answers are `{"<method>_response": {...},
"sign": ...}` with the signature over the exact JSON text of the inner object, made with the gateway
key, which is what the SDK checks. Notifications are signed over every field but `sign`/`sign_type`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cloud.gateways.base import Behaviour, GatewaySimulator
from cloud.gateways.ledger import CHINA, Trade, yuan
from cloud.gateways.server import Answer, json_answer

AUTH_CODE = re.compile(r"^(2[5-9]|30)\d{16}$")  # Alipay payment codes: 18 digits starting 25..30
Inner = dict[str, Any]


def rsa_sign(key: rsa.RSAPrivateKey, text: str, sign_type: str = "RSA2") -> str:
    digest = hashes.SHA256() if sign_type == "RSA2" else hashes.SHA1()  # noqa: S303 - legacy "RSA" type
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), digest)).decode()


def rsa_verify(key: rsa.RSAPublicKey, text: str, sign: str, sign_type: str) -> bool:
    if sign_type not in ("RSA", "RSA2") or not sign:
        return False
    digest = hashes.SHA256() if sign_type == "RSA2" else hashes.SHA1()  # noqa: S303 - legacy "RSA" type
    try:
        key.verify(base64.b64decode(sign, validate=True), text.encode(), padding.PKCS1v15(), digest)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def unsigned_text(params: dict[str, str], *, leave_out: tuple[str, ...]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in leave_out and v != "")


def parse_amount(value: object) -> int | None:
    """A decimal yuan amount ("12.30", or a JSON number) in fen; None unless positive with at most 2 places."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def _ok(**fields: Any) -> Inner:
    return {"code": "10000", "msg": "Success", **fields}


def _fail(sub_code: str, sub_msg: str, **fields: Any) -> Inner:
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg, **fields}


def _time(at: datetime | None) -> str:
    return f"{at or datetime.now(CHINA):%Y-%m-%d %H:%M:%S}"


class AlipaySimulator(GatewaySimulator):
    """Alipay's gateway.do: face-to-face pay, query, cancel, refund, precreate (QR), close, withholding."""

    GATEWAY_PATH = "/gateway.do"
    PAID_STATUS = "TRADE_SUCCESS"
    CODE_WAITING_STATUS = "WAIT_BUYER_PAY"
    ORDER_WAITING_STATUS = "WAIT_BUYER_PAY"
    DECLINED_STATUS = "TRADE_CLOSED"
    CLOSED_STATUSES = frozenset({"TRADE_CLOSED"})
    BUYER_ID = "2088102146225135"

    def __init__(
        self, app_id: str, merchant_public_key_pem: str, gateway_private_key_pem: str, latency_ms: int = 0
    ) -> None:
        super().__init__(latency_ms)
        self.app_id = app_id
        merchant_key = serialization.load_pem_public_key(merchant_public_key_pem.encode())
        gateway_key = serialization.load_pem_private_key(gateway_private_key_pem.encode(), password=None)
        if not isinstance(merchant_key, rsa.RSAPublicKey) or not isinstance(gateway_key, rsa.RSAPrivateKey):
            raise TypeError("Alipay keys must be RSA keys")
        self._merchant_key = merchant_key
        self._gateway_key = gateway_key
        self._forger_key: rsa.RSAPrivateKey | None = None
        self._methods = {
            "alipay.trade.pay": self._pay,
            "alipay.trade.query": self._query,
            "alipay.trade.cancel": self._cancel_call,
            "alipay.trade.close": self._close,
            "alipay.trade.refund": self._refund_call,
            "alipay.trade.fastpay.refund.query": self._refund_query,
            "alipay.trade.precreate": self._precreate,
        }

    # wire ------------------------------------------------------------------------------------
    def _gateway_call(self, method: str, path: str, query: str, body: bytes, content_type: str) -> Answer:
        if path != self.GATEWAY_PATH:
            return Answer(404, "text/plain; charset=utf-8", b"not found")
        params = dict(parse_qsl(query, keep_blank_values=True))
        if method == "POST" and "x-www-form-urlencoded" in content_type:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        api = params.get("method", "")
        key = api.replace(".", "_") + "_response" if api in self._methods else "error_response"
        if params.get("app_id") != self.app_id:
            return self._unsigned(key, "isv.invalid-app-id", "无效的AppID参数")
        sign_type = params.get("sign_type", "")
        text = unsigned_text(params, leave_out=("sign",))
        if not rsa_verify(self._merchant_key, text, params.get("sign", ""), sign_type):
            self._count("signatures_refused")
            return self._unsigned(key, "isv.invalid-signature", "验签出错")
        if api not in self._methods:
            return self._unsigned(key, "isv.invalid-method", "不存在的方法名")
        self._count(api)
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return self._signed(key, _fail("ACQ.INVALID_PARAMETER", "biz_content 不是 JSON 对象"), sign_type)
        inner, behaviour = self._methods[api](biz, params)
        return self._finish(behaviour, self._signed(key, inner, sign_type))

    def _signed(self, key: str, inner: Inner, sign_type: str) -> Answer:
        text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        sign = rsa_sign(self._gateway_key, text, sign_type)
        return Answer(200, "application/json; charset=utf-8", f'{{"{key}":{text},"sign":"{sign}"}}'.encode())

    @staticmethod
    def _unsigned(key: str, sub_code: str, sub_msg: str) -> Answer:
        """Argument errors are answered without a signature (the SDK raises AliPayException on them)."""
        inner = {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}
        return json_answer({key: inner})

    # methods ---------------------------------------------------------------------------------
    def _pay(self, biz: dict[str, Any], params: dict[str, str]) -> tuple[Inner, Behaviour | None]:
        out_trade_no = str(biz.get("out_trade_no") or "")
        if not out_trade_no:
            return _fail("ACQ.INVALID_PARAMETER", "缺少 out_trade_no"), None
        withholding = biz.get("product_code") == "GENERAL_WITHHOLDING"
        with self._lock:
            self._pay_calls[out_trade_no] += 1
            existing = self._get(out_trade_no)
            if existing is not None:
                return self._repeat_pay(existing), None
            amount = parse_amount(biz.get("total_amount"))
            if amount is None:
                return _fail("ACQ.INVALID_PARAMETER", "total_amount 无效"), None
            if withholding:
                agreement = biz.get("agreement_params")
                key = str(agreement.get("agreement_no") or "") if isinstance(agreement, dict) else ""
                if key not in self._agreements:
                    return _fail("ACQ.AGREEMENT_NOT_EXIST", "用户协议不存在"), None
            else:
                key = str(biz.get("auth_code") or "")
                if not AUTH_CODE.match(key):
                    return _fail("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付授权码无效"), None
            behaviour, trade = self._charge(
                out_trade_no, amount, "withhold" if withholding else "code", key, str(biz.get("body") or "")
            )
            if trade is None:
                return _fail("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付授权码已过期,请刷新后重新付款"), behaviour
            facts = {"out_trade_no": out_trade_no, "trade_no": trade.trade_no, "total_amount": yuan(amount)}
            outcome = behaviour.outcome
        if outcome == "decline":
            return _fail("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足", **facts), behaviour
        if outcome in ("wait", "wait_forever"):
            return {"code": "10003", "msg": "order success pay inprocess", **facts}, behaviour
        if outcome == "system_error":
            return {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "ACQ.SYSTEM_ERROR",
                    "sub_msg": "系统错误"}, behaviour  # fmt: skip
        paid = {"buyer_user_id": self.BUYER_ID, "gmt_payment": _time(trade.paid_at), "receipt_amount": yuan(amount)}
        return _ok(**facts, **paid), behaviour

    def _repeat_pay(self, trade: Trade) -> Inner:
        state = self._state(trade)
        if state == "paid":
            return _fail(
                "ACQ.TRADE_HAS_SUCCESS", "交易已被支付", out_trade_no=trade.out_trade_no, trade_no=trade.trade_no
            )
        if state == "closed":
            return _fail("ACQ.TRADE_HAS_CLOSE", "交易已经关闭", out_trade_no=trade.out_trade_no)
        return {"code": "10003", "msg": "order success pay inprocess", "out_trade_no": trade.out_trade_no,
                "trade_no": trade.trade_no, "total_amount": yuan(trade.amount_minor)}  # fmt: skip

    def _query(self, biz: dict[str, Any], params: dict[str, str]) -> tuple[Inner, Behaviour | None]:
        with self._lock:
            trade = self._find(biz)
            if trade is None:
                return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在"), None
            inner = _ok(
                out_trade_no=trade.out_trade_no,
                trade_no=trade.trade_no,
                trade_status=trade.status,
                total_amount=yuan(trade.amount_minor),
            )
            if trade.paid:
                inner.update(buyer_user_id=self.BUYER_ID, send_pay_date=_time(trade.paid_at))
                inner["receipt_amount"] = yuan(trade.amount_minor)
            return inner, None

    def _find(self, biz: dict[str, Any]) -> Trade | None:
        out_trade_no, trade_no = str(biz.get("out_trade_no") or ""), str(biz.get("trade_no") or "")
        if out_trade_no:
            return self._get(out_trade_no)
        found = [t for t in self._trades.values() if trade_no and t.trade_no == trade_no]
        return self._settle(found[0]) if found else None

    def _cancel_call(self, biz: dict[str, Any], params: dict[str, str]) -> tuple[Inner, Behaviour | None]:
        out_trade_no = str(biz.get("out_trade_no") or "")
        with self._lock:
            if not out_trade_no:
                trade = self._find(biz)
                if trade is None:
                    return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在"), None
                out_trade_no = trade.out_trade_no
            action, trade = self._cancel(out_trade_no, "TRADE_CLOSED", "cancel")
            return _ok(out_trade_no=out_trade_no, trade_no=trade.trade_no, retry_flag="N", action=action), None

    def _close(self, biz: dict[str, Any], params: dict[str, str]) -> tuple[Inner, Behaviour | None]:
        with self._lock:
            trade = self._find(biz)
            if trade is None:
                return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在"), None
            if self._state(trade) == "paid":
                return _fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"), None
            trade.status, trade.due_at = "TRADE_CLOSED", None
            return _ok(out_trade_no=trade.out_trade_no, trade_no=trade.trade_no), None

    def _refund_call(self, biz: dict[str, Any], params: dict[str, str]) -> tuple[Inner, Behaviour | None]:
        amount = parse_amount(biz.get("refund_amount"))
        with self._lock:
            trade = self._find(biz)
            if trade is None:
                return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在"), None
            if amount is None:
                return _fail("ACQ.INVALID_PARAMETER", "refund_amount 无效"), None
            request_no = str(biz.get("out_request_no") or trade.out_trade_no)  # Alipay's default: a full refund
            refund, problem = self._refund(trade, request_no, amount, "refund")
            if problem == "not_paid":
                return _fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"), None
            if problem == "too_much" or refund is None:
                return _fail("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"), None
            if problem == "repeat":
                return {**refund.answer, "fund_change": "N"}, None
            if trade.left_minor == 0:
                trade.status = "TRADE_CLOSED"  # Alipay closes a fully refunded trade
            refund.answer = _ok(
                out_trade_no=trade.out_trade_no,
                trade_no=trade.trade_no,
                buyer_user_id=self.BUYER_ID,
                fund_change="Y",
                refund_fee=yuan(trade.refunded_minor),
                gmt_refund_pay=_time(None),
            )
            return refund.answer, None

    def _refund_query(self, biz: dict[str, Any], params: dict[str, str]) -> tuple[Inner, Behaviour | None]:
        with self._lock:
            trade = self._find(biz)
            if trade is None:
                return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在"), None
            request_no = str(biz.get("out_request_no") or "")
            inner = _ok(out_trade_no=trade.out_trade_no, trade_no=trade.trade_no, out_request_no=request_no)
            refund = trade.refunds.get(request_no)
            if refund is not None:
                inner.update(refund_amount=yuan(refund.amount_minor), total_amount=yuan(trade.amount_minor))
                inner["refund_status"] = "REFUND_SUCCESS"
            return inner, None

    def _precreate(self, biz: dict[str, Any], params: dict[str, str]) -> tuple[Inner, Behaviour | None]:
        out_trade_no = str(biz.get("out_trade_no") or "")
        amount = parse_amount(biz.get("total_amount"))
        if not out_trade_no or amount is None:
            return _fail("ACQ.INVALID_PARAMETER", "参数无效"), None
        with self._lock:
            trade, problem = self._open_order(
                out_trade_no, amount, str(biz.get("body") or ""), params.get("notify_url", "")
            )
            behaviour = self.behaviour(out_trade_no)
        if problem == "paid":
            return _fail("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"), None
        if problem == "closed":
            return _fail("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"), None
        if problem == "mismatch":
            return _fail("ACQ.INVALID_PARAMETER", "同一笔交易金额不一致"), None
        if behaviour.outcome == "system_error":
            return {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "ACQ.SYSTEM_ERROR",
                    "sub_msg": "系统错误"}, behaviour  # fmt: skip
        return _ok(out_trade_no=out_trade_no, qr_code=f"https://qr.alipay.com/sim-{trade.trade_no}"), behaviour

    # notifications ---------------------------------------------------------------------------
    def _notification(self, trade: Trade, forged: bool) -> tuple[bytes, str]:
        fields = {
            "notify_time": _time(None),
            "notify_type": "trade_status_sync",
            "notify_id": self._next_id("N"),
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "total_amount": yuan(trade.amount_minor),
            "receipt_amount": yuan(trade.amount_minor),
            "trade_status": "TRADE_SUCCESS",
            "gmt_payment": _time(trade.paid_at),
            "buyer_id": self.BUYER_ID,
            "body": trade.attach,
        }
        fields = {k: v for k, v in fields.items() if v}  # Alipay leaves empty fields out (the SDK signs all it gets)
        key = self._forger() if forged else self._gateway_key
        fields["sign"] = rsa_sign(key, unsigned_text(fields, leave_out=("sign", "sign_type")))
        fields["sign_type"] = "RSA2"
        return urlencode(fields).encode(), "application/x-www-form-urlencoded; charset=utf-8"

    def _forger(self) -> rsa.RSAPrivateKey:
        if self._forger_key is None:
            self._forger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._forger_key

    def _acknowledged(self, status: int, text: str) -> bool:
        return status == 200 and text.strip() == "success"
