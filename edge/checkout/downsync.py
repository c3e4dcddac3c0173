"""The catalog, prices and promotions the cloud sends down, applied by checkout's own atomic
functions (registered with sync's down-sync as appliers; see edge.sync.contract)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from edge.checkout.catalog import apply_catalog_version, import_products, parse_row
from edge.checkout.models import Product
from edge.checkout.shelf import apply_recalls
from edge.platform import gs1
from edge.platform.errors import EdgeError, ResourceFault
from edge.platform.store import Store
from edge.sync.contract import Applier, VersionRefused


def catalog_appliers(store: Store, currency: str) -> dict[str, Applier]:
    """Each version applies in one transaction: a cart sees the old catalog or the new one."""

    def catalog(version: int, items: list[Any]) -> None:
        try:
            apply_catalog_version(store, f"cloud-{version}", items, default_currency=currency)
        except ResourceFault:
            raise  # the box failed, not the version: tried again later
        except EdgeError as exc:
            raise VersionRefused(f"{exc.code}: {exc.message}") from exc

    def prices(version: int, items: list[Any]) -> None:
        """Partial updates (gtin + fields) merged onto current rows; any bad row refuses the version."""
        merged: list[dict[str, Any]] = []
        with store.read() as s:
            for item in items:
                if not isinstance(item, dict) or "gtin" not in item:
                    raise VersionRefused("a price row needs a gtin")
                try:
                    key = gs1.normalise_gtin(str(item["gtin"]))
                except EdgeError as exc:
                    raise VersionRefused(f"{exc.code}: {exc.message}") from exc
                current = s.get(Product, key)
                base = current.model_dump(exclude={"updated_at"}) if current is not None else {}
                merged.append({**base, **item, "gtin": key})
        for i, row in enumerate(merged, start=1):
            try:
                parse_row(row, currency)
            except EdgeError as exc:
                raise VersionRefused(f"row {i}: {exc.code}: {exc.message}") from exc
        report = import_products(store, merged, default_currency=currency)
        if report.refused:  # validated above; only a race could get here
            raise VersionRefused(f"{len(report.refused)} rows refused: {report.refused[0].reason}")

    def promotions(version: int, items: list[Any]) -> None:
        with store.read() as s:
            rows = [p.model_dump(exclude={"updated_at"}) for p in s.exec(select(Product)).all()]
        try:
            apply_catalog_version(store, f"cloud-{version}", rows, promotions=items, default_currency=currency)
        except ResourceFault:
            raise
        except EdgeError as exc:
            raise VersionRefused(f"{exc.code}: {exc.message}") from exc

    def recalls(version: int, items: list[Any]) -> None:
        """The whole recall list, replaced atomically (edge.checkout.shelf)."""
        try:
            apply_recalls(store, version, items)
        except ValueError as exc:
            raise VersionRefused(str(exc)) from exc

    return {"catalog": catalog, "prices": prices, "promotions": promotions, "recalls": recalls}
