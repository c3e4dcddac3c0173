"""The face-pay phase of the payments benchmark: members with a wallet agreement pay by face.

Two kiosks, each with a face camera (an image folder holding one real shared photo of a member,
as a camera over the kiosk would see that member), the real face models; each kiosk loops: cart,
2-4 items, the member's signed code (1:1), face-verify, pay. The charge goes to the member's
withholding agreement on their wallet's simulator (300 ms). Measured: pay -> exit pass, and the
whole face checkout (verify + pay).
"""

from __future__ import annotations

import base64
import random
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from edge.demo.media import letterbox

SHARED = Path(__file__).resolve().parents[3] / "shared"
FACES = "data/faces/images/deepface__{}.jpg"
MEMBERS = [  # (photos to enrol, the photo the kiosk camera shows, the wallet)
    (["img47", "img48"], "img8", "alipay"),
    (["img29", "img30"], "img31", "wechatpay"),
]


def available() -> bool:
    return (SHARED / "models").is_dir() and all((SHARED / FACES.format(m[1])).exists() for m in MEMBERS)


def _frame(name: str) -> np.ndarray:
    img = cv2.imread(str(SHARED / FACES.format(name)))
    if img is None:
        raise SystemExit(f"cannot read the shared photo {name}")
    return letterbox(img)


def settings(tmp: Path) -> dict[str, Any]:
    """Config for the face phase: the models, and one face camera per kiosk (a one-photo folder)."""
    cams = []
    for n, (_enrol, shown, _rail) in enumerate(MEMBERS):
        folder = tmp / f"face-cam-{n}"
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / "0001.jpg"), _frame(shown))
        cams.append({"id": f"face-{n}", "source": str(folder), "role": "face", "target": f"kiosk-face-{n}", "fps": 5})
    # a bench kiosk checks a shopper out every second or two; the default limits (6 a kiosk a minute,
    # 10 a member an hour) are a real store's, where a shopper takes a minute or more
    return {
        "model_dir": str(SHARED / "models"),
        "cameras": cams,
        "facepay": {"attempts_per_kiosk_per_min": 120, "attempts_per_member_per_hour": 600},
    }


def enrol(base: str, staff: dict[str, str], gw: Any) -> list[str]:
    """Members with faces and wallet agreements; their signed member codes."""
    codes = []
    for n, (photos, _shown, rail) in enumerate(MEMBERS):
        agreement = f"2021{n:016d}"
        gw.sim(rail).add_agreement(agreement)
        body = {"phone": f"1370000{n:04d}", "name": f"Face {n}", "pay": {"rail": rail, "agreement": agreement}}
        m = httpx.post(f"{base}/api/checkout/members", json=body, headers=staff, timeout=30).json()
        images = [base64.b64encode((SHARED / FACES.format(p)).read_bytes()).decode() for p in photos]
        enrol_body = {
            "member_id": m["member_id"],
            "consent_version": "v1",
            "consent": True,
            "images_b64": images,
            "phone_digits": body["phone"],
        }
        r = httpx.post(f"{base}/api/face/enroll", json=enrol_body, headers=staff, timeout=60)
        r.raise_for_status()
        codes.append(m["member_code"])
    return codes


def run(base: str, tokens: list[str], codes: list[str], rounds: int, gtins: list[str]) -> dict[str, list[Any]]:
    """Each face kiosk in turn (the box has one face pipeline): verify, then pay; times in ms."""
    out: dict[str, list[Any]] = {"pay_ms": [], "total_ms": [], "failed": []}
    rng = random.Random(11)
    with httpx.Client(base_url=base, timeout=60) as c:
        for i in range(rounds):
            n = i % len(tokens)
            k = {"Authorization": f"Bearer {tokens[n]}"}
            sid = c.post("/api/kiosk/sessions", json={}, headers=k).json()["session_id"]
            for gtin in rng.sample(gtins, rng.randint(2, 4)):
                c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": gtin, "qty": 1}, headers=k)
            c.post(f"/api/kiosk/sessions/{sid}/member", json={"code": codes[n]}, headers=k)
            t0 = time.perf_counter()
            v = c.post(f"/api/kiosk/sessions/{sid}/face-verify", json={}, headers=k).json()
            auth = (v.get("authorization") or {}).get("auth_id")
            if not auth:
                out["failed"].append(f"verify: {v.get('reason') or v.get('error', {}).get('code')}")
                continue
            t1 = time.perf_counter()
            r = c.post(
                f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "face", "face_auth_id": auth}, headers=k
            )
            t2 = time.perf_counter()
            if r.status_code != 200 or not r.json().get("exit_pass"):
                out["failed"].append(f"pay: {r.status_code} {r.text[:100]}")
                continue
            out["pay_ms"].append((t2 - t1) * 1000)
            out["total_ms"].append((t2 - t0) * 1000)
    return out
