"""The scanline reader: EAN/UPC labels too small or too soft for a binariser, read by modelling
the lens and the print, never returning a code fewer than several rows agree on."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp
from prometheus_client import REGISTRY
from pyzbar import pyzbar

from edge.platform import gs1
from edge.scanning import scanline
from edge.scanning.component import role_strategy
from edge.scanning.evaluation import comparable, load
from edge.scanning.settings import PhoneFrameSettings, ScanningSettings
from edge.scanning.strategy import Strategy
from tests.conftest import shared_path
from tests.support.labels import kiosk_events, softlabels

CODE = "4006381333931"
PHOTO = "images/zxing_upca-4_4.png"


def label(code: str, module_px: float, blur_px: float, spread: float, *, height: int = 60) -> np.ndarray:
    return np.asarray(softlabels.soft_label(code, module_px, blur_px, spread, height=height))


def texts(gray: np.ndarray) -> list[str]:
    return [r.text for r in scanline.read(gray)]


@pytest.mark.parametrize("spread", [0.3, 0.5])
def test_a_soft_heavy_label_is_read_where_every_binarising_pass_misses_it(spread: float) -> None:
    gray = label(CODE, 1.8, 1.1, spread)
    # The premise: neither zxing-cpp nor zbar reads this label, even upscaled, nor any other pass.
    assert not zxingcpp.read_barcodes(gray)
    assert not zxingcpp.read_barcodes(cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC))
    assert not pyzbar.decode(gray)
    assert texts(gray) == [CODE]
    outcome = Strategy().decode(gray)
    assert [c.gtin for c in outcome.codes] == ["0" + CODE]
    assert outcome.passes[-1] == "scanline"


@pytest.mark.parametrize("spread", [-0.4, 0.0, 0.4])
def test_print_thinner_or_heavier_than_nominal_reads_the_same(spread: float) -> None:
    assert texts(label(CODE, 2.2, 0.6, spread)) == [CODE]


def test_upside_down_and_turned_labels_are_read() -> None:
    gray = label(CODE, 2.2, 0.6, 0.0)
    assert texts(cv2.rotate(gray, cv2.ROTATE_180)) == [CODE]
    assert texts(cv2.rotate(gray, cv2.ROTATE_90_CLOCKWISE)) == [CODE]


@pytest.mark.parametrize(
    ("code", "module_px", "blur_px", "perspective"),
    [("4006381333931", 1.6, 0.6, 0.8), ("0036000291452", 2.0, 1.0, 1.25), ("0036000291452", 2.4, 0.6, 1.25)],
)
def test_a_label_seen_at_an_angle_is_read_though_its_centre_guard_is_off_the_midpoint(
    code: str, module_px: float, blur_px: float, perspective: float
) -> None:
    """Turned away from the camera, one end's modules are wider than the other's and the centre
    guard sits two modules or more from the end guards' midpoint, where it was looked for alone."""
    gray = np.asarray(softlabels.soft_label(code, module_px, blur_px, 0.0, perspective=perspective))
    assert [r.text.zfill(13) for r in scanline.read(gray)] == [code]


def test_a_washed_out_centre_guard_does_not_send_the_reader_to_a_look_alike() -> None:
    """Glare over a flat label's centre guard: the reader may look farther for it, but a weaker
    01010 two modules on (found during review) must not read as a valid wrong code."""
    code, module_px = "9071532419593", 1.885
    gray = np.asarray(softlabels.soft_label(code, module_px, 0.556, -0.052, seed=82409356)).astype(np.float64)
    x0, x1 = 20 + (11 + 45.892) * module_px, 20 + (11 + 50.892) * module_px
    xs = np.arange(gray.shape[1])
    glare = np.clip(np.minimum(xs - x0, x1 - xs) / module_px + 0.5, 0, 1)[None, :] * 0.545
    gray[20:-20] = gray[20:-20] * (1 - glare) + 235 * glare
    assert texts(np.clip(gray, 0, 255).astype(np.uint8)) in ([], [code])


def test_a_upc_a_is_reported_as_upc_a() -> None:
    upc = "036000291452"
    reads = scanline.read(label("0" + upc, 2.2, 0.6, 0.0))
    assert [(r.symbology, r.text, r.decoder) for r in reads] == [("UPC-A", upc, "scanline")]


def test_digits_that_differ_only_in_shade_are_never_swapped() -> None:
    """1 and 7, 2 and 8 pair their edges alike; a code made only of them, swapped pairwise, can
    keep a valid check digit. Across blur and print, the reader reads it right or not at all."""
    body = "781281278127"
    code = body + str(gs1.check_digit(body))
    read_right = 0
    for module_px in (1.5, 1.8, 2.2):
        for blur in (0.6, 0.9, 1.2):
            for spread in (-0.4, 0.0, 0.4):
                got = texts(label(code, module_px, blur, spread))
                assert got in ([], [code]), (module_px, blur, spread, got)
                read_right += got == [code]
    assert read_right >= 2


def test_a_strip_too_short_for_several_rows_to_agree_gives_nothing() -> None:
    strip = label(CODE, 2.2, 0.6, 0.0, height=4)
    assert texts(label(CODE, 2.2, 0.6, 0.0, height=24)) == [CODE]
    assert texts(strip) == []


@pytest.mark.parametrize(
    "gray",
    [
        np.zeros((240, 320), np.uint8),
        np.full((240, 320), 255, np.uint8),
        np.random.default_rng(3).integers(0, 256, (240, 320)).astype(np.uint8),
        np.zeros((1, 500), np.uint8),
        np.zeros((500, 3), np.uint8),
        np.zeros((0, 0), np.uint8),
    ],
    ids=["black", "white", "noise", "one-row", "three-columns", "empty"],
)
def test_images_without_a_code_give_nothing(gray: np.ndarray) -> None:
    assert scanline.read(gray) == []


def test_a_real_photo_both_binarising_decoders_miss() -> None:
    """A public photo where a module is about two pixels and thin bars are softened to grey:
    zxing-cpp and zbar read nothing; the scanline reader reads it right."""
    items = load(shared_path("data/barcodes/manifest.csv"), lambda rows: [r for r in rows if r["image"] == PHOTO])
    assert len(items) == 1 and items[0].gray is not None
    gray = items[0].gray
    assert not zxingcpp.read_barcodes(gray) and not pyzbar.decode(gray)
    assert [comparable(r.symbology, r.text) for r in scanline.read(gray)] == sorted(items[0].expected)
    assert [c.gtin13 for c in Strategy().decode(gray).codes] == sorted(items[0].expected)


def test_a_misread_both_decoders_agree_on_is_vetoed_by_the_scanline_reader() -> None:
    """On two of the three `upca-4` photos (`upca-4_6` is too soft for it), the binarising
    decoders agree on 9074932437075 (a valid check digit) where 0 23942 43101 5 is printed. The
    scanline reader reads the printed digits and vetoes theirs, so a still goes on to the
    passes after them and answers the printed code, and a kiosk camera holding the photo
    confirms nothing: a miss, never a wrong item."""
    names = {f"images/zxing_upca-4_{n}.png" for n in (1, 2)}
    items = load(shared_path("data/barcodes/manifest.csv"), lambda rows: [r for r in rows if r["image"] in names])
    assert len(items) == 2
    for item in items:
        assert item.gray is not None
        assert [r.text for r in scanline.read(item.gray)] == ["023942431015"], item.image
        unvouched = Strategy()
        unvouched.vouch = lambda gray, code, live=False: True  # type: ignore[method-assign,misc]
        assert [c.gtin13 for c in unvouched.decode(item.gray).codes] == ["9074932437075"], item.image
        assert [c.gtin13 for c in Strategy().decode(item.gray).codes] == ["0023942431015"], item.image
        assert [e.gtin for e in kiosk_events(item.gray, unvouched)] == ["09074932437075"], item.image
        assert kiosk_events(item.gray, Strategy()) == [], item.image


def test_no_code_read_in_photos_of_other_symbologies() -> None:
    """QR codes, DataMatrix and Code 128 are dense with edges; none may turn into an EAN."""
    others = ("QR Code", "DataMatrix", "Code 128")
    items = load(
        shared_path("data/barcodes/manifest.csv"),
        lambda rows: [r for r in rows if r["symbology"] in others][::3],
    )
    assert len(items) >= 60
    assert [(i.image, texts(i.gray)) for i in items if i.gray is not None and texts(i.gray)] == []


def test_a_label_of_about_a_pixel_a_module_is_read_at_twice_the_size() -> None:
    """At 1.2 px a module neighbouring edges merge and the reader finds no extent; the strategy's
    last pass reads the image at twice the size (cubic) and maps the box back."""
    gray = label(CODE, 1.2, 0.6, 0.0)
    assert texts(gray) == []
    assert not zxingcpp.read_barcodes(gray) and not pyzbar.decode(gray)
    outcome = Strategy().decode(gray)
    assert [c.gtin for c in outcome.codes] == ["0" + CODE]
    assert outcome.passes[-1] == "scanline_upscale"
    x0, y0, x1, y1 = outcome.codes[0].box
    assert 0 <= x0 < x1 <= gray.shape[1] and 0 <= y0 < y1 <= gray.shape[0]
    big = np.full((600, 1100), 255, np.uint8)  # the same label in an image too large to upscale
    big[100 : 100 + gray.shape[0], 100 : 100 + gray.shape[1]] = gray
    assert dict(Strategy().fallbacks)["scanline_upscale"](big) == []
    live = Strategy()  # and a live frame that large never spends its turn on it
    turns = {
        p for start in range(len(live.live_fallbacks)) for p in live.decode(big, max_fallbacks=1, start=start).passes
    }
    assert not turns & {"zxing_upscale", "scanline_upscale"} and "scanline" in turns


def test_live_frames_run_the_scanline_reader_only_within_its_time_budget() -> None:
    """The cameras (or phones) of one strategy share one budget for the dearest pass; with none
    it leaves the live rotation (no frame spends its turn on it); stills always run it. Only the
    scanline reader reads this label."""
    gray = label(CODE, 1.8, 1.1, 0.5)
    names = [name for name, _ in Strategy().fallbacks]
    at = names.index("scanline")
    off = Strategy(live_scanline_ms_per_s=0)
    assert [name for name, _ in off.live_fallbacks] == [n for n in names if not n.startswith("scanline")]
    assert all(off.decode(gray, max_fallbacks=1, start=i).codes == [] for i in range(len(names)))
    assert [c.gtin for c in off.decode(gray).codes] == ["0" + CODE]
    tight = Strategy(live_scanline_ms_per_s=1.0)  # one millisecond a second: one read, then none
    assert [c.gtin for c in tight.decode(gray, max_fallbacks=1, start=at).codes] == ["0" + CODE]
    assert tight.decode(gray, max_fallbacks=1, start=at).codes == []
    assert tight.decode(gray, max_fallbacks=1, start=at + 1).codes == []  # the upscaled pass shares it
    assert [c.gtin for c in Strategy().decode(gray, max_fallbacks=1, start=at + 1).codes] == ["0" + CODE]


def test_phones_have_their_own_scanline_fallback_budget() -> None:
    """`scanning.phone.scanline_ms_per_s` sets the fallback's budget on phone frames alone; the
    kiosk cameras keep `live_scanline_ms_per_s`, and stills always run it."""
    gray = label(CODE, 1.8, 1.1, 0.5)
    settings = ScanningSettings(phone=PhoneFrameSettings(scanline_ms_per_s=0))
    phone, kiosk = role_strategy(settings, "phone"), role_strategy(settings, "kiosk")
    assert not {"scanline", "scanline_upscale"} & {name for name, _ in phone.live_fallbacks}
    assert all(phone.decode(gray, max_fallbacks=1, start=i).codes == [] for i in range(len(phone.fallbacks)))
    assert [c.gtin for c in phone.decode(gray).codes] == ["0" + CODE]
    at = [name for name, _ in kiosk.fallbacks].index("scanline")
    assert [c.gtin for c in kiosk.decode(gray, max_fallbacks=1, start=at).codes] == ["0" + CODE]


def test_live_witness_runs_within_its_budget_and_a_skipped_one_is_counted() -> None:
    """A camera witnesses each code it is about to confirm while its witness budget lasts; past
    it (here: none at all), the code is confirmed as the binarising decoders read it, and the
    skip is counted so that store IT sees how often the box was too busy to check."""
    items = load(
        shared_path("data/barcodes/manifest.csv"), lambda rows: [r for r in rows if r["image"].endswith("upca-4_1.png")]
    )
    assert len(items) == 1 and items[0].gray is not None
    gray = items[0].gray

    def counted(outcome: str) -> float:
        return REGISTRY.get_sample_value("edge_scanning_witness_total", {"outcome": outcome}) or 0.0

    vetoed, skipped = counted("vetoed"), counted("skipped")
    assert kiosk_events(gray, Strategy()) == []  # witnessed: vetoed
    assert counted("vetoed") == vetoed + 1
    assert [e.gtin for e in kiosk_events(gray, Strategy(live_witness_ms_per_s=0))] == ["09074932437075"]
    assert counted("skipped") == skipped + 1
    still = Strategy(live_witness_ms_per_s=0).decode(gray).codes  # stills always witness...
    assert [c.gtin for c in still] == ["00023942431015"]
    assert counted("vetoed") == vetoed + 1  # ...and are not counted as frames' witnesses


def test_the_readers_fast_helpers_compute_what_numpy_computes() -> None:
    """The percentile and the windows were rewritten for speed; a read must not change by a bit."""
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 16, 99, 100, 101, 257, 640, 1280):
        for values in (rng.normal(size=n) * 40, np.zeros(n), np.round(rng.uniform(0, 5, size=n))):
            assert scanline._p99(np.abs(values)) == float(np.percentile(np.abs(values), 99)), n
    dark = rng.uniform(0, 255, size=400)
    firsts = np.arange(-3, 4) / 4.0
    full = scanline._windows(dark, 37.3, 1.7, firsts, 8.0)
    for i in range(len(firsts)):
        alone = scanline._windows(dark, 37.3, 1.7, firsts[i : i + 1], 8.0)
        assert np.array_equal(full[i : i + 1], alone)
    u = firsts[:, None] + (np.arange(32)[None, :] + 0.5) / 4
    w = np.interp(37.3 + u * 1.7, np.arange(dark.size), dark)
    w -= w.mean(axis=1, keepdims=True)
    assert np.array_equal(full, w / np.linalg.norm(w, axis=1, keepdims=True))


@pytest.mark.parametrize(
    ("code", "module_px", "blur_px", "spread"),
    [
        ("0033076661936", 1.8, 1.0, 0.2),  # 01010 recurs beside 6s: a centre guard found 2 modules off
        ("8721287128714", 1.6, 0.4, 0.7),  # print heavier than most: 1s read as 7s
        ("7812812781274", 1.4, 0.5, 0.6),
        ("8721287128714", 2.0, 0.4, -0.7),  # bars a third of a module: the guards disagree
    ],
)
def test_labels_that_once_misread_now_read_right_or_not_at_all(
    code: str, module_px: float, blur_px: float, spread: float
) -> None:
    """Each of these gave a wrong code with a valid check digit during development."""
    assert texts(label(code, module_px, blur_px, spread)) in ([], [code])
