"""Staff actions on the dashboard, in Chromium against the real daemon: devices, logins, members.

Devices (token once, as text and as a QR code that decodes to it; revoked with a reason), logins
(added, disabled; never your own) and a member erased, each audited. A page on another origin of
the same host (the cookie rides along: same site) cannot change anything.
"""

# ruff: noqa: F811 (the world's fixtures are imported and used as arguments)

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import (
    STAFF_PASSWORD,
    Store,
    login_dashboard,
    shot,
    staff_client,
)
from tests.e2e.dashboard_world import (  # noqa: F401 (plain_store: pytest fixture)
    TEA,
    audit,
    browser_pages,
    plain_store,
    receipt,
    rows,
)
from tests.support.screens import qr_texts


# --- devices, logins, member erasure ----------------------------------------------------------
def test_devices_logins_and_member_erasure_from_the_dashboard(plain_store: Store, browser: Any) -> None:
    store = plain_store
    staff = staff_client(store)
    member = staff.post("/api/checkout/members", json={"phone": "13800138555", "name": "Zhao"})
    assert member.status_code == 201, member.text
    member_id = member.json()["member_id"]
    with browser_pages(browser, store) as pages:
        page, console = pages.open("/dashboard")
        console.allow(r"status of 409")  # kiosk-1 exists: refused in words below
        console.allow(r"status of 404")  # an unknown member: refused in words below
        login_dashboard(page)
        page.get_by_role("tab", name="Devices, users, models").click()
        token = _device_added_and_revoked(page, store)
        _logins_added_and_disabled(page, store)
        page.get_by_role("tab", name="Transactions").click()
        _member_erased(page, store, member_id)
        assert token not in page.content(), "the token is still in the page"
        shot(page, "dashboard-member-erased")


def _device_added_and_revoked(page: Any, store: Store) -> str:
    form = page.locator("#dev-add")
    form.get_by_label("Device id").fill("kiosk-7")
    form.get_by_label("Role").select_option("kiosk")
    form.get_by_label("Name people recognise").fill("Till 7")
    form.get_by_role("button", name="Add device and show its token").click()
    expect(form.get_by_role("alert")).to_have_text("Give a reason: it goes in the audit log with your login.")
    form.get_by_label("Reason").fill("new till by the door")
    form.get_by_role("button", name="Add device and show its token").click()

    # the token, once: as text and as a QR code that decodes to it, with the warning
    dlg = page.locator("dialog.token-dialog[open]")
    expect(dlg.get_by_role("heading")).to_have_text("Token for kiosk-7")
    expect(dlg.get_by_role("alert")).to_contain_text("Shown only now")
    token = page.locator("#device-token").inner_text()
    assert token.startswith("dev_")
    me = httpx.get(f"{store.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"kind": "device", "id": "kiosk-7", "role": "kiosk", "leads_floor": False, "handheld": False}
    qr = dlg.get_by_role("img", name="QR code of the token for kiosk-7")
    page.wait_for_function("() => document.querySelector('.token-qr').naturalWidth > 0")
    assert qr_texts(qr.screenshot()) == [token]
    shot(page, "dashboard-device-token")
    dlg.get_by_role("button", name="Paired: close").click()
    expect(page.locator("dialog")).to_have_count(1)  # only the sync tab's own dialog is left
    expect(page.locator("#device-token")).to_have_count(0)
    assert token not in page.content()
    expect(page.locator("#admin-notice")).to_contain_text("Device kiosk-7 (Self-checkout kiosk) added")
    row = page.locator("#device-rows tr[data-device=kiosk-7]")
    expect(row).to_contain_text("Till 7")
    expect(row).to_contain_text("Active")

    # an id that exists is refused in words
    form.get_by_label("Device id").fill("kiosk-1")
    form.get_by_label("Reason").fill("a second till")
    form.get_by_role("button", name="Add device and show its token").click()
    expect(form.get_by_role("alert")).to_have_text(
        "A device with that id exists already (a revoked one too): choose another id."
    )

    # revoke, with a reason, in a confirm dialog: the token stops at its next request
    row.get_by_role("button", name="Revoke device kiosk-7").click()
    dlg = page.locator("dialog.staff-dialog[open]")
    expect(dlg).to_contain_text("stops working at its next request")
    dlg.get_by_role("button", name="Revoke now").click()
    expect(dlg.get_by_role("alert")).to_contain_text("Give a reason")
    dlg.get_by_label("Reason").fill("stolen from the store")
    dlg.get_by_role("button", name="Revoke now").click()
    expect(page.locator("#admin-notice")).to_have_text("Device kiosk-7 revoked.")
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    refused = httpx.get(f"{store.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert audit(store, "device.add", "kiosk-7") == [
        ("user:it-admin", {"role": "kiosk", "reason": "new till by the door"})
    ]
    assert audit(store, "device.revoke", "kiosk-7") == [("user:it-admin", {"reason": "stolen from the store"})]
    return token


def _logins_added_and_disabled(page: Any, store: Store) -> None:
    form = page.locator("#user-add")
    form.get_by_label("Login for the new account").fill("floor-lead")
    form.get_by_label("Passphrase").fill("short")
    form.get_by_label("Reason").fill("new floor lead")
    form.get_by_role("button", name="Add login").click()
    expect(form.get_by_role("alert")).to_have_text("The passphrase needs at least 10 characters.")
    form.get_by_label("Passphrase").fill(STAFF_PASSWORD)
    form.get_by_role("button", name="Add login").click()
    expect(page.locator("#admin-notice")).to_have_text("Login floor-lead added.")
    expect(form.get_by_label("Passphrase")).to_have_value("")  # not left in the page
    row = page.locator("#user-rows tr[data-user=floor-lead]")
    expect(row).to_contain_text("Active")
    expect(page.locator("#user-rows tr[data-user=it-admin]")).to_contain_text("you")  # never your own
    expect(page.locator("#user-rows tr[data-user=it-admin]").get_by_role("button")).to_have_count(0)
    login = {"username": "floor-lead", "password": STAFF_PASSWORD}
    assert httpx.post(f"{store.url}/api/auth/login", json=login).status_code == 200

    row.get_by_role("button", name="Disable login floor-lead").click()
    dlg = page.locator("dialog.staff-dialog[open]")
    dlg.get_by_label("Reason").fill("left the company")
    dlg.get_by_role("button", name="Disable now").click()
    expect(page.locator("#admin-notice")).to_have_text("Login floor-lead disabled; its sessions have ended.")
    expect(row).to_contain_text("Disabled")
    assert httpx.post(f"{store.url}/api/auth/login", json=login).status_code == 401
    assert audit(store, "user.add", "floor-lead") == [("user:it-admin", {"role": "it", "reason": "new floor lead"})]
    assert audit(store, "user.disable", "floor-lead") == [("user:it-admin", {"reason": "left the company"})]
    shot(page, "dashboard-devices-users")


def _member_erased(page: Any, store: Store, member_id: str) -> None:
    form = page.locator("#erase-form")
    form.get_by_label("Member id").fill(member_id)
    form.get_by_role("button", name="Erase member").click()
    dlg = page.locator("dialog.staff-dialog[open]")
    expect(dlg).to_contain_text(f"Member {member_id}: their personal data on this box is erased for good.")
    dlg.get_by_role("button", name="Cancel").click()  # nothing happens on cancel
    expect(page.locator("dialog.staff-dialog")).to_have_count(0)
    assert rows(store, "SELECT phone FROM checkout_member WHERE id = ?", member_id) == [("13800138555",)]
    form.get_by_role("button", name="Erase member").click()
    dlg.get_by_label("Reason").fill("asked at the service desk")
    dlg.get_by_role("button", name="Erase now").click()
    expect(page.locator("#tx-notice")).to_have_text(
        f"Member {member_id}: loyalty record erased (phone, name, wallet agreement). No face-pay enrolment here."
        " Past orders keep only the member id."
    )
    assert rows(store, "SELECT phone, name FROM checkout_member WHERE id = ?", member_id) == [(None, "")]
    assert audit(store, "checkout.member_erased", member_id) == [
        ("user:it-admin", {"reason": "asked at the service desk"})
    ]
    # an id the box does not know is refused in words
    form.get_by_label("Member id").fill("no-such-member")
    form.get_by_role("button", name="Erase member").click()
    dlg.get_by_label("Reason").fill("test")
    dlg.get_by_role("button", name="Erase now").click()
    expect(dlg.get_by_role("alert")).to_have_text(
        "No member with this id on this box (no loyalty record, no face-pay enrolment)."
    )
    dlg.get_by_role("button", name="Cancel").click()


# --- CSRF from another origin of the same host ------------------------------------------------
class OtherOrigin:
    """A page on another port of 127.0.0.1: the same *site* as the box, so the browser sends the
    SameSite=Strict session cookie along with its requests; only the Origin check stands between
    it and the staff actions. Its form posts JSON to the box the classic way (text/plain)."""

    def __init__(self, box_url: str) -> None:
        field = '{"id": "evil-1", "role": "kiosk", "reason": "csrf", "pad": "'
        page = (
            "<!doctype html><html><head><title>Win a prize</title></head><body>"
            f'<form method="POST" enctype="text/plain" action="{box_url}/api/admin/devices">'
            f"<input type=\"hidden\" name='{field}' value='\"}}'>"
            '<button type="submit">Win a prize</button></form></body></html>'
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> OtherOrigin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def test_a_page_on_another_origin_cannot_act_with_the_staff_cookie(plain_store: Store, browser: Any) -> None:
    store = plain_store
    staff = staff_client(store)
    kiosk = httpx.Client(base_url=store.url, timeout=15, headers={"Authorization": f"Bearer {store.tokens['kiosk-1']}"})
    sid = kiosk.post("/api/kiosk/sessions", json={"resume": False}).json()["session_id"]
    assert kiosk.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA[0], "qty": 1}).status_code == 201
    order_id = kiosk.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}).json()["order_id"]

    with browser_pages(browser, store) as pages, OtherOrigin(store.url.rstrip("/")) as evil:
        dash, _ = pages.open("/dashboard")
        login_dashboard(dash)  # the staff session cookie now sits in this browser
        audit_rows = rows(store, "SELECT count(*) FROM audit_event")
        page = dash.context.new_page()
        page.goto(evil.url)
        sent: list[dict[str, str]] = []
        page.on("request", lambda r: sent.append(r.all_headers()) if "/api/" in r.url else None)

        # a form posted from the other origin: the browser sends the cookie, the box refuses
        with page.expect_response(re.compile(r"/api/admin/devices$")) as answer:
            page.get_by_role("button", name="Win a prize").click()
        assert answer.value.status == 403
        expect(page.locator("body")).to_contain_text("cross_origin_refused")
        assert sent and "re_session=" in sent[0].get("cookie", ""), "the cookie was not sent: the test proves nothing"
        assert sent[0]["origin"] == evil.url.rstrip("/")

        # a script on that page, firing a simple (no-preflight) request at the void endpoint
        page.goto(evil.url)  # back from the box's refusal to the other origin's page
        void_url = f"{store.url.rstrip('/')}/api/checkout/orders/{order_id}/void"
        with page.expect_response(void_url) as answer:
            kind = page.evaluate(
                "(url) => fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include',"
                " headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({reason: 'csrf'})})"
                ".then((r) => r.type)",
                void_url,
            )
        # (whether this Chromium attaches the cookie to a cross-port fetch varies by version: the box
        # refuses by the Origin either way, and the form above showed the cookie riding along)
        assert (kind, answer.value.status) == ("opaque", 403)

        # nothing happened: the order is paid, no device was added, no audit row was written
        assert receipt(staff, order_id)["status"] == "paid"
        assert "evil-1" not in staff.get("/api/admin/devices").text
        assert rows(store, "SELECT count(*) FROM audit_event") == audit_rows
        # the same action from the box's own page goes through (so the refusals above were the Origin's)
        dash.get_by_role("tab", name="Transactions").click()
        dash.locator(f"#tx-rows tr[data-order='{order_id}'] button[data-action=void]").click()
        dlg = dash.locator("dialog.staff-dialog[open]")
        dlg.get_by_label("Reason").fill("csrf test: the real one")
        dlg.get_by_role("button", name="Review void").click()
        dlg.get_by_role("button", name="Void now").click()
        expect(dash.locator("#tx-notice")).to_contain_text("voided")
        assert receipt(staff, order_id)["status"] == "voided"
        page.close()
