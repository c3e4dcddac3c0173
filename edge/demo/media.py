"""Demo camera clips the project renders itself: EAN-13 labels of the demo products on
product-like packs that slide into view (with motion blur), are held (with hand jitter), and are
taken away again, so every product code appears once per loop and is counted once.

No external media: barcodes are drawn from the EAN-13 encoding tables below.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.demo.gtins import FASHION, GROCERY

MEDIA_VERSION = "4"
FPS = 15
SIZE = (640, 480)

# EAN-13 encoding tables (GS1 General Specifications, 5.2.1.2): L and G codes for the left half,
# R codes for the right half; the first digit selects the L/G parity pattern of the left half.
_L = [
    "0001101",
    "0011001",
    "0010011",
    "0111101",
    "0100011",
    "0110001",
    "0101111",
    "0111011",
    "0110111",
    "0001011",
]
_G = ["".join("1" if c == "0" else "0" for c in reversed(code)) for code in _L]
_R = ["".join("1" if c == "0" else "0" for c in code) for code in _L]
_PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]


def ean13_modules(code: str) -> str:
    """The 95 modules (1 = bar) of an EAN-13."""
    if len(code) != 13 or not code.isdigit():
        raise ValueError("EAN-13 needs 13 digits")
    left = "".join((_L if p == "L" else _G)[int(d)] for p, d in zip(_PARITY[int(code[0])], code[1:7], strict=True))
    right = "".join(_R[int(d)] for d in code[7:])
    return "101" + left + "01010" + right + "101"


def render_ean13(code: str, module_px: int = 3, bar_height: int = 110) -> np.ndarray:
    """A white label (grayscale) with the barcode, quiet zones and the digits under it."""
    modules = ean13_modules(code)
    quiet = 11 * module_px
    width = len(modules) * module_px + 2 * quiet
    label = np.full((bar_height + 34, width), 255, np.uint8)
    for i, m in enumerate(modules):
        if m == "1":
            x = quiet + i * module_px
            label[8 : 8 + bar_height, x : x + module_px] = 0
    text = f"{code[0]} {code[1:7]} {code[7:]}"
    org = (quiet - 4 * module_px, bar_height + 28)
    cv2.putText(label, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.2 * module_px, 0, max(1, module_px // 2), cv2.LINE_AA)
    return label


def letterbox(img: np.ndarray, width: int = 1280, height: int = 720) -> np.ndarray:
    """A photo scaled into a camera-sized frame with black bars, as a camera over a kiosk shows a face."""
    scale = min(width / img.shape[1], height / img.shape[0])
    small = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)))
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def background(size: tuple[int, int], seed: int) -> np.ndarray:
    """A kiosk tray / shelf: a soft gradient with a little texture."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    base = np.empty((h, w, 3), np.float32)
    for c, (a, b) in enumerate(((90, 60), (95, 70), (100, 80))):
        base[:, :, c] = a + (b - a) * yy
    texture = cv2.GaussianBlur(rng.normal(0, 8, (h, w)).astype(np.float32), (0, 0), 3)
    return np.clip(base + texture[:, :, None], 0, 255).astype(np.uint8)


def product_pack(code: str, name: str, colour: tuple[int, int, int], module_px: int = 3) -> np.ndarray:
    """A coloured pack with its name and the barcode label."""
    label = render_ean13(code, module_px)
    lh, lw = label.shape
    pack = np.zeros((lh + 90, lw + 60, 3), np.uint8)
    pack[:] = colour
    cv2.putText(pack, name[:22], (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    pack[70 : 70 + lh, 30 : 30 + lw] = label[:, :, None]
    return pack


def place(frame: np.ndarray, pack: np.ndarray, x: int, y: int, blur_px: int = 0) -> np.ndarray:
    """The frame with the pack pasted at (x, y), clipped at the edges, motion-blurred if moving."""
    out = frame.copy()
    if blur_px > 1:
        kernel = np.zeros((1, blur_px), np.float32)
        kernel[0, :] = 1.0 / blur_px
        pack = cv2.filter2D(pack, -1, kernel)
    fh, fw = frame.shape[:2]
    ph, pw = pack.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(fw, x + pw), min(fh, y + ph)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = pack[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


def clip_frames(codes: list[tuple[str, str]], size: tuple[int, int] = SIZE, seed: int = 7) -> list[np.ndarray]:
    """Each product slides in (blurred), is held ~0.9 s with jitter, slides out, then ~0.7 s of empty tray."""
    rng = random.Random(seed)
    bg = background(size, seed)
    w, h = size
    frames: list[np.ndarray] = []
    palette = [(40, 90, 170), (60, 140, 60), (150, 70, 40), (120, 50, 130), (30, 120, 150), (90, 90, 90)]
    for i, (code, name) in enumerate(codes):
        pack = product_pack(code, name, palette[i % len(palette)])
        ph, pw = pack.shape[:2]
        tx, ty = (w - pw) // 2, (h - ph) // 2
        slide = [int(-pw + (tx + pw) * k / 5) for k in range(1, 6)]  # 5 frames in
        for x in slide:
            frames.append(place(bg, pack, x, ty, blur_px=18))
        for _ in range(int(0.9 * FPS)):
            frames.append(
                place(bg, pack, tx + rng.randint(-3, 3), ty + rng.randint(-2, 2), blur_px=rng.choice([0, 0, 3]))
            )
        for k in range(1, 5):  # 4 frames out to the right
            frames.append(place(bg, pack, tx + (w - tx) * k // 4, ty, blur_px=18))
        frames += [bg] * int(0.7 * FPS)
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: int = FPS) -> None:
    """Writes an MJPEG AVI next to `path` and renames it into place (never a half-written clip)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.avi")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write video {tmp}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    os.replace(tmp, path)


def ensure_media(media_dir: Path) -> dict[str, Any]:
    """Returns {"cameras": [camera config dicts]} for the generated clips (made once, cached)."""
    media_dir.mkdir(parents=True, exist_ok=True)
    clips = {
        "kiosk-1-cam": ("kiosk", "kiosk-1", [(g[0], g[1]) for g in GROCERY], 11),
        "room-1-cam": ("fitting_room", "room-1", [(f[0], f"{f[2]} {f[3]} {f[4]}") for f in FASHION], 23),
    }
    cameras: list[dict[str, Any]] = []
    for cam_id, (role, target, codes, seed) in clips.items():
        path = media_dir / f"{cam_id}-v{MEDIA_VERSION}.avi"
        if not path.exists():
            frames = clip_frames(codes, seed=seed)
            if role == "kiosk":  # the shopper's basket starts on an empty tray, which shows between sessions
                frames = [background(SIZE, seed)] * FPS + frames
            write_clip(path, frames)
        camera = {"id": cam_id, "role": role, "target": target, "source": str(path), "fps": float(FPS)}
        if role == "kiosk":
            camera["replay"] = "per_session"  # one basket per shopper, not a loop that never ends
        cameras.append(camera)
    return {"cameras": cameras}
