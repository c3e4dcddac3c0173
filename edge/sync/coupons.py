"""The cloud as the chain's coupon authority (edge.sync.contract.CouponAuthority).

A checkout on any box of any store asks here, with a deadline of `sync.coupon_reserve_timeout_s`
(200 ms), whether its single-use coupons are still free, and holds them while it takes the
money; once the order is written, it says so in the background (`redeemed`). Anything but a
clear answer (a timeout, a refused connection, a 5xx, a bad token) is "unreachable", and the
coupon's offline policy decides at the till; a clear "used" refuses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from edge.sync.contract import CouponUse, Reservation
from edge.sync.settings import SyncSettings

log = logging.getLogger(__name__)


class CloudCoupons:
    def __init__(self, settings: SyncSettings, token: Callable[[], str | None]) -> None:
        self.settings = settings
        self.token = token
        phase = settings.coupon_reserve_timeout_s / 2  # connect, then send and answer: about the deadline
        self.http = httpx.Client(
            base_url=(settings.url or "").rstrip("/"),
            timeout=httpx.Timeout(phase),
            verify=str(settings.ca_file) if settings.ca_file else True,
            headers={"User-Agent": "retail-edge-coupons/1"},
        )
        self._background = ThreadPoolExecutor(1, thread_name_prefix="coupon-commit")

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response | str:
        token = self.token()
        if not token:
            return "no sync token on this box"
        try:
            return self.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        except httpx.TimeoutException:
            return f"no answer within {self.settings.coupon_reserve_timeout_s * 1000:.0f} ms"
        except httpx.HTTPError as exc:
            return f"cloud unreachable: {type(exc).__name__}"

    def reserve(self, holder: str, uses: list[CouponUse]) -> Reservation:
        body = {
            "holder": holder,
            "uses": [{"use_key": u.use_key, "coupon_id": u.coupon_id} for u in uses],
            "ttl_s": self.settings.coupon_reserve_ttl_s,
        }
        resp = self._post("/v1/coupons/reserve", body)
        if isinstance(resp, str):
            log.warning("coupon reservation for %s: %s; the offline policy decides", holder, resp)
            return Reservation("unreachable", reason=resp)
        if resp.status_code == 200:
            return Reservation("reserved")
        if resp.status_code == 409:
            try:
                key = resp.json().get("use_key")
            except ValueError:
                key = None
            return Reservation("used", use_key=key if isinstance(key, str) else None)
        reason = f"the cloud answered {resp.status_code}"
        log.warning("coupon reservation for %s: %s; the offline policy decides", holder, reason)
        return Reservation("unreachable", reason=reason)

    def release(self, holder: str, use_keys: list[str]) -> None:
        resp = self._post("/v1/coupons/release", {"holder": holder, "use_keys": use_keys})
        if isinstance(resp, str) or resp.status_code != 200:
            log.info("coupon release for %s not confirmed; the reservation lapses by itself", holder)

    def redeemed(self, holder: str, use_keys: list[str], order_id: str) -> None:
        self._background.submit(self._commit, holder, use_keys, order_id)

    def _commit(self, holder: str, use_keys: list[str], order_id: str) -> None:
        body = {"holder": holder, "use_keys": use_keys, "order_id": order_id}
        resp = self._post("/v1/coupons/commit", body)
        if isinstance(resp, str) or resp.status_code != 200:
            log.info("coupon commit for order %s not confirmed; the order's event commits it", order_id)

    def close(self) -> None:
        self._background.shutdown(wait=False, cancel_futures=True)
        self.http.close()
