"""Members and wallets from the cloud, applied on a box: checked whole, then written whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from cloud.members import phone_hash as cloud_phone_hash
from edge.checkout import wallets
from edge.checkout.models import Member, WalletCoupon
from edge.platform.security import SecretStore
from edge.platform.store import Store
from edge.sync.contract import VersionRefused


def _coupon(member: str, serial: str, **over: Any) -> dict[str, Any]:
    claims = {"c": "spring", "s": serial, "k": "percent", "v": 10, "min": 0, "nbf": 0, "exp": 2_000_000_000,
              "lim": 0, "off": "store", "n": "Spring", "w": 1} | over  # fmt: skip
    return {"member_id": member, "claims": claims}


def _keys(db: Store) -> list[str]:
    with db.read() as s:
        return sorted(w.use_key for w in s.exec(select(WalletCoupon)).all())


def test_a_box_hashes_a_phone_number_as_the_cloud_does(tmp_path: Path) -> None:
    ring = SecretStore(tmp_path).keyring("lookup")
    digits = "8613800001111"
    assert wallets.phone_hash(ring, digits) == cloud_phone_hash(ring.active()[1], "+86 138-0000-1111")


def test_members_apply_whole_or_not_at_all(db: Store) -> None:
    apply = wallets.appliers(db)["members"]
    apply(1, [{"id": "m1", "name": "Ann", "tier": "gold", "phone_hash": "a" * 64, "facepay": "chain"}])
    bad = [{"id": "m2", "name": "Bo"}, {"id": "m3", "phone_hash": "not-a-digest"}]
    with pytest.raises(VersionRefused, match="phone_hash"):
        apply(2, bad)
    with db.read() as s:
        assert s.get(Member, "m2") is None, "a refused version writes none of its rows"
        m1 = s.get(Member, "m1")
        assert m1 is not None and (m1.origin, m1.tier, m1.facepay) == ("cloud", "gold", "chain")
    for hostile in ([{"id": ""}], [{"id": "x" * 37}], ["m1"], [{"id": "m1", "name": "a\x00b"}]):
        with pytest.raises(VersionRefused):
            apply(3, hostile)


def test_wallets_upsert_spend_and_erase(db: Store) -> None:
    apply = wallets.appliers(db)
    apply["members"](1, [{"id": "m1", "name": "Ann"}])
    apply["wallets"](2, [_coupon("m1", "s1"), _coupon("m1", "s2")])
    apply["wallets"](3, [_coupon("m1", "s1")])  # the same coupon again: no duplicate
    assert _keys(db) == ["spring:s1", "spring:s2"]
    apply["wallets"](4, [{"use_key": "spring:s1", "status": "used"}])
    assert _keys(db) == ["spring:s2"]
    with db.read() as s:
        row = s.get(WalletCoupon, "spring:s2")
        assert row is not None and json.loads(row.claims)["w"] == 1
    apply["members"](5, [{"id": "m1", "erased": True}])
    assert _keys(db) == []
    with db.read() as s:
        m = s.get(Member, "m1")
        assert m is not None and m.name == "" and m.phone_hash is None


@pytest.mark.parametrize(
    "over",
    [{"lim": 2}, {"k": "bogo"}, {"v": 95}, {"v": "10"}, {"exp": None}, {"c": "x" * 41}, {"off": "maybe"}, {"v": True}],
)
def test_a_wallet_coupon_pricing_could_not_trust_refuses_the_version(db: Store, over: dict[str, Any]) -> None:
    with pytest.raises(VersionRefused):
        wallets.appliers(db)["wallets"](1, [_coupon("m1", "ok"), _coupon("m1", "bad", **over)])
    assert _keys(db) == [], "nothing of a refused version is written"
