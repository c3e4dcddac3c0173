"""The demo's people: two members (phone numbers, signed member QR codes, faces enrolled with
recorded consent when the face photos and models are here), two coupons, and a face camera at
kiosk-1 that shows member A. Made once per demo data dir; the banner prints them."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import segno

from edge.checkout.models import Member
from edge.config import Settings
from edge.demo.media import letterbox
from edge.platform.codes import Codes
from edge.platform.security import SecretStore
from edge.platform.timeutil import utcnow

log = logging.getLogger(__name__)
FACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces" / "images"


# deepface test photos (MIT): two identities, three photos each to enrol, another one for the camera
@dataclass(frozen=True)
class DemoMember:
    key: str
    name: str
    phone: str
    enrol: tuple[str, ...]


MEMBERS = [
    DemoMember("a", "Mei (demo member A)", "13800001111", ("img47", "img48", "img8")),
    DemoMember("b", "Jun (demo member B)", "13900002222", ("img29", "img30", "img31")),
]
CAMERA_FACE = "img50"  # member A, a photo not used to enrol
COUPONS = [("WELCOME10", "percent", 10, 0), ("SAVE5 on 50", "fixed", 500, 5000)]


def faces_available() -> bool:
    return FACES.is_dir() and all((FACES / f"deepface__{n}.jpg").exists() for m in MEMBERS for n in m.enrol)


def _photo(name: str) -> np.ndarray:
    img = cv2.imread(str(FACES / f"deepface__{name}.jpg"))
    if img is None:
        raise OSError(f"cannot read the face photo {name}")
    return img


def face_camera(data_dir: Path) -> dict[str, Any] | None:
    """A folder camera at kiosk-1 showing member A (a photo letterboxed to 1280x720), or None."""
    if not faces_available():
        return None
    folder = data_dir / "face-camera"
    if not folder.is_dir():
        tmp = data_dir / ".face-camera.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        cv2.imwrite(str(tmp / "member-a.png"), letterbox(_photo(CAMERA_FACE)))  # lossless: JPEG lowers liveness
        tmp.rename(folder)
    return {"id": "kiosk-1-face", "role": "face", "target": "kiosk-1", "source": str(folder), "fps": 5.0}


def seed_people(settings: Settings, store: Any) -> dict[str, Any]:
    """Members, coupons and their QR files (once); faces enrolled when photos and models are here."""
    data_dir = settings.storage.data_dir
    path = data_dir / "demo-people.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    codes = Codes(SecretStore(data_dir))
    out_dir = data_dir / "codes"
    out_dir.mkdir(exist_ok=True)
    people: dict[str, Any] = {"members": [], "coupons": [], "face": "no face photos here (../shared/data/faces)"}
    with store.write() as s:
        for m in MEMBERS:
            row = Member(phone=m.phone, name=m.name)
            s.add(row)
            code = codes.member_code(row.id)
            svg = out_dir / f"member-{m.key}.svg"
            segno.make(code, error="m").save(str(svg), kind="svg", scale=6, border=4)
            entry = {"id": row.id, "name": m.name, "phone": m.phone, "code": code, "svg": str(svg)}
            people["members"].append(entry)
    for name, kind, value, min_spend in COUPONS:
        claims = {"c": f"demo-{name.split()[0].lower()}", "s": secrets.token_hex(6), "k": kind, "v": value,
                  "min": min_spend, "nbf": int(utcnow().timestamp()),
                  "exp": int((utcnow() + timedelta(days=365)).timestamp()), "lim": 0, "n": name}  # fmt: skip
        code = codes.coupon_code(claims)
        svg = out_dir / f"coupon-{claims['c']}.svg"
        segno.make(code, error="m").save(str(svg), kind="svg", scale=6, border=4)
        people["coupons"].append({"name": name, "code": code, "svg": str(svg)})
    if faces_available():
        people["face"] = _enrol(settings, store, people["members"])
    path.write_text(json.dumps(people, indent=2))
    path.chmod(0o600)
    return people


def _enrol(settings: Settings, store: Any, members: list[dict[str, Any]]) -> str:
    """Enrol both members' faces with recorded consent; a sentence saying what happened."""
    from edge.facepay.service import build_services

    svc = build_services(settings.facepay, settings.model_dir, store, SecretStore(settings.storage.data_dir))
    svc.runtime.load(on_loaded=svc.enrolment.load_gallery)
    if svc.runtime.status != "ok":
        return f"face-pay unavailable: {svc.runtime.reason}"
    for m, spec in zip(members, MEMBERS, strict=True):
        frames = [_photo(n) for n in spec.enrol]
        svc.enrolment.enroll(member_id=m["id"], frames=frames, consent=True, consent_version="v1",
                             kiosk_id="demo-setup", actor="demo:setup", phone_digits=m["phone"], stills=True,
                             by_staff=True)  # fmt: skip
        m["face"] = True
    return "members A and B enrolled with consent; kiosk-1's face camera shows member A"
