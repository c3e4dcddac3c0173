"""The page-support API in-process (no browser): store facts, QR, metrics ring, staff-only access."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from edge.ui.metrics import MetricsRing
from tests.support.inproc import device_headers, staff_headers


def test_ring_turns_counters_into_rates_and_histograms_into_means() -> None:
    reg = CollectorRegistry()
    c = Counter("edge_test_decodes_total", "x", ["camera"], registry=reg)
    g = Gauge("edge_test_depth", "x", registry=reg)
    hist = Histogram("edge_test_decode_seconds", "x", registry=reg)
    ring = MetricsRing(interval_s=1, size=3, registry=reg)
    t0 = time.monotonic()
    ring.sample()
    t1 = time.monotonic()
    c.labels("cam-a").inc(10)
    c.labels("cam-b").inc(30)
    g.set(7)
    hist.observe(0.010)
    hist.observe(0.030)
    time.sleep(0.2)  # simulated: the 40 decodes take 0.2 s (at least; the bounds below are measured)
    t2 = time.monotonic()
    ring.sample()
    t3 = time.monotonic()
    snap = ring.snapshot()
    rate = snap["series"]["edge_test_decodes:rate"][0]
    # 40 decodes over the time between the two samples: at least t2 - t1, at most t3 - t0
    assert 40 / (t3 - t0) <= rate <= 40 / (t2 - t1)
    assert snap["series"]["edge_test_decodes{cam-a}:rate"][0] < snap["series"]["edge_test_decodes{cam-b}:rate"][0]
    assert snap["series"]["edge_test_depth"] == [7.0]
    assert abs(snap["series"]["edge_test_decode_seconds:mean"][0] - 0.020) < 1e-9
    for _ in range(5):
        ring.sample()
    assert len(ring.snapshot()["t"]) == 3  # fixed memory
    assert list(ring.snapshot(["edge_test_depth"])["series"]) == ["edge_test_depth"]


def test_page_api(app_client) -> None:  # type: ignore[no-untyped-def]
    client, daemon = app_client
    store = client.get("/api/ui/store").json()
    assert store["timezone"] == "Asia/Shanghai" and store["currency"] == "CNY"
    assert set(store["languages"]) == {"zh-CN", "en"}

    kiosk = device_headers(daemon, "kiosk-9", "kiosk")
    staff = staff_headers(daemon)
    svg = client.get("/api/ui/qr.svg", params={"text": "PASS-123<script>"}, headers=kiosk)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<script" not in svg.content
    too_long = client.get("/api/ui/qr.svg", params={"text": "x" * 1501}, headers=kiosk)
    assert too_long.json()["error"]["code"] == "invalid_request"

    assert client.get("/api/admin/metrics/history").status_code == 401
    assert client.get("/api/admin/metrics/history", headers=kiosk).json()["error"]["code"] == "staff_only"
    users = client.get("/api/admin/users", headers=staff).json()
    assert [u["username"] for u in users] == ["it-admin"] and "password_hash" not in users[0]
    models = client.get("/api/admin/models", headers=staff).json()
    assert {m["role"] for m in models["models"]} >= {"detector", "embedder", "liveness"}


UI = Path(__file__).resolve().parents[2] / "kiosk_ui"


def test_pages_never_build_html_from_data_and_have_no_inline_code() -> None:
    sources = {p: p.read_text() for p in UI.rglob("*") if p.suffix in (".js", ".html")}
    assert len(sources) >= 15
    for path, text in sources.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{path} uses {sink}"
        if path.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{path} has an inline script"
            assert not re.search(r"\sstyle=|\son[a-z]+=", text), f"{path} has inline style or handler"
            assert not re.search(r"(src|href)=\"(https?:)?//", text), f"{path} loads from outside the box"


def test_every_string_is_in_both_catalogs() -> None:
    en = json.loads((UI / "common/i18n/en.json").read_text())
    zh = json.loads((UI / "common/i18n/zh-CN.json").read_text())
    assert set(en) == set(zh)
    assert all(v.strip() for v in [*en.values(), *zh.values()])
    used: set[str] = set()
    for path in UI.rglob("*.html"):
        used |= set(re.findall(r'data-i18n(?:-aria|-ph|-title)?="([^"]+)"', path.read_text()))
    for path in UI.rglob("*.js"):
        text = path.read_text()
        used |= set(re.findall(r'\bt\("([a-z0-9_.]+)"', text))
        # keys held in arrays, maps and arguments (PROMPTS, REASON_PROMPTS, pair("dash.sync.cloud"))
        used |= set(re.findall(r'["\'`]((?:kiosk|fit|guide|dash|cam|status|common|lang)\.[a-z0-9_.]+)["\'`]', text))
    assert {"kiosk.face.look", "kiosk.face.closer", "cam.decode_rate"} <= used  # the literal scan works
    missing = sorted(k for k in used if k not in en)
    assert not missing, f"strings missing from the catalogs: {missing}"
    # keys built at run time (`status.${s}`, `cam.${k}`, `kiosk.err.${code}`, `fit.err.${code}`):
    # their families are checked against the daemon's own values in tests/unit/test_ui_catalog.py
    for family in ("status.", "cam.", "kiosk.err.", "fit.err.", "kiosk.face.", "fit.state.", "guide.state."):
        assert sum(k.startswith(family) for k in en) >= 3, family
    runtime = [
        "status.ok",
        "status.degraded",
        "status.down",
        "status.online",
        "status.stalled",
        "status.offline",
        "status.disabled",
        "cam.fps",
        "cam.stalls",
        "cam.reconnects",
        "cam.last_frame_age_s",
        "cam.decode_frames",
        "cam.decode_decoded",
        "cam.decode_decode_ms_median",
        "cam.decode_frame_to_event_ms_median",
        "kiosk.err.coupon_code_invalid",
        "kiosk.err.coupon_expired",
        "kiosk.err.face_locked_out",
        "kiosk.err.face_no_face",
        "kiosk.err.face_liveness",
        "fit.err.out_of_stock",
    ]
    assert not [k for k in runtime if k not in en or k not in zh], "run-time keys missing from a catalog"
