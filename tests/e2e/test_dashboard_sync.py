"""Dashboard "Cloud sync" tab in Chromium, against the real daemon syncing to the real reference
receiver on a real PostgreSQL: upload state, down-sync freshness, and events the cloud refused for
good shown with the cloud's reason, then requeued or discarded through the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from cloud.harness import PostgresUnavailable, Receiver, stored_ids, temp_database
from edge.demo.gtins import GROCERY
from edge.platform import store as edge_store
from tests.e2e.conftest import Pages, Store, _provision, login_dashboard, shot, store_config
from tests.support.services import DaemonProcess, Mosquitto
from tests.support.waits import wait_for

STORE_ID, TOKEN = "e2e-store", "e2e-sync-token"  # store_config's store id; a test-only token
# the kind this cloud refuses for good (a permanent 422 per event); hostile, since the cloud's reason
# quotes it and the page must show it as text
POISON = "e2e.<img src=x onerror=window.__pwned=1>"
TEA = GROCERY[0][0]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Receiver, str]]:
    """The reference receiver on a throwaway PostgreSQL database, refusing POISON events."""
    try:
        with temp_database() as dsn:
            rx = Receiver(dsn, {STORE_ID: TOKEN}, tmp_path / "receiver.log")
            rx.start(faults={"reject_kinds": [POISON]})
            try:
                yield rx, dsn
            finally:
                rx.stop()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture
def store(
    tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess], cloud: tuple[Receiver, str]
) -> Store:
    """The e2e store (no cameras: not needed here) with sync pointed at the receiver.

    Overrides conftest's `store` for this module, so the `pages` fixture (console checks) uses it.
    """
    rx, _ = cloud
    rx.publish("prices", [{"gtin": TEA, "price_minor": 2790}])  # waiting for the daemon's first poll
    data_dir = tmp_path / "data"
    config = store_config(data_dir, mosquitto, None)
    config["sync"] = {
        "url": rx.url,
        "backoff_initial_s": 0.2,
        "backoff_max_s": 1.0,
        "idle_poll_s": 0.2,
        "downsync_enabled": True,
        "downsync_interval_s": 3600,  # only the start-up poll and the page's "check now"
    }
    d = daemon_factory(data_dir, config=config, env={"RETAIL_EDGE_SECRET_SYNC_TOKEN": TOKEN})
    tokens = _provision(config)
    d.start()
    return Store(daemon=d, broker=mosquitto, tokens=tokens, config=config)


def write_event(store: Store, action: str, subject: str) -> str:
    """A domain-style write (audit row + outbox row in one transaction) on the daemon's own file."""
    db = edge_store.Store.in_dir(store.daemon.data_dir)
    try:
        with db.write() as s:
            s.audit("user:e2e", action, subject)
        with db.engine.connect() as c:
            row = c.execute(
                text("SELECT event_id FROM outbox_event WHERE kind = :k ORDER BY seq DESC LIMIT 1"), {"k": action}
            ).scalar_one()
        return str(row)
    finally:
        db.dispose()


def cloud_kinds(dsn: str, subject: str) -> list[str]:
    """Kinds of the cloud's stored events about `subject` (audit payloads carry it)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT kind FROM edge_event WHERE payload->>'subject' = %s ORDER BY seq", (subject,)
        ).fetchall()
    return [r[0] for r in rows]


def test_sync_tab_shows_refused_events_with_reason_and_requeue_discard_work(
    pages: Pages, store: Store, cloud: tuple[Receiver, str]
) -> None:
    rx, dsn = cloud
    write_event(store, "e2e.ok", "before")
    poison = write_event(store, POISON, "refused-1")
    write_event(store, "e2e.ok", "after")

    page, _ = pages.open("/dashboard")
    login_dashboard(page)
    page.get_by_role("tab", name="Cloud sync").click()
    expect(page.get_by_role("tab", name="Cloud sync")).to_have_attribute("aria-selected", "true")

    # the refused event is listed with the cloud's code and reason; the stream went on past it
    row = page.locator(f"#sync-q-rows tr[data-event='{poison}']")
    expect(row).to_contain_text("unsupported_kind", timeout=20_000)
    expect(row).to_contain_text(f"this cloud does not accept events of kind '{POISON}'")
    expect(row).to_contain_text(POISON)
    expect(row).to_contain_text("audit")
    assert row.locator("img").count() == 0 and page.evaluate("window.__pwned") is None
    wait_for(lambda: cloud_kinds(dsn, "after") == ["e2e.ok"], 20, "the event after the refused one to arrive")
    assert poison not in stored_ids(dsn)

    # upload state: healthy, nothing waiting, a last success; down-sync applied the published prices
    expect(page.locator("#sync-state")).to_have_attribute("data-state", "ok")
    expect(page.locator("#sync-backlog")).to_have_attribute("data-value", "0")
    expect(page.locator("#sync-upload")).to_contain_text(rx.url)
    expect(page.locator("#sync-upload")).to_contain_text(re.compile(r"Last success\s*\d"))
    expect(page.locator("#sync-down-state")).to_have_attribute("data-state", "fresh")
    expect(page.locator("#sync-down")).to_contain_text("version 1, items: 1")
    expect(page.locator("#sync-staleness")).to_have_text(re.compile(r"^checked \d+:\d\d ago$"))
    shot(page, "dashboard-sync-quarantine")

    # a new price version, fetched when store IT asks ("check now"), not at the hourly poll
    rx.publish("prices", [{"gtin": TEA, "price_minor": 2590}])
    page.get_by_role("button", name="Check for updates now").click()
    expect(page.locator("#sync-notice")).to_contain_text("Asked the cloud for updates at")
    expect(page.locator("#sync-down")).to_contain_text("version 2, items: 1", timeout=10_000)

    # the cloud goes away (connection refused): degraded with the reason, the backlog per stream, and
    # a failed down-sync check is flagged; all back to normal once it returns
    rx.stop()
    write_event(store, "e2e.ok", "during-outage")
    expect(page.locator("#sync-state")).to_have_attribute("data-state", "degraded", timeout=10_000)
    expect(page.locator("#sync-reason")).to_contain_text("cloud unreachable")
    expect(page.locator("#sync-upload")).to_contain_text(re.compile(r"Last error\s*cloud unreachable"))
    expect(page.locator("#sync-streams tr[data-stream=audit]")).to_contain_text(re.compile(r"audit\s*[1-9]"))
    expect(page.locator("#sync-backlog")).not_to_have_attribute("data-value", "0")
    page.get_by_role("button", name="Check for updates now").click()
    expect(page.locator("#sync-down-state")).to_have_attribute("data-state", "failing", timeout=10_000)
    expect(page.locator("#sync-down")).to_contain_text("Last error")
    shot(page, "dashboard-sync-cloud-down")
    rx.start(faults={"reject_kinds": [POISON]})
    expect(page.locator("#sync-backlog")).to_have_attribute("data-value", "0", timeout=20_000)
    expect(page.locator("#sync-upload")).to_contain_text(re.compile(r"Next attempt\s*—"))
    wait_for(lambda: cloud_kinds(dsn, "during-outage") == ["e2e.ok"], 20, "the backlog to drain")
    page.get_by_role("button", name="Check for updates now").click()
    expect(page.locator("#sync-down-state")).to_have_attribute("data-state", "fresh", timeout=10_000)
    expect(page.locator("#sync-state")).to_have_attribute("data-state", "ok")

    # requeue after the cloud is fixed: the same event id reaches the cloud, the row goes away
    rx.faults(mode="ok", reject_kinds=[])
    row.get_by_role("button", name=re.compile(r"^Requeue event")).click()
    expect(page.locator("#sync-notice")).to_contain_text(f"Event {poison} is queued again")
    expect(page.locator("#sync-notice")).to_be_focused()
    expect(row).to_have_count(0)
    expect(page.locator("#sync-q-rows")).to_contain_text("The cloud has refused no events.")
    wait_for(lambda: poison in stored_ids(dsn), 20, "the requeued event to reach the cloud")

    # discard: asks first (Escape keeps it), then drops it for good; the audit trail reaches the cloud
    rx.faults(mode="ok", reject_kinds=[POISON])
    doomed = write_event(store, POISON, "refused-2")
    row = page.locator(f"#sync-q-rows tr[data-event='{doomed}']")
    expect(row).to_contain_text("unsupported_kind", timeout=20_000)
    discard = row.get_by_role("button", name=re.compile(r"^Discard event"))
    discard.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Discard this event?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(doomed)
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice by default
    shot(page, "dashboard-sync-discard-confirm")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(row).to_have_count(1)  # nothing happened
    discard.click()
    dialog.get_by_role("button", name="Discard").click()
    expect(page.locator("#sync-notice")).to_contain_text(f"Event {doomed} was discarded")
    expect(row).to_have_count(0)
    wait_for(lambda: "sync.discard" in cloud_kinds(dsn, doomed), 20, "the discard's audit event in the cloud")
    assert doomed not in stored_ids(dsn)
    assert page.evaluate("window.__pwned") is None
    shot(page, "dashboard-sync-after")

    # the same tab in Chinese
    page.get_by_label("Language").select_option("zh-CN")
    expect(page.get_by_role("tab", name="云同步")).to_be_visible()
    expect(page.locator("#sync-q-rows")).to_contain_text("云端没有拒绝任何事件。")


def test_sync_tab_when_no_cloud_is_configured(
    browser: Any, tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]
) -> None:
    """A store not yet connected to a cloud: the tab says so plainly, and the outbox keeps events."""
    data_dir = tmp_path / "data-offline"
    config = store_config(data_dir, mosquitto, None)
    d = daemon_factory(data_dir, config=config)
    _provision(config)
    d.start()
    pages = Pages(browser, d.url)
    try:
        page, _ = pages.open("/dashboard")
        login_dashboard(page)
        page.get_by_role("tab", name="Cloud sync").focus()
        page.keyboard.press("ArrowLeft")  # keyboard: to Transactions and back
        page.keyboard.press("ArrowRight")
        expect(page.get_by_role("tab", name="Cloud sync")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#sync-state")).to_have_attribute("data-state", "degraded")
        expect(page.locator("#sync-reason")).to_contain_text("sync.url is not set")
        expect(page.locator("#sync-upload")).to_contain_text("not configured")
        expect(page.locator("#sync-down-state")).to_have_attribute("data-state", "off")
        expect(page.get_by_role("button", name="Check for updates now")).to_be_hidden()
        expect(page.locator("#sync-q-rows")).to_contain_text("The cloud has refused no events.")
        shot(page, "dashboard-sync-off")
    finally:
        problems = pages.close()
    assert not problems, "errors in the browser console:\n" + "\n".join(problems)
