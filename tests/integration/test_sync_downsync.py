# ruff: noqa: F811 (the receiver fixtures are imported from test_sync_cloud and used as arguments)
"""Down-sync against the real reference receiver on PostgreSQL: whole versions or nothing, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from edge.bus import Bus
from edge.checkout.downsync import catalog_appliers
from edge.facepay.service import FaceBackOffice
from edge.platform import gs1
from edge.platform import outbox as platform_outbox
from edge.platform.context import Context
from edge.platform.security import SecretStore
from edge.platform.store import Store
from edge.sync.downsync import DownSync
from tests.integration.test_sync_cloud import STORE, TOKEN, Receiver, cloud, db, rx  # noqa: F401 (fixtures)
from tests.support.inproc import settings_for


def _downsync(ctx: Context, enrolment: Any = None) -> DownSync:
    """Down-sync with the appliers the daemon's owners register: checkout's catalog kinds, and
    face-pay's member erasures when an enrolment service is given."""
    ds = DownSync(ctx, ctx.settings.sync, lambda: TOKEN)
    for kind, applier in catalog_appliers(ctx.store, ctx.settings.store.currency).items():
        ds.register(kind, applier)
    if enrolment is not None:
        ds.register("member_erasure", FaceBackOffice(enrolment, dict).apply_erasures)
    return ds


def _ctx(tmp_path: Path, db: Store, url: str) -> Context:
    settings = settings_for(tmp_path / "data", {"sync": {"url": url}})
    return Context(settings=settings, store=db, bus=Bus(), secrets=SecretStore(tmp_path / "data"))


def _products(n: int, price: int = 1000, prefix: str = "") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        body = f"400638133{i:03d}"
        out.append(
            {
                "gtin": body + gs1.check_digit(body),
                "name": f"{prefix}Product {i}",
                "price_minor": price + i,
                "currency": "CNY",
            }
        )
    return out


def test_downsync_applies_a_version_whole_and_never_a_cut_one(rx: Receiver, tmp_path: Path, db: Store) -> None:
    from edge.checkout.catalog import Catalog

    ctx = _ctx(tmp_path, db, rx.url)
    ds = _downsync(ctx)
    items = _products(50)
    rx.publish("catalog", items, store_id=STORE)
    rx.faults(mode="drop", paths=[f"/v1/stores/{STORE}/changes"], remaining=1)
    assert ds.poll() == 0
    assert "cut" in ds.last_error
    assert Catalog(db).counts()["products"] == 0, "a half-downloaded version must not be applied"
    assert ds.status()["cursor"] == 0
    assert ds.poll() == 1
    assert Catalog(db).counts()["products"] == 50
    # A version with one bad row is refused whole; the catalog keeps the previous version.
    bad = _products(50, price=2000, prefix="New ")
    bad[30]["price_minor"] = -5
    rx.publish("catalog", bad, store_id=STORE)
    assert ds.poll() == 0
    assert {p.name for p in _all_products(db)} == {f"Product {i}" for i in range(50)}
    st = ds.status()
    assert st["last_refused"]["kind"] == "catalog" and "row 31" in st["last_refused"]["reason"]
    # Partial price updates merge onto the current rows; an idle poll is a 304.
    rx.publish("prices", [{"gtin": items[0]["gtin"], "price_minor": 123}], store_id=STORE)
    assert ds.poll() == 1
    assert Catalog(db).get(items[0]["gtin"]).price_minor == 123  # type: ignore[union-attr]
    assert ds.poll() == 0 and ds.last_error == ""
    assert ds.status()["staleness_s"] < 5
    ds.http.close()


def test_a_version_that_fails_inside_its_transaction_leaves_the_old_catalog(
    rx: Receiver, tmp_path: Path, db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The apply dies after the old rows are deleted: carts meanwhile see the old catalog, and so after."""
    import threading

    from edge.checkout.catalog import Catalog

    ctx = _ctx(tmp_path, db, rx.url)
    ds = _downsync(ctx, _enrolment(ctx, tmp_path, []))  # erasures other tests published
    statuses: list[int] = []
    ds.http.event_hooks["response"].append(lambda r: statuses.append(r.status_code))
    old = _products(20, price=500, prefix="Old ")
    rx.publish("catalog", old, store_id=STORE)
    ds.poll()
    cursor = ds.status()["cursor"]
    rx.publish("catalog", _products(30, price=900, prefix="New "), store_id=STORE)
    seen_by_cart: list[tuple[int, str]] = []
    real_add = platform_outbox.add

    def add_then_fail(s: Any, stream: str, kind: str, payload: dict[str, Any], *a: Any) -> str:
        real_add(s, stream, kind, payload, *a)
        if kind == "catalog.version_applied":  # old rows deleted, new ones added, not yet committed

            def cart_lookup() -> None:
                view = Catalog(db).get(old[0]["gtin"])
                seen_by_cart.append((Catalog(db).counts()["products"], view.name if view else ""))

            t = threading.Thread(target=cart_lookup)
            t.start()
            t.join(10)
            raise OSError("disk I/O error")
        return ""

    monkeypatch.setattr(platform_outbox, "add", add_then_fail)
    with pytest.raises(OSError, match="disk I/O"):
        ds.poll()
    assert seen_by_cart == [(20, "Old Product 0")], "a cart saw half of the new version"
    assert {p.name for p in _all_products(db)} == {f"Old Product {i}" for i in range(20)}
    assert ds.status()["cursor"] == cursor, "a failed version must be tried again, not skipped"
    monkeypatch.undo()
    assert ds.poll() == 1
    assert {p.name for p in _all_products(db)} == {f"New Product {i}" for i in range(30)}
    assert ds.poll() == 0  # the first empty answer after the new cursor carries the ETag to keep
    statuses.clear()
    assert ds.poll() == 0
    assert statuses == [304], "an idle poll with the stored ETag is answered 304"
    ds.http.close()


def _all_products(db: Store) -> list[Any]:
    from edge.checkout.models import Product

    with db.read() as s:
        return list(s.exec(select(Product)).all())


def _enrolment(ctx: Context, tmp_path: Path, members: list[str]) -> Any:
    """Face-pay's real enrolment service (no models needed to erase), with members enrolled on disk."""
    from edge.facepay.models import FaceConsent, FaceMember
    from edge.facepay.service import build_services
    from edge.facepay.settings import FacepaySettings

    with ctx.store.write() as s:
        for m in members:
            s.add(FaceMember(member_id=m, phone_hash=f"hash-{m}"))
            s.add(FaceConsent(member_id=m, consent_version="v1", kiosk_id="k1", actor="kiosk:k1"))
    return build_services(FacepaySettings(enabled=False), tmp_path / "models", ctx.store, ctx.secrets).enrolment


def _members(db: Store) -> set[str]:
    from edge.facepay.models import FaceMember

    with db.read() as s:
        return {m.member_id for m in s.exec(select(FaceMember)).all()}


def test_member_erasures_wait_for_face_pay_and_then_apply_in_order(rx: Receiver, tmp_path: Path, db: Store) -> None:
    ctx = _ctx(tmp_path, db, rx.url)
    enrolment = _enrolment(ctx, tmp_path, ["m-1", "m-2", "m-keep"])
    ds = _downsync(ctx, enrolment)
    ds.poll()  # skip versions other tests published
    erase = ds.appliers.pop("member_erasure")  # face-pay stops
    v = rx.publish("member_erasure", [{"member_id": "m-1"}, {"member_id": "never-enrolled"}], store_id=STORE)
    assert ds.poll() == 0
    assert "member_erasure versions is not running" in ds.last_error
    assert ds.status()["cursor"] == v - 1, "an erasure is held, never skipped, while face-pay is down"
    ds.register("member_erasure", erase)  # face-pay is back
    assert ds.poll() == 1
    assert _members(db) == {"m-2", "m-keep"}
    assert ds.status()["cursor"] == v
    ds.http.close()


def test_an_erasure_version_that_fails_part_way_erases_no_one(
    rx: Receiver, tmp_path: Path, db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One version, one transaction: an error on the second member leaves the first one enrolled too."""
    from edge.facepay import enrolment as enrolment_mod

    ctx = _ctx(tmp_path, db, rx.url)
    svc = _enrolment(ctx, tmp_path, ["m-a", "m-b", "m-c"])
    ds = _downsync(ctx, svc)
    ds.poll()  # skip versions other tests published
    v = rx.publish("member_erasure", [{"member_id": "m-a"}, {"member_id": "m-b"}], store_id=STORE)
    real = enrolment_mod.EnrolmentService._erase_in

    def fail_on_b(self: Any, s: Any, member_id: str, *args: Any) -> bool:
        if member_id == "m-b":
            raise RuntimeError("disk I/O error while erasing m-b")
        return real(self, s, member_id, *args)

    monkeypatch.setattr(enrolment_mod.EnrolmentService, "_erase_in", fail_on_b)
    with pytest.raises(RuntimeError, match="m-b"):
        ds.poll()
    assert _members(db) == {"m-a", "m-b", "m-c"}, "m-a was erased although its version failed"
    assert ds.status()["cursor"] == v - 1
    monkeypatch.setattr(enrolment_mod.EnrolmentService, "_erase_in", real)
    assert ds.poll() == 1
    assert _members(db) == {"m-c"} and ds.status()["cursor"] == v
    ds.http.close()
