"""The phone benchmark's world: the photos as the page sends them, the baseline on the same frames,
the store the daemon serves (catalog, gate, staff, cameras), and what the box says (/metrics,
/proc, its ledgers). scripts/bench/phone.py runs it; phone_shopper.py is the phone.

The caller puts the repository root on sys.path (as phone.py does) before importing this.
"""

from __future__ import annotations

import csv
import math
import os
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from edge.access.service import AccessService
from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.checkout.payments import SANDBOX_DB
from edge.config import load_settings
from edge.demo.catalog import demo_rows
from edge.demo.media import ensure_media
from edge.platform import gs1
from edge.platform.images import decode_image
from edge.platform.security import SecretStore, Signer
from edge.scanning.component import role_strategy
from edge.scanning.evaluation import RETAIL, Item, comparable, judge, run_ours, run_zxing
from edge.scanning.settings import ScanningSettings
from tests.support.waits import wait_for

STAFF = ("bench-it", "bench password 42")
PAGE_WIDTH = 640  # kiosk_ui/phone/scanner.js: frames at most this wide
PAGE_QUALITY = 75  # canvas.toBlob("image/jpeg", 0.75)


def pct(xs: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None (not NaN, which is not JSON) when nothing was measured."""
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))], 2) if s else None


# --- the photos, as the page sends them ---------------------------------------------------
def page_frame(img: np.ndarray) -> bytes:
    """The page's frame (scanner.js cropRect): a centre crop cw = round(0.9 w) wide, ch =
    min(h, round(0.6 cw)) high, scaled down (never up) to PAGE_WIDTH wide, JPEG quality 75."""
    h, w = img.shape[:2]
    cw = round(0.9 * w)
    ch = min(h, round(0.6 * cw))
    x, y = (w - cw) // 2, (h - ch) // 2
    crop = img[y : y + ch, x : x + cw]
    if cw > PAGE_WIDTH:
        size = (PAGE_WIDTH, max(1, round(ch * PAGE_WIDTH / cw)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)  # the canvas's "high" smoothing
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, PAGE_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())


def load_photos(manifest: Path) -> list[dict[str, Any]]:
    """The retail photos (EAN-13, EAN-8, UPC-A, UPC-E; capture == photo) with their page frame and
    expected GTIN-14s. Left out: codes the catalog refuses (bad check digit) and store-internal
    prefixes 20-29, which the box reads as variable-measure codes rather than a product."""
    out: list[dict[str, Any]] = []
    variable = {str(n) for n in range(20, 30)}
    with manifest.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["symbology"] not in RETAIL or row["capture"] != "photo":
                continue
            texts = [comparable(row["symbology"], row["expected_text"])]
            if row.get("alt_expected"):
                texts.append(comparable(row["symbology"], row["alt_expected"]))
            try:
                gtins = sorted({gs1.normalise_gtin(t) for t in texts})
            except Exception:  # not a GTIN the catalog would hold
                continue
            if any(len(t) == 13 and t[:2] in variable for t in texts):
                continue
            img = cv2.imread(str(manifest.parent / row["image"]), cv2.IMREAD_COLOR)
            if img is None:
                continue
            out.append({"image": row["image"], "symbology": row["symbology"], "texts": texts, "gtins": gtins,
                        "jpeg": page_frame(img)})  # fmt: skip
    return out


def baseline(photos: list[dict[str, Any]]) -> dict[str, Any]:
    """In this process, one thread, no HTTP, on the frames the box receives (decoded as the box
    decodes them): zxing-cpp alone (all formats, defaults), and the box's ensemble on one still
    frame with every fallback (no confirmation)."""
    ours = run_ours(role_strategy(ScanningSettings(), "phone"))
    zx_ms: list[float] = []
    zx_ok = zx_wrong = ours_ok = ours_wrong = 0
    for p in photos:
        gray = decode_image(p["jpeg"], max_bytes=400_000, max_pixels=1_300_000, gray=True)
        item = Item(p["image"], p["symbology"], set(p["texts"]), False, gray)
        t0 = time.perf_counter()
        reads = run_zxing(gray)
        zx_ms.append((time.perf_counter() - t0) * 1000)
        ok, wrong = judge(item, reads)
        zx_ok, zx_wrong = zx_ok + ok, zx_wrong + wrong
        ok, wrong = judge(item, ours(gray))
        ours_ok, ours_wrong = ours_ok + ok, ours_wrong + wrong
    n = len(photos) or 1
    return {
        "zxing_alone_p50_ms": pct(zx_ms, 0.5),
        "zxing_alone_p95_ms": pct(zx_ms, 0.95),
        "zxing_alone_read_rate": round(zx_ok / n, 3),
        "zxing_alone_wrong": zx_wrong,
        "ensemble_still_read_rate": round(ours_ok / n, 3),
        "ensemble_still_wrong": ours_wrong,
    }


# --- the store ------------------------------------------------------------------------------
def seed(data_dir: Path, photos: list[dict[str, Any]]) -> str:
    """The demo catalog (the cameras' clips show it), a product for every photo's GTIN, a gate
    device and a staff user, written before the daemon starts; the gate's device token."""
    settings = load_settings(None, overrides={"storage": {"data_dir": str(data_dir)}})
    db = prepare_storage(settings)
    currency = settings.store.currency
    rows = demo_rows(currency)
    have = {gs1.normalise_gtin(str(r["gtin"])) for r in rows}
    rng = random.Random(5)
    for gtin in sorted({g for p in photos for g in p["gtins"]} - have):
        rows.append({"gtin": gtin, "name": f"Photo item {gtin[-6:]}", "price_minor": rng.randrange(100, 3000),
                     "currency": currency, "category": "grocery", "stock": 1_000_000})  # fmt: skip
    report = import_products(db, rows)
    if report.refused:
        raise RuntimeError(f"catalog refused {report.refused[:3]}")
    access = AccessService(db, Signer("session", SecretStore(data_dir).keyring("session")))
    gate = access.add_device("gate-1", "gate")
    access.add_user(*STAFF)
    db.dispose()
    return str(gate)


def daemon_config(tmp: Path, kiosk_cameras: int, extra: dict[str, Any]) -> dict[str, Any]:
    """The demo's kiosk and fitting-room cameras playing their clips (the kiosk's loops: a kiosk
    that never rests), `kiosk_cameras` kiosks in all, then `extra` merged in."""
    cameras = ensure_media(tmp / "media")["cameras"]
    kiosk = next(c for c in cameras if c["role"] == "kiosk")
    kiosk["replay"] = "loop"
    for n in range(2, kiosk_cameras + 1):
        cameras.append({**kiosk, "id": f"kiosk-{n}-cam", "target": f"kiosk-{n}"})
    config: dict[str, Any] = {
        "mqtt": {"url": "mqtt://127.0.0.1:9"},
        "logging": {"level": "WARNING"},
        "cameras": cameras,
        "fitting": {"rooms": [{"id": "room-1", "name": "Room 1", "zone": "women"}]},
        # every simulated phone comes from 127.0.0.1, which would meet the per-network entry limit
        "phone": {"entries_per_minute": 10_000},
    }
    return merged(config, extra)


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def entry_code(base: str) -> str:
    """Today's entry code, as the entrance screen fetches it (staff API)."""
    login = {"username": STAFF[0], "password": STAFF[1]}
    token = httpx.post(f"{base}/api/auth/login", json=login, timeout=30).json()["token"]
    r = httpx.get(f"{base}/api/admin/phone/entry", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    return str(r.json()["code"])


def wait_cameras_running(base: str, cameras: list[str], timeout: float = 60.0) -> None:
    """Until every camera has had frames decoded (their clips opened and playing)."""

    def waiting() -> list[str]:
        m = httpx.get(base + "/metrics", timeout=30).text
        return [c for c in cameras if counter(m, "edge_scanning_frames_total", f'camera="{c}"') <= 0]

    wait_for(waiting, timeout, "the cameras to decode frames", until=lambda left: not left, max_interval=0.5)


# --- what the box says ----------------------------------------------------------------------
def histogram(metrics: str, name: str, match: str = "") -> dict[float, float]:
    """Cumulative bucket counts (le -> count), summed over the label sets containing `match`."""
    out: dict[float, float] = {}
    for line in metrics.splitlines():
        if line.startswith(name + "_bucket{") and match in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            bound = math.inf if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def counter(metrics: str, name: str, match: str = "") -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name + "{") and match in line
    )


def quantile_ms(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-quantile of what was observed between two scrapes, interpolated inside its bucket as
    Prometheus' histogram_quantile does; past the last finite bucket: that bound."""
    cum = [(le, after[le] - before.get(le, 0.0)) for le in sorted(after)]
    if not cum or cum[-1][1] <= 0:
        return None
    rank = q * cum[-1][1]
    lo, lo_count = 0.0, 0.0
    for le, count in cum:
        if count >= rank:
            if math.isinf(le):
                return round(lo * 1000, 1)
            share = (rank - lo_count) / (count - lo_count) if count > lo_count else 1.0
            return round((lo + (le - lo) * share) * 1000, 1)
        lo, lo_count = le, count
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the daemon's phone-frame decoder
    process is one; a child is listed under the thread that started it) from Linux /proc; NaN
    when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = [c for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    except (OSError, IndexError, ValueError):
        return math.nan
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def box_busy_seconds() -> float:
    """CPU seconds the whole box has been busy (all processes, all cores): /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# --- money ----------------------------------------------------------------------------------
MANY_ORDERS = "SELECT session_id FROM checkout_order GROUP BY session_id HAVING count(*) > 1"
MANY_CHARGES = (
    "SELECT order_ref FROM sandbox_charge GROUP BY order_ref HAVING sum(captures) > 1 "
    "OR sum(status IN ('authorized', 'captured') AND amount_minor > refunded_minor) > 1"
)


def double_charges_sandbox(data: Path) -> int:
    """Sessions with more than one order, or an order whose money was taken by more than one
    charge (or captured twice), from the box's orders and the sandbox acquirer's ledger."""
    with sqlite3.connect(data / "edge.db") as conn:
        bad = {str(sid) for (sid,) in conn.execute(MANY_ORDERS)}
    with sqlite3.connect(data / SANDBOX_DB) as conn:
        bad |= {str(ref) for (ref,) in conn.execute(MANY_CHARGES)}
    return len(bad)


def double_charges_rails(data: Path, trades: list[dict[str, Any]]) -> int:
    """Sessions with more than one order, or with money taken by more than one trade (the
    gateway simulators' own ledgers)."""
    with sqlite3.connect(data / "edge.db") as conn:
        bad = {str(sid) for (sid,) in conn.execute(MANY_ORDERS)}
    taken: Counter[str] = Counter()
    for t in trades:
        if t.get("state") == "paid" and int(t["amount_minor"]) - int(t.get("refunded_minor", 0)) > 0:
            taken[str(t.get("attach", ""))] += 1
    bad |= {sid for sid, n in taken.items() if n > 1}
    return len(bad)


def phone_orders(data: Path) -> int:
    with sqlite3.connect(data / "edge.db") as conn:
        return int(conn.execute("SELECT count(*) FROM checkout_order WHERE kiosk_id LIKE 'phone%'").fetchone()[0])
