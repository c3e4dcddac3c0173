"""The product catalog: import (CSV/JSON rows), atomic version swaps, and lookups by GTIN.

Each row is validated on its own so an import reports exactly what it refused and why; the
accepted rows are written in one transaction. A catalog *version* from down-sync is stricter:
any bad row refuses the whole version, and the swap (products + promotions) is one
transaction, so a cart never prices against half a catalog.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import select

from edge.checkout import shelf
from edge.checkout.contract import ProductView
from edge.checkout.models import CatalogState, Product, Promotion
from edge.platform import gs1, gs1facts
from edge.platform.errors import InvalidInput
from edge.platform.store import ReadTx, Store, Tx
from edge.platform.timeutil import store_today, utcnow

MAX_PRICE_MINOR = 100_000_000  # 1,000,000.00: anything above is a typo, not a price
TAX_CLASSES = ("standard", "reduced", "zero")
_BOOL_TRUE = {"1", "true", "yes", "y", "t"}
_BOOL_FALSE = {"0", "false", "no", "n", "f", ""}


@dataclass
class Refusal:
    row: int  # 1-based position in the input
    gtin: str
    code: str
    reason: str


@dataclass
class ImportReport:
    accepted: int = 0
    refused: list[Refusal] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by_code: dict[str, int] = {}
        for r in self.refused:
            by_code[r.code] = by_code.get(r.code, 0) + 1
        return {"accepted": self.accepted, "refused": len(self.refused), "refused_by_code": by_code}


def _text(row: dict[str, Any], key: str, limit: int, default: str = "") -> str:
    value = row.get(key)
    if value is None:
        return default
    text = str(value).strip()
    if len(text) > limit:
        raise InvalidInput(f"{key} is longer than {limit} characters", code=f"{key}_too_long")
    if any(ord(c) < 32 for c in text):
        raise InvalidInput(f"{key} contains control characters", code=f"bad_{key}")
    return text


def _int(row: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"{key} must be a whole number", code=f"bad_{key}")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidInput(f"{key} must be whole minor units (cents), not {value}", code=f"bad_{key}")
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{key} must be a whole number, got {str(value)[:20]!r}", code=f"bad_{key}") from None


def _bool(row: dict[str, Any], key: str) -> bool:
    value = row.get(key)
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _BOOL_TRUE:
        return True
    if text in _BOOL_FALSE:
        return False
    raise InvalidInput(f"{key} must be true or false", code=f"bad_{key}")


def parse_row(row: dict[str, Any], default_currency: str) -> Product:
    """One input row -> a Product, or InvalidInput naming what is wrong."""
    if not isinstance(row, dict):
        raise InvalidInput("a row must be an object", code="bad_row")
    gtin = gs1.normalise_gtin(str(row.get("gtin", "")))
    name = _text(row, "name", 200)
    if not name:
        raise InvalidInput("name is required", code="missing_name")
    price = _int(row, "price_minor")
    if price is None:
        raise InvalidInput("price_minor is required", code="missing_price")
    if not 0 < price <= MAX_PRICE_MINOR:
        raise InvalidInput("price_minor must be above 0 and at most 100000000", code="bad_price_minor")
    member_price = _int(row, "member_price_minor")
    if member_price is not None and not 0 < member_price <= price:
        raise InvalidInput("member_price_minor must be above 0 and not above the price", code="bad_member_price")
    currency = _text(row, "currency", 3, default_currency).upper() or default_currency
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput("currency must be a 3-letter ISO code", code="bad_currency")
    tax_class = _text(row, "tax_class", 16, "standard") or "standard"
    if tax_class not in TAX_CLASSES:
        raise InvalidInput(f"tax_class must be one of {', '.join(TAX_CLASSES)}", code="bad_tax_class")
    stock = _int(row, "stock", 0) or 0
    if not 0 <= stock <= 10_000_000:
        raise InvalidInput("stock must be between 0 and 10000000", code="bad_stock")
    return Product(
        gtin=gtin,
        name=name,
        price_minor=price,
        currency=currency,
        member_price_minor=member_price,
        tax_class=tax_class,
        category=_text(row, "category", 64),
        style=_text(row, "style", 64),
        size=_text(row, "size", 16),
        colour=_text(row, "colour", 32),
        stock=stock,
        weighed=_bool(row, "weighed"),
        age_restricted=_bool(row, "age_restricted"),
        updated_at=utcnow(),
    )


def _upsert(session: Tx, product: Product) -> None:
    existing = session.get(Product, product.gtin)
    if existing is None:
        session.add(product)
        return
    for key, value in product.model_dump(exclude={"gtin"}).items():
        setattr(existing, key, value)
    session.add(existing)


def import_products(
    store: Store,
    rows: list[dict[str, Any]],
    *,
    default_currency: str = "CNY",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert valid rows in one transaction; each bad row is refused with a code and a reason."""
    report = ImportReport()
    seen: set[str] = set()
    with store.write() as s:
        for i, row in enumerate(rows, start=1):
            raw_gtin = str(row.get("gtin", ""))[:20] if isinstance(row, dict) else ""
            try:
                product = parse_row(row, default_currency)
                if product.gtin in seen:
                    raise InvalidInput("this GTIN appears twice in the file", code="duplicate_gtin")
            except InvalidInput as exc:
                report.refused.append(Refusal(i, raw_gtin, exc.code, exc.message))
            else:
                seen.add(product.gtin)
                _upsert(s, product)
                report.accepted += 1
            if progress:
                progress(1)
        if report.accepted:
            s.outbox("catalog", "catalog.imported", report.summary())
    return report


def apply_catalog_version(
    store: Store,
    version: str,
    rows: list[dict[str, Any]],
    promotions: list[dict[str, Any]] | None = None,
    *,
    default_currency: str = "CNY",
) -> int:
    """Replace the whole catalog (and promotions, if given) atomically; any bad row refuses it all."""
    from edge.checkout.promotions import parse_promotion

    products: list[Product] = []
    for i, row in enumerate(rows, start=1):
        try:
            products.append(parse_row(row, default_currency))
        except InvalidInput as exc:
            raise InvalidInput(
                f"catalog version {version} refused: row {i}: {exc.message}",
                code="catalog_version_invalid",
                details={"row": i, "code": exc.code},
            ) from None
    if len({p.gtin for p in products}) != len(products):
        raise InvalidInput(f"catalog version {version} has duplicate GTINs", code="catalog_version_invalid")
    promos = [parse_promotion(p) for p in promotions] if promotions is not None else None
    with store.write() as s:
        s.exec(delete(Product))  # type: ignore[call-overload]
        for p in products:
            s.add(p)
        if promos is not None:
            s.exec(delete(Promotion))  # type: ignore[call-overload]
            for promo in promos:
                s.add(promo)
        state = s.get(CatalogState, 1) or CatalogState(id=1)
        state.version, state.applied_at, state.products = version[:64], utcnow(), len(products)
        state.promotions = len(promos) if promos is not None else state.promotions
        s.add(state)
        s.outbox("catalog", "catalog.version_applied", {"version": version, "products": len(products)})
    return len(products)


def read_file(path: Path) -> list[dict[str, Any]]:
    """Rows from a .csv (header row) or .json (a list, or {"products": [...]}) file."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}", code="bad_file"
            ) from None
        if isinstance(data, dict):
            data = data.get("products")
        if not isinstance(data, list):
            raise InvalidInput('a JSON catalog is a list of products or {"products": [...]}', code="bad_file")
        return data
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    raise InvalidInput("catalog files are .csv or .json", code="bad_file")


def to_view(p: Product) -> ProductView:
    return ProductView(
        gtin=p.gtin,
        name=p.name,
        price_minor=p.price_minor,
        currency=p.currency,
        category=p.category,
        style=p.style,
        size=p.size,
        colour=p.colour,
        stock=p.stock,
        weighed=p.weighed,
        age_restricted=p.age_restricted,
        member_price_minor=p.member_price_minor,
        tax_class=p.tax_class,
    )


class Catalog:
    """CatalogReader for other domains (ctx.require("catalog")), plus checkout's own lookups."""

    def __init__(self, store: Store, timezone: str = "UTC") -> None:
        self.store = store
        self.timezone = timezone

    def refusal(self, facts: gs1facts.Facts) -> dict[str, Any] | None:
        """Why this pack may not be sold (past its use-by date, recalled): code, message and
        details; None when it may. The same rule the kiosk applies (edge.checkout.shelf)."""
        with self.store.read() as s:
            found = shelf.pack_refusal(s, facts, store_today(self.timezone))
        return None if found is None else {"code": found.code, "message": found.message, "details": found.details}

    def get(self, gtin: str) -> ProductView | None:
        try:
            key = gs1.normalise_gtin(gtin)
        except InvalidInput:
            return None
        with self.store.read() as s:
            p = s.get(Product, key)
            return to_view(p) if p else None

    def variants(self, gtin: str) -> list[ProductView]:
        try:
            key = gs1.normalise_gtin(gtin)
        except InvalidInput:
            return []
        with self.store.read() as s:
            p = s.get(Product, key)
            if p is None:
                return []
            if not p.style:
                return [to_view(p)]
            rows = s.exec(select(Product).where(Product.style == p.style).order_by(Product.gtin))  # type: ignore[arg-type]
            return [to_view(r) for r in rows]

    def products(self, session: ReadTx, keys: Iterable[str]) -> dict[str, Product]:
        """Many products in the caller's read (one snapshot of the catalog)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        rows = session.exec(select(Product).where(Product.gtin.in_(wanted)))  # type: ignore[attr-defined]
        return {p.gtin: p for p in rows}

    def counts(self) -> dict[str, Any]:
        with self.store.read() as s:
            n = s.exec(select(func.count()).select_from(Product)).one()
            state = s.get(CatalogState, 1)
            promos = s.exec(select(func.count()).select_from(Promotion)).one()
        return {"products": n, "promotions": promos, "version": state.version if state else ""}
