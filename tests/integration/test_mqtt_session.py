"""The daemon's persistent MQTT session (clean_start=False + a Session Expiry Interval): a guide's
claim published while the daemon is down waits in the broker and is applied once after restart.

With paho's default (a clean session at every process start) the broker would drop the daemon's
subscription when it stopped, the claim would be discarded, and the shopper would never see
"on the way"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from edge.config import load_settings
from tests.integration.test_mqtt_relay import CALLS, Guide, _cfg
from tests.support.inproc import room_codes
from tests.support.services import DaemonProcess, Mosquitto

AVAILABLE = "retail/test-store/edge/edge-s1/available"
CLAIMS = "retail/test-store/fitting/room-1/claim"


def _count(guide: Guide, pred: Any) -> int:
    with guide.cond:
        return sum(1 for m in guide.received if pred(m))


def _wait_more(guide: Guide, pred: Any, than: int, timeout: float = 20.0) -> None:
    assert guide.wait_count(pred, than + 1, timeout=timeout) > than


def test_claim_sent_while_the_daemon_is_down_is_applied_once_after_restart(  # type: ignore[no-untyped-def]
    tmp_path: Path, mosquitto: Mosquitto, daemon_factory
) -> None:
    config = {"store": {"id": "test-store", "node": "edge-s1"}, **_cfg(mosquitto)}
    d: DaemonProcess = daemon_factory(tmp_path / "data", config=config)
    token = d.cli("devices", "add", "guide-1", "--role", "guide").stdout.strip()
    guide = Guide(mosquitto.port, "guide-session-1", [CALLS, AVAILABLE])
    online = lambda m: m.get("_text") == "online"  # noqa: E731
    offline = lambda m: m.get("_text") == "offline"  # noqa: E731
    try:
        d.start()
        _wait_more(guide, online, 0)  # the daemon is connected and has subscribed to claims
        settings = load_settings(None, overrides={**config, "storage": {"data_dir": str(d.data_dir)}})
        room = room_codes(settings, d.data_dir).token("room-1")
        r = httpx.post(f"{d.url}/api/fitting/rooms/{room}/calls", json={"kind": "help"}, timeout=10)
        assert r.status_code == 201, r.text
        call_id = r.json()["call"]["id"]
        assert guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "open")
        claimed = lambda m: m.get("id") == call_id and m.get("state") == "claimed"  # noqa: E731

        gone = _count(guide, offline)
        assert d.stop() == 0
        _wait_more(guide, offline, gone)  # the broker knows the daemon is away
        claim = {"event_id": "evt-while-down-1", "call_id": call_id, "action": "claim", "device_token": token}
        for _ in range(2):  # the handheld retries too: the same event_id
            info = guide.publish(CLAIMS, claim)
            info.wait_for_publish(5)
            assert info.is_published()  # the broker has it (PUBACK), for the daemon's session
        # No wait needed: the only process that could apply it has exited (d.stop() returned 0).
        assert _count(guide, claimed) == 0

        back = _count(guide, online)
        d.start()
        _wait_more(guide, online, back)
        got = guide.wait_for(claimed, timeout=20)
        assert got and got[0]["guide_id"] == "guide-1" and got[0]["version"] == 2
        view = httpx.get(f"{d.url}/api/fitting/rooms/{room}", timeout=10).json()
        assert [(c["state"], c["version"]) for c in view["calls"]] == [("claimed", 2)]

        # It was acknowledged: another restart brings no redelivery that changes anything.
        assert d.stop() == 0
        back = _count(guide, online)
        d.start()
        _wait_more(guide, online, back)
        # A redelivery would come right after the daemon's reconnect, ahead of anything sent from
        # now on, and the daemon applies claims in order and publishes their changes in order: a
        # resolve sent now, once its change is out, proves that nothing came before it.
        resolve = dict(claim, event_id="evt-after-restart-1", action="resolve")
        guide.publish(CLAIMS, resolve).wait_for_publish(5)
        assert guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "resolved", timeout=20)
        view = httpx.get(f"{d.url}/api/fitting/rooms/{room}", timeout=10).json()
        assert [(c["state"], c["version"]) for c in view["calls"]] == [("resolved", 3)]  # nothing in between
        assert _count(guide, claimed) == 1
    finally:
        guide.close()
