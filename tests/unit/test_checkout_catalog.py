"""Catalog: import with per-row refusals, lookups, variants, atomic version swaps, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from edge.app import prepare_storage
from edge.checkout.catalog import Catalog, apply_catalog_version, import_products
from edge.demo.catalog import LOOSE_APPLES, RICE_WINE, seed_catalog
from edge.demo.gtins import FASHION, GROCERY
from edge.platform import gs1, gs1facts
from edge.platform.errors import InvalidInput
from edge.platform.store import Store
from edge.scanning.settings import ScanningSettings
from tests.support.inproc import settings_for
from tests.support.services import ROOT


@pytest.fixture
def db(tmp_path: Path) -> Store:
    return prepare_storage(settings_for(tmp_path / "data"))


def test_import_accepts_good_rows_and_says_why_bad_ones_are_refused(db: Store) -> None:
    good = GROCERY[0][0]
    bad_check = good[:-1] + str((int(good[-1]) + 1) % 10)
    rows = [
        {"gtin": good, "name": "Tea", "price_minor": 2990},
        {"gtin": bad_check, "name": "Typo", "price_minor": 100},
        {"gtin": "12345", "name": "Short", "price_minor": 100},
        {"gtin": GROCERY[1][0], "name": "Milk", "price_minor": -5},
        {"gtin": GROCERY[2][0], "name": "", "price_minor": 100},
        {"gtin": GROCERY[3][0], "name": "Water", "price_minor": 12.5},
        {"gtin": good, "name": "Tea again", "price_minor": 1},
        {"gtin": GROCERY[4][0], "name": "Choc", "price_minor": 1590, "member_price_minor": 2000},
    ]
    report = import_products(db, rows)
    assert report.accepted == 1
    assert [(r.row, r.code) for r in report.refused] == [
        (2, "bad_check_digit"),
        (3, "invalid_gtin"),
        (4, "bad_price_minor"),
        (5, "missing_name"),
        (6, "bad_price_minor"),
        (7, "duplicate_gtin"),
        (8, "bad_member_price"),
    ]
    catalog = Catalog(db)
    assert catalog.get(good) is not None and catalog.get(good).price_minor == 2990  # type: ignore[union-attr]
    assert catalog.get(GROCERY[1][0]) is None


def test_lookup_normalises_any_gtin_length_and_variants_share_a_style(db: Store) -> None:
    report = import_products(
        db,
        [
            {"gtin": g, "name": n, "price_minor": p, "style": st, "size": sz, "colour": c, "stock": s}
            for g, st, n, sz, c, p, s in FASHION
        ],
    )
    assert report.accepted == len(FASHION)
    catalog = Catalog(db)
    tee_m_white = FASHION[1][0]
    assert catalog.get("0" + tee_m_white).gtin == "0" + tee_m_white  # type: ignore[union-attr]
    variants = catalog.variants(tee_m_white)
    assert {(v.size, v.colour, v.stock) for v in variants} == {
        ("S", "white", 4),
        ("M", "white", 0),
        ("L", "white", 6),
        ("M", "navy", 3),
    }
    assert catalog.variants("4006381333931") == []  # valid but unknown
    assert catalog.get("not a code") is None


def test_reimport_updates_in_place(db: Store) -> None:
    g = GROCERY[0][0]
    import_products(db, [{"gtin": g, "name": "Tea", "price_minor": 2990, "stock": 3}])
    import_products(db, [{"gtin": g, "name": "Tea", "price_minor": 3190, "stock": "7"}])
    p = Catalog(db).get(g)
    assert p is not None and (p.price_minor, p.stock) == (3190, 7)


def test_a_catalog_version_with_one_bad_row_changes_nothing(db: Store) -> None:
    g0, g1 = GROCERY[0][0], GROCERY[1][0]
    apply_catalog_version(db, "v1", [{"gtin": g0, "name": "Tea", "price_minor": 100}])
    with pytest.raises(InvalidInput) as err:
        apply_catalog_version(
            db,
            "v2",
            [{"gtin": g1, "name": "Milk", "price_minor": 200}, {"gtin": "1", "name": "x", "price_minor": 1}],
        )
    assert err.value.code == "catalog_version_invalid"
    catalog = Catalog(db)
    assert catalog.get(g0) is not None and catalog.get(g1) is None
    assert catalog.counts()["version"] == "v1"
    apply_catalog_version(db, "v2", [{"gtin": g1, "name": "Milk", "price_minor": 200}])
    assert catalog.get(g0) is None and catalog.get(g1) is not None


def test_demo_seed_is_idempotent_and_marks_the_rice_wine(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    seed_catalog(settings)
    seed_catalog(settings)
    db = prepare_storage(settings)
    catalog = Catalog(db)
    counts = catalog.counts()
    assert counts["products"] == len(GROCERY) + len(FASHION) + 2
    assert counts["promotions"] == 3
    wine = catalog.get(RICE_WINE)
    assert wine is not None and wine.age_restricted
    apples = catalog.get(LOOSE_APPLES)
    assert apples is not None and apples.weighed


def test_variable_measure_codes_decode_to_the_catalog_item() -> None:
    layout = ScanningSettings().layout()
    code = gs1.variable_measure_code(LOOSE_APPLES, 1234)
    facts = gs1facts.typed_facts(code, layout)
    assert (facts.measure, facts.value, facts.lookup_gtin) == ("weight", 1234, "0" + LOOSE_APPLES)
    plain = gs1facts.typed_facts(GROCERY[0][0], layout)
    assert (plain.measure, plain.lookup_gtin) == ("", plain.gtin)


def test_cli_import_reports_refusals(tmp_path: Path) -> None:
    csv_file = tmp_path / "products.csv"
    csv_file.write_text(
        "gtin,name,price_minor,weighed\n"
        f"{GROCERY[0][0]},Tea,2990,false\n"
        "123,Bad,100,false\n"
        f"{GROCERY[1][0]},Milk,abc,no\n"
    )
    env = {"RETAIL_EDGE_STORAGE__DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "catalog", "import", str(csv_file), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["accepted"] == 1 and out["refused"] == 2
    assert {r["code"] for r in out["refusals"]} == {"invalid_gtin", "bad_price_minor"}
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "catalog", "import", str(bad_json)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_import_of_a_json_file_prints_a_readable_summary(tmp_path: Path) -> None:
    """Without --json, store IT reads a progress label, the counts and each refused row's reason."""
    products = {
        "products": [
            {"gtin": GROCERY[0][0], "name": "Tea", "price_minor": 2990, "member_price_minor": 2690},
            {"gtin": GROCERY[1][0], "name": "Milk", "price_minor": 1290, "age_restricted": False},
            {"gtin": GROCERY[2][0][:-1] + str((int(GROCERY[2][0][-1]) + 1) % 10), "name": "Typo", "price_minor": 1},
        ]
    }
    json_file = tmp_path / "products.json"
    json_file.write_text(json.dumps(products))
    env = {"RETAIL_EDGE_STORAGE__DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "edge", "catalog", "import", str(json_file)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "importing" in proc.stderr  # the progress bar (its label only, off a terminal)
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "accepted 2, refused 1", proc.stdout
    assert lines[1].startswith("  row 3 ") and "bad_check_digit" in lines[1], proc.stdout
    show = [sys.executable, "-m", "edge", "catalog", "show", GROCERY[0][0]]
    shown = subprocess.run(show, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    product = json.loads(shown.stdout)["product"]
    assert (product["name"], product["price_minor"], product["member_price_minor"]) == ("Tea", 2990, 2690)


def test_a_typed_label_line_counts_its_date_lot_and_weight() -> None:
    """The line printed under a GS1 label, keyed in when it will not scan, means what the scan does."""
    layout = ScanningSettings().layout()
    tea = "0" + GROCERY[0][0]
    facts = gs1facts.typed_facts(f" (01) {tea} (17) 261205 (10) LOT9 ", layout)
    assert (facts.gtin, facts.ai("10"), facts.expiry) == (tea, "LOT9", date(2026, 12, 5))
    chicken = "9" + "695000000123"
    chicken += gs1.check_digit(chicken)
    for measure in ("(3103)000750", "(3922)000001"):  # anyone could type a price of 0.01
        with pytest.raises(InvalidInput) as err:
            gs1facts.typed_facts(f"(01){chicken}{measure}", layout)
        assert err.value.code == "typed_measure"
    packed = gs1facts.typed_facts(f"(01){tea}(3103)000250(17)261205", layout)  # a fixed pack's weight: information
    assert (packed.measure, packed.expiry) == ("", date(2026, 12, 5))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("(17)261205(10)A1", "gs1_no_gtin"),  # no GTIN: nothing to look up
        (f"(01)0{GROCERY[0][0][:-1]}{(int(GROCERY[0][0][-1]) + 1) % 10}", "gtin_bad_check_digit"),
        (f"(01)0{GROCERY[0][0]}(17)261340", "gs1_bad_date"),
        ("(01", "gs1_malformed"),
    ],
)
def test_a_mistyped_label_line_is_refused_with_its_reason(line: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        gs1facts.typed_facts(line)
    assert (err.value.code, err.value.details["reason"]) == ("bad_gs1_text", reason)
