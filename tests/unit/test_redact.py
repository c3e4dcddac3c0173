"""Credentials a camera reads never reach a log line or the dashboard in usable form."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.platform import codes as tokens
from edge.platform.redact import CREDENTIAL_PREFIXES, redact_credential
from edge.scanning.events import ScanEvent
from edge.ui.scans import RecentScans


def test_prefixes_match_checkouts_qr_kinds() -> None:
    assert set(CREDENTIAL_PREFIXES) == {tokens.MEMBER_PREFIX, tokens.COUPON_PREFIX, tokens.PASS_PREFIX}


def test_credentials_are_reduced_to_kind_and_last_four() -> None:
    assert redact_credential("RX1:k1.eyJvIjoiMSJ9.abcdWXYZ") == "[exit pass …WXYZ]"
    assert redact_credential("RM1:k1.eyJtIjoiMSJ9.zz1234") == "[member code …1234]"
    assert redact_credential("134567890123456789") == "[wallet payment code …6789]"
    for ordinary in ("06901234000016", "<script>alert(1)</script>", "https://id.gs1.org/01/09506000134352", ""):
        assert redact_credential(ordinary) == ordinary


def test_dashboard_scan_list_never_holds_a_usable_pass() -> None:
    ring = RecentScans()
    ring.add(
        ScanEvent(
            ts=datetime.now(UTC),
            camera_id="gate-cam",
            role="exit_gate",
            target="gate-1",
            symbology="QRCode",
            text="RX1:k1.eyJvIjoiMSJ9.secretmac9876",
        )
    )
    (row,) = ring.recent()
    assert "secretmac" not in row["text"] and row["text"].endswith("9876]")
