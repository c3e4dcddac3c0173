"""A WeChat Pay API v2 simulator (XML; MD5 or HMAC-SHA256 with the merchant API key) for `wechatpy`.

Requests are POSTed XML signed over the sorted non-empty `k=v` pairs plus `&key=API_KEY`; a bad
signature is a return_code FAIL. Business answers carry return_code SUCCESS, result_code
SUCCESS/FAIL, err_code, and a sign made the same way, so the box can check them (wechatpy itself
does not check the signature of a synchronous answer).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from xml.etree import ElementTree

from cloud.gateways.base import Behaviour, GatewaySimulator
from cloud.gateways.ledger import CHINA, Trade
from cloud.gateways.server import Answer

AUTH_CODE = re.compile(r"^1[0-5]\d{16}$")  # WeChat payment codes: 18 digits starting 10..15
Fields = dict[str, str]
Err = tuple[str, str] | None
Result = tuple[Fields, Err, Behaviour | None]
TRADE_STATE_DESC = {
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "NOTPAY": "未支付",
    "CLOSED": "已关闭",
    "REVOKED": "已撤销",
    "USERPAYING": "用户支付中",
    "PAYERROR": "支付失败",
}


def wechat_sign(fields: Mapping[str, str], api_key: str, sign_type: str = "MD5") -> str:
    """The v2 signature: sorted non-empty k=v (sign left out), "&key=" + API key, uppercase hex digest."""
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if fields[k] and k != "sign") + f"&key={api_key}"
    if sign_type == "HMAC-SHA256":
        return hmac.new(api_key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 - the protocol's MD5 signature


def parse_xml(body: bytes | str) -> Fields | None:
    """A flat <xml> document as a dict; None if it is not one."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - expat >= 2.4.1 refuses entity-expansion bombs
    except ElementTree.ParseError:
        return None
    if root.tag != "xml":
        return None
    return {child.tag: (child.text or "") for child in root}


def to_xml(fields: Mapping[str, str]) -> bytes:
    parts = ["<xml>"]
    for key, value in fields.items():
        if value.isdigit():
            parts.append(f"<{key}>{value}</{key}>")
        else:
            parts.append(f"<{key}><![CDATA[{value.replace(']]>', ']]]]><![CDATA[>')}]]></{key}>")
    parts.append("</xml>")
    return "".join(parts).encode()


def _fee(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def _time(at: datetime | None) -> str:
    return f"{at or datetime.now(CHINA):%Y%m%d%H%M%S}"


XML = "text/xml; charset=utf-8"


class WeChatPaySimulator(GatewaySimulator):
    """WeChat Pay v2: micropay, order query, reverse, refund, refund query, unified order, close, withhold."""

    GATEWAY_PATH = "/"
    PAID_STATUS = "SUCCESS"
    CODE_WAITING_STATUS = "USERPAYING"
    ORDER_WAITING_STATUS = "NOTPAY"
    DECLINED_STATUS = "PAYERROR"
    CLOSED_STATUSES = frozenset({"CLOSED", "REVOKED", "PAYERROR"})
    OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

    def __init__(self, appid: str, mch_id: str, api_key: str, latency_ms: int = 0) -> None:
        super().__init__(latency_ms)
        self.appid, self.mch_id, self.api_key = appid, mch_id, api_key
        self._endpoints: dict[str, Callable[[Fields], Result]] = {
            "/pay/micropay": self._micropay,
            "/pay/orderquery": self._orderquery,
            "/secapi/pay/reverse": self._reverse,
            "/secapi/pay/refund": self._refund_call,
            "/pay/refundquery": self._refundquery,
            "/pay/unifiedorder": self._unifiedorder,
            "/pay/closeorder": self._closeorder,
            "/pay/pappayapply": self._pappayapply,
            "/pay/paporderquery": self._orderquery,
        }

    # wire ------------------------------------------------------------------------------------
    def _gateway_call(self, method: str, path: str, query: str, body: bytes, content_type: str) -> Answer:
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            return Answer(404, "text/plain; charset=utf-8", b"not found")
        fields = parse_xml(body) if method == "POST" else None
        if fields is None:
            return Answer(200, XML, to_xml({"return_code": "FAIL", "return_msg": "XML格式错误"}))
        sign_type = fields.get("sign_type") or "MD5"
        expected = wechat_sign(fields, self.api_key, sign_type) if sign_type in ("MD5", "HMAC-SHA256") else ""
        if not expected or not hmac.compare_digest(fields.get("sign", ""), expected):
            self._count("signatures_refused")
            return Answer(200, XML, to_xml({"return_code": "FAIL", "return_msg": "签名错误"}))
        self._count(path.strip("/"))
        if fields.get("appid") != self.appid:
            result: Result = {}, ("APPID_NOT_EXIST", "APPID不存在"), None
        elif fields.get("mch_id") != self.mch_id:
            result = {}, ("MCHID_NOT_EXIST", "MCHID不存在"), None
        else:
            result = endpoint(fields)
        facts, err, behaviour = result
        return self._finish(behaviour, self._answer(facts, err, sign_type))

    def _answer(self, facts: Fields, err: Err, sign_type: str) -> Answer:
        fields = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": self.appid,
            "mch_id": self.mch_id,
            "nonce_str": secrets.token_hex(16),
            "result_code": "FAIL" if err else "SUCCESS",
        }
        if err:
            fields["err_code"], fields["err_code_des"] = err
        fields.update({k: v for k, v in facts.items() if v})
        fields["sign"] = wechat_sign(fields, self.api_key, sign_type)
        return Answer(200, XML, to_xml(fields))

    # payments --------------------------------------------------------------------------------
    def _micropay(self, fields: Fields) -> Result:
        return self._pay(fields, "MICROPAY", fields.get("auth_code", ""))

    def _pappayapply(self, fields: Fields) -> Result:
        return self._pay(fields, "PAP", fields.get("contract_id", ""))

    def _pay(self, fields: Fields, trade_type: str, key: str) -> Result:
        out_trade_no, amount = fields.get("out_trade_no", ""), _fee(fields.get("total_fee"))
        if not out_trade_no or amount is None:
            return {}, ("PARAM_ERROR", "参数错误"), None
        with self._lock:
            self._pay_calls[out_trade_no] += 1
            existing = self._get(out_trade_no)
            if existing is not None:
                return (*self._repeat_pay(existing), None)
            if trade_type == "PAP" and key not in self._agreements:
                return {}, ("CONTRACT_NOT_EXIST", "签约协议不存在"), None
            if trade_type == "MICROPAY" and not AUTH_CODE.match(key):
                return {}, ("AUTH_CODE_INVALID", "付款码无效,请重新扫码"), None
            kind = "withhold" if trade_type == "PAP" else "code"
            behaviour, trade = self._charge(out_trade_no, amount, kind, key, fields.get("attach", ""))
            if trade is None:
                if trade_type == "PAP":
                    return {}, ("CONTRACT_NOT_EXIST", "签约协议已解约"), behaviour
                return {}, ("AUTHCODEEXPIRE", "二维码已过期,请用户在微信上刷新后再试"), behaviour
            trade.extra["trade_type"] = trade_type
            if trade_type == "PAP":
                trade.extra["contract_id"] = key
            facts = {"out_trade_no": out_trade_no, "total_fee": str(amount), "trade_type": trade_type}
            if trade.paid:
                facts.update(self._paid_facts(trade))
        outcome = behaviour.outcome
        if outcome == "decline":
            return facts, ("NOTENOUGH", "余额不足"), behaviour
        if outcome in ("wait", "wait_forever"):
            return facts, ("USERPAYING", "需要用户输入支付密码"), behaviour
        if outcome == "system_error":
            return {}, ("SYSTEMERROR", "系统超时"), behaviour
        return facts, None, behaviour

    def _paid_facts(self, trade: Trade) -> Fields:
        return {
            "transaction_id": trade.trade_no,
            "time_end": _time(trade.paid_at),
            "openid": self.OPENID,
            "is_subscribe": "N",
            "bank_type": "CMC",
            "fee_type": "CNY",
            "cash_fee": str(trade.amount_minor),
            "attach": trade.attach,
        }

    def _repeat_pay(self, trade: Trade) -> tuple[Fields, Err]:
        if trade.status == "REVOKED":
            return {}, ("ORDERREVERSED", "订单已撤销")
        state = self._state(trade)
        if state == "paid":
            return {}, ("ORDERPAID", "订单已支付")
        if state == "closed":
            return {}, ("ORDERCLOSED", "订单已关闭")
        return {"out_trade_no": trade.out_trade_no}, ("USERPAYING", "需要用户输入支付密码")

    def _find(self, fields: Fields) -> Trade | None:
        transaction_id, out_trade_no = fields.get("transaction_id", ""), fields.get("out_trade_no", "")
        if transaction_id:
            found = [t for t in self._trades.values() if t.trade_no == transaction_id]
            return self._settle(found[0]) if found else None
        return self._get(out_trade_no) if out_trade_no else None

    def _orderquery(self, fields: Fields) -> Result:
        with self._lock:
            trade = self._find(fields)
            if trade is None:
                return {}, ("ORDERNOTEXIST", "此交易订单号不存在"), None
            facts = {
                "out_trade_no": trade.out_trade_no,
                "trade_state": trade.status,
                "trade_state_desc": TRADE_STATE_DESC.get(trade.status, trade.status),
                "trade_type": trade.extra.get("trade_type", ""),
                "total_fee": str(trade.amount_minor),
                "attach": trade.attach,
                "contract_id": trade.extra.get("contract_id", ""),
            }
            if trade.paid:
                facts.update(self._paid_facts(trade))
            return facts, None, None

    def _reverse(self, fields: Fields) -> Result:
        with self._lock:
            trade = self._find(fields)
            out_trade_no = trade.out_trade_no if trade else fields.get("out_trade_no", "")
            if not out_trade_no:
                return {}, ("PARAM_ERROR", "参数错误"), None
            self._cancel(out_trade_no, "REVOKED", "reverse")
            return {"recall": "N"}, None, None

    def _closeorder(self, fields: Fields) -> Result:
        with self._lock:
            trade = self._find(fields)
            if trade is None:
                return {}, ("ORDERNOTEXIST", "订单不存在"), None
            if trade.paid:
                return {}, ("ORDERPAID", "订单已支付,不能发起关单"), None
            if self._state(trade) == "waiting":
                trade.status, trade.due_at = "CLOSED", None
            return {}, None, None

    # refunds ---------------------------------------------------------------------------------
    def _refund_call(self, fields: Fields) -> Result:
        request_no, amount = fields.get("out_refund_no", ""), _fee(fields.get("refund_fee"))
        with self._lock:
            trade = self._find(fields)
            if trade is None:
                return {}, ("ORDERNOTEXIST", "订单不存在"), None
            if not request_no or amount is None or _fee(fields.get("total_fee")) != trade.amount_minor:
                return {}, ("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致,请核实后再试"), None
            refund, problem = self._refund(trade, request_no, amount, "refund")
            if problem == "repeat" and refund is not None:
                return refund.answer, None, None
            if problem or refund is None:
                return {}, ("INVALID_REQUEST", "退款金额大于可退金额或订单未支付"), None
            trade.status = "REFUND"
            refund.answer = {
                "transaction_id": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "out_refund_no": request_no,
                "refund_id": refund.refund_id,
                "refund_fee": str(amount),
                "total_fee": str(trade.amount_minor),
                "cash_fee": str(trade.amount_minor),
            }
            return refund.answer, None, None

    def _refundquery(self, fields: Fields) -> Result:
        request_no = fields.get("out_refund_no", "")
        with self._lock:
            if request_no:
                trades = [t for t in self._trades.values() if request_no in t.refunds]
            else:
                found = self._find(fields)
                trades = [found] if found is not None else []
            if not trades or not trades[0].refunds:
                return {}, ("REFUNDNOTEXIST", "退款订单查询失败"), None
            trade = trades[0]
            refunds = [trade.refunds[request_no]] if request_no else list(trade.refunds.values())
            facts = {
                "transaction_id": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "total_fee": str(trade.amount_minor),
                "refund_count": str(len(refunds)),
            }
            for n, refund in enumerate(refunds):
                facts[f"out_refund_no_{n}"] = refund.out_request_no
                facts[f"refund_id_{n}"] = refund.refund_id
                facts[f"refund_fee_{n}"] = str(refund.amount_minor)
                facts[f"refund_status_{n}"] = "SUCCESS"
            return facts, None, None

    # in-app orders ---------------------------------------------------------------------------
    def _unifiedorder(self, fields: Fields) -> Result:
        out_trade_no, amount = fields.get("out_trade_no", ""), _fee(fields.get("total_fee"))
        trade_type = fields.get("trade_type", "")
        if not out_trade_no or amount is None or trade_type not in ("NATIVE", "JSAPI", "APP", "MWEB"):
            return {}, ("PARAM_ERROR", "参数错误"), None
        with self._lock:
            trade, problem = self._open_order(
                out_trade_no, amount, fields.get("attach", ""), fields.get("notify_url", "")
            )
            trade.extra.setdefault("trade_type", trade_type)
            trade.extra.setdefault("prepay_id", f"wx{trade.trade_no}")
            behaviour = self.behaviour(out_trade_no)
        if problem == "paid":
            return {}, ("ORDERPAID", "该订单已支付"), None
        if problem == "closed":
            return {}, ("ORDERCLOSED", "该订单已关闭"), None
        if problem == "mismatch":
            return {}, ("INVALID_REQUEST", "201 商户订单号重复"), None
        if behaviour.outcome == "system_error":
            return {}, ("SYSTEMERROR", "系统超时"), behaviour
        facts = {"trade_type": trade_type, "prepay_id": trade.extra["prepay_id"]}
        if trade_type == "NATIVE":
            facts["code_url"] = f"weixin://wxpay/bizpayurl?pr=sim{trade.trade_no}"
        return facts, None, behaviour

    def _notification(self, trade: Trade, forged: bool) -> tuple[bytes, str]:
        fields = {
            "return_code": "SUCCESS",
            "appid": self.appid,
            "mch_id": self.mch_id,
            "nonce_str": secrets.token_hex(16),
            "result_code": "SUCCESS",
            "out_trade_no": trade.out_trade_no,
            "trade_type": trade.extra.get("trade_type", "NATIVE"),
            "total_fee": str(trade.amount_minor),
            **self._paid_facts(trade),
        }
        fields = {k: v for k, v in fields.items() if v}
        fields["sign"] = wechat_sign(fields, secrets.token_hex(16) if forged else self.api_key)
        return to_xml(fields), XML

    def _acknowledged(self, status: int, text: str) -> bool:
        answer = parse_xml(text.encode()) if status == 200 else None
        return answer is not None and answer.get("return_code") == "SUCCESS"
