"""Face geometry: the 5-point similarity transform to the ArcFace template, and liveness crops.

Written out (least-squares similarity, Umeyama 1991) rather than delegated, so the maths is
tested on its own and has no hidden RANSAC: five points, one closed-form answer.
"""

from __future__ import annotations

import cv2
import numpy as np

# The standard 112x112 ArcFace landmark template: eye (image left), eye (image right), nose tip,
# mouth corner (image left), mouth corner (image right).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the rotation+uniform scale+translation that best maps src onto dst."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError("need two equal (N,2) point sets with N >= 2")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = (s_c**2).sum() / len(src)
    if var_s <= 1e-12:
        raise ValueError("source points are degenerate (all in one place)")
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0  # no reflections: a face is never mirrored onto the template
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / var_s)
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The face warped onto the ArcFace template (size x size, same channels as the input)."""
    dst = ARCFACE_112 * (size / 112.0)
    m = similarity_transform(np.asarray(landmarks, dtype=np.float64).reshape(5, 2), dst)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def scaled_crop(image: np.ndarray, box: tuple[float, float, float, float], scale: float, out: int = 80) -> np.ndarray:
    """The face box (x, y, w, h) enlarged by `scale` about its centre, kept inside the image, resized.

    This is the crop the MiniFASNet models were trained on: the scale is reduced when the
    enlarged box would not fit, and the box is shifted (not cut) at the image border.
    """
    img_h, img_w = image.shape[:2]
    x, y, w, h = box
    w, h = max(w, 1.0), max(h, 1.0)
    scale = min((img_h - 1) / h, (img_w - 1) / w, scale)
    new_w, new_h = w * scale, h * scale
    cx, cy = x + w / 2, y + h / 2
    left, top = cx - new_w / 2, cy - new_h / 2
    right, bottom = cx + new_w / 2, cy + new_h / 2
    if left < 0:
        right -= left
        left = 0
    if top < 0:
        bottom -= top
        top = 0
    if right > img_w - 1:
        left -= right - img_w + 1
        right = img_w - 1
    if bottom > img_h - 1:
        top -= bottom - img_h + 1
        bottom = img_h - 1
    crop = image[int(top) : int(bottom) + 1, int(left) : int(right) + 1]
    return cv2.resize(crop, (out, out))


def sharpness(face: np.ndarray) -> float:
    """Variance of the Laplacian of the grey face: low means blurred (motion or focus)."""
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY) if face.ndim == 3 else face
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw proxy, roll in degrees) from the 5 landmarks.

    Yaw: how far the nose tip sits from the midpoint between the eyes, as a fraction of the
    eye distance (0 frontal, ~0.5 a strong profile). Roll: the eye line's tilt.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    eye_l, eye_r, nose = pts[0], pts[1], pts[2]
    eye_vec = eye_r - eye_l
    dist = float(np.hypot(*eye_vec))
    if dist < 1e-6:
        return 1.0, 90.0
    roll = float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0])))
    mid = (eye_l + eye_r) / 2
    along = float(np.dot(nose - mid, eye_vec / dist))
    return abs(along) / dist, abs(roll)
