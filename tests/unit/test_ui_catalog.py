"""The pages' catalogs against the daemon's own vocabulary: every typed error a shopper or a guide
can meet, and every catalog key a page builds at run time (statuses, camera figures, face prompts,
call states), has an English and a Chinese sentence; nothing falls back to the server's English."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from edge.fitting.models import ACTIVE_STATES
from edge.platform.observability import Status
from edge.scanning.pipeline import Stats

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "kiosk_ui"
CODE = re.compile(r'\bcode="([a-z0-9_]+)"')
DYNAMIC = re.compile(r'\bcode=f"([^"]+)"')

# The page that shows each domain's errors, and the catalog prefix it looks them up under
# (kiosk/state.js explain(): kiosk.err.<code>; fitting/main.js and guide/main.js: fit.err.<code>).
# (phone/main.js shows checkout's and its own codes under kiosk.err.<code> too.)
DOMAINS = {"checkout": "kiosk.err.", "facepay": "kiosk.err.", "fitting": "fit.err.", "phone": "kiosk.err."}

# Codes built with an f-string: each pattern, with every value it can take. A new pattern fails
# the test until it is listed here (with its values, or none with the reason).
EXPANSIONS: dict[str, list[str]] = {
    "{what}_code_invalid": ["member_code_invalid", "coupon_code_invalid"],  # platform/codes.py _verify
    "{what}_expired": ["member_expired", "coupon_expired"],
    "pass_{refusal.reason}": [f"pass_{r}" for r in ("malformed", "forged", "expired", "used", "revoked", "unknown")],
    "call_{call.state}": [f"call_{s}" for s in ("open", "escalated", "claimed", "resolved", "cancelled")],
    # catalog import rows (staff CLI and file upload, never a page): the field name is the variable
    "too_many_{self.name}": ["too_many_frames", "too_many_scans", "too_many_entries"],  # phone/limits.py
    "{key}_too_long": [],
    "bad_{key}": [],
}

# Face-verify reasons that arrive as the answer's `reason` (not raised): the page shows them
# under kiosk.err.face_<reason> (pipeline gates, liveness, match outcomes).
FACE_REASONS = [
    *("no_face", "face_too_small", "pose", "blurred", "liveness", "spoof", "inconsistent_frames"),
    *("multiple_faces", "below_threshold", "ambiguous", "no_match", "not_enrolled", "empty_gallery"),
]


def catalogs() -> tuple[dict[str, str], dict[str, str]]:
    en = json.loads((UI / "common/i18n/en.json").read_text())
    zh = json.loads((UI / "common/i18n/zh-CN.json").read_text())
    return en, zh


# Floor modules whose errors reach these pages: signed codes (member, coupon, pass) and the one
# GTIN normaliser (edge/platform/gs1.py normalise_gtin) that every typed code goes through.
SHARED = {
    "checkout": ["platform/codes.py"],
    "fitting": [],
    "phone": ["platform/images.py", "scanning/phoneframes.py"],  # a phone's frames: checked, then decoded
}
NORMALISER = {"invalid_gtin", "bad_check_digit"}
# ... and a GS1 label's printed line typed at a kiosk or a phone (edge/platform/gs1facts.py typed_facts)
TYPED_LINE = {"checkout": {"bad_gs1_text", "typed_measure"}, "phone": {"bad_gs1_text", "typed_measure"}}


def raised_codes(domain: str) -> tuple[set[str], set[str]]:
    """(literal codes, f-string code patterns) raised anywhere in edge/<domain>/ or the floor
    modules it shows the errors of."""
    literal: set[str] = set(NORMALISER) if domain in SHARED else set()
    literal |= TYPED_LINE.get(domain, set())
    dynamic: set[str] = set()
    paths = [*(ROOT / "edge" / domain).rglob("*.py"), *(ROOT / "edge" / p for p in SHARED.get(domain, []))]
    for path in paths:
        text = path.read_text()
        literal |= set(CODE.findall(text))
        dynamic |= set(DYNAMIC.findall(text))
    return literal, dynamic


def assert_in_both(keys: set[str], what: str) -> None:
    en, zh = catalogs()
    missing = sorted(k for k in keys if k not in en or k not in zh)
    assert not missing, f"{what} missing from a catalog: {missing}"
    empty = sorted(k for k in keys if not en[k].strip() or not zh[k].strip())
    assert not empty, f"{what} with an empty sentence: {empty}"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_raised_error_code_has_a_sentence_in_both_languages(domain: str) -> None:
    literal, dynamic = raised_codes(domain)
    assert len(literal) >= 10, f"the grep found too few codes in edge/{domain}: {literal}"
    unknown = sorted(dynamic - set(EXPANSIONS))
    assert not unknown, f"f-string codes in edge/{domain} not listed in EXPANSIONS: {unknown}"
    codes = literal | {c for pattern in dynamic for c in EXPANSIONS[pattern]}
    assert_in_both({DOMAINS[domain] + c for c in codes}, f"edge/{domain} error codes")


def test_the_grep_sees_the_codes_shoppers_meet() -> None:
    """Guards the regex: codes the kiosk is known to show must be among those found."""
    checkout, _ = raised_codes("checkout")
    facepay, _ = raised_codes("facepay")
    fitting, _ = raised_codes("fitting")
    assert {"nothing_to_pay", "bad_payment_code", "no_acquirer", "coupon_not_yet_valid"} <= checkout
    assert {"face_locked_out", "face_unavailable", "face_camera_unavailable", "face_no_frames"} <= facepay
    assert {"room_busy", "out_of_stock", "invalid_gtin", "bad_check_digit"} <= fitting


def test_face_reasons_and_prompts() -> None:
    assert_in_both({f"kiosk.err.face_{r}" for r in FACE_REASONS}, "face-verify reasons")
    pay = (UI / "kiosk/pay.js").read_text()
    prompts = re.search(r"PROMPTS = \[([^\]]+)\]", pay)
    reasons = re.search(r"REASON_PROMPTS = \{([^}]+)\}", pay)
    assert prompts and reasons, "pay.js no longer declares PROMPTS / REASON_PROMPTS"
    keys = set(re.findall(r'"(kiosk\.face\.[a-z_]+)"', prompts.group(1) + reasons.group(1)))
    assert len(keys) >= 6
    assert_in_both(keys, "face prompts")
    mapped = set(re.findall(r"^\s*([a-z_]+):", reasons.group(1), re.M))
    assert {"no_face", "face_too_small", "pose", "blurred", "liveness", "multiple_faces"} <= mapped


def test_keys_built_at_run_time() -> None:
    """Families the pages build as `${prefix}.${value}`: listed from the daemon's own values."""
    # CameraWorker.status() and CameraService.describe() ("disabled" when no worker runs)
    camera_statuses = {"online", "stalled", "offline", "disabled", "unknown"}
    keys = {f"status.{s}" for s in {*get_args(Status), *camera_statuses, *ACTIVE_STATES}}
    # camera card figures (dashboard/cameras.js label()): the row fields and the decode stats
    keys |= {f"cam.{k}" for k in ("fps", "last_frame_age_s", "stalls", "reconnects", "decode_rate")}
    keys |= {f"cam.decode_{k}" for k in Stats().as_dict()}
    states = ("open", "escalated", "claimed", "resolved", "cancelled")
    keys |= {f"fit.state.{s}" for s in states} | {f"fit.kind.{k}" for k in ("help", "variant", "bring")}
    keys |= {f"guide.state.{s}" for s in (*ACTIVE_STATES, "mine")}
    keys |= {f"guide.kind.{k}" for k in ("help", "variant", "bring")}
    keys |= {f"dash.fitting.state.{s}" for s in ACTIVE_STATES}
    keys |= {f"dash.tx.kind.{k}" for k in ("order", "refund", "void")}
    keys |= {f"kiosk.provider.{p}" for p in ("sandbox", "qr", "face")}
    assert_in_both(keys, "run-time keys")
