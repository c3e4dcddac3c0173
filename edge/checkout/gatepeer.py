"""Exit passes across the boxes of one store: one box serves the gates, the others forward to it.

A large store runs several boxes on one store broker, and a pass issued by any of them must open
any gate of the store, once. One authority per fact, no consensus: only the box that serves the
gates (named on the others by `checkout.gate_box_url`) marks a pass used. The other boxes forward
a gate's check, and a void's revocation, to it. Calls between boxes carry a short-lived token of
the store's `peer` key ring, which the cloud delivers to the boxes of this store only
(edge/sync/keys.py), bound to the call's body. When the gate box does not answer, the gate stays
shut (503 `gate_box_unreachable`: staff check the receipt) and a void waits: nothing is decided
in two places.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Table, insert, select, update

from edge.checkout.models import ForeignPass
from edge.checkout.settings import CheckoutSettings
from edge.platform.codes import PassRefusal
from edge.platform.errors import Conflict, EdgeError, Forbidden, Gone, InvalidInput, Unavailable
from edge.platform.security import SecretStore, Signer, TokenError
from edge.platform.store import Tx

PEER_HEADER = "X-Retail-Peer"
_FP: Table = ForeignPass.__table__  # type: ignore[attr-defined]
_BY_STATUS: dict[int, type[EdgeError]] = {400: InvalidInput, 403: Forbidden, 409: Conflict, 410: Gone}


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


class PeerAuth:
    """Tokens between the boxes of one store: who calls, bound to the exact body, for 30 s."""

    def __init__(self, secrets: SecretStore, box: str) -> None:
        self.signer = Signer("peer", secrets.keyring("peer"))
        self.box = box

    def token(self, body: bytes) -> str:
        return self.signer.sign({"b": self.box, "h": _digest(body)}, ttl_s=30)

    def check(self, token: str, body: bytes) -> tuple[str, dict[str, Any]]:
        """(the calling box, the body's JSON object); 403 peer_refused otherwise."""
        try:
            claims = self.signer.verify(token)
        except TokenError:
            claims = {}
        if claims.get("h") != _digest(body) or not isinstance(claims.get("b"), str):
            raise Forbidden("this call does not come from a box of this store", code="peer_refused")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise InvalidInput("the body must be a JSON object", code="invalid_body")
        return claims["b"], payload


class RemoteGate:
    """The store's gate box, as the other boxes reach it."""

    def __init__(self, settings: CheckoutSettings, auth: PeerAuth) -> None:
        self.auth = auth
        self.http = httpx.Client(
            base_url=settings.gate_box_url.rstrip("/"),
            timeout=httpx.Timeout(settings.gate_box_timeout_s),
            verify=str(settings.gate_box_ca_file) if settings.gate_box_ca_file else True,
            headers={"User-Agent": "retail-edge-peer/1"},
        )

    def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The gate box's answer; its typed refusals raised as the same error; anything else 503."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {PEER_HEADER: self.auth.token(body), "Content-Type": "application/json"}
        try:
            resp = self.http.post(path, content=body, headers=headers)
            answer = resp.json()
        except (httpx.HTTPError, ValueError):
            answer, resp = None, None
        if resp is not None and isinstance(answer, dict):
            if resp.status_code == 200:
                return answer
            got = answer.get("error")
            err: dict[str, Any] = got if isinstance(got, dict) else {}
            kind = _BY_STATUS.get(resp.status_code)
            if kind is not None and isinstance(err.get("code"), str) and isinstance(err.get("message"), str):
                raise kind(err["message"][:300], code=err["code"][:64])
            if err.get("code") == "peer_refused":
                raise Unavailable(
                    "the gate box does not recognise this box: both need this store's keys from the cloud",
                    code="gate_box_refused",
                )
        raise Unavailable("the gate box is not answering; staff check the receipt", code="gate_box_unreachable")

    def close(self) -> None:
        self.http.close()


def use_foreign(s: Tx, claims: dict[str, Any], gate_id: str, now: datetime) -> None:
    """The single use of a pass another box issued (in the gate's write); PassRefusal otherwise."""
    row = s.run(select(_FP.c.used_at, _FP.c.revoked_at).where(_FP.c.pass_id == claims["p"])).first()
    if row is not None and row.revoked_at is not None:
        raise PassRefusal("revoked", "order voided at its box")
    if row is not None and row.used_at is not None:
        raise PassRefusal("used", "already used")
    if row is None:
        s.run(insert(_FP).values(pass_id=claims["p"], order_id=claims["o"], box=claims["b"], used_at=now,
                                 gate_id=gate_id[:64]))  # fmt: skip
    else:
        s.run(update(_FP).where(_FP.c.pass_id == claims["p"]).values(used_at=now, gate_id=gate_id[:64]))


def revoke_foreign(s: Tx, box: str, pass_id: str, order_id: str, now: datetime) -> bool:
    """Revoke another box's pass before its order is voided; False when it was already used."""
    row = s.run(select(_FP.c.used_at).where(_FP.c.pass_id == pass_id)).first()
    if row is not None:
        if row.used_at is not None:
            return False
        s.run(update(_FP).where(_FP.c.pass_id == pass_id).values(revoked_at=now))
        return True
    s.run(insert(_FP).values(pass_id=pass_id, order_id=order_id, box=box, revoked_at=now, gate_id=""))
    return True
