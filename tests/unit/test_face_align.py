"""Alignment maths: the similarity transform, the warp onto the template, pose and crops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.facepay.align import ARCFACE_112, align_face, pose, scaled_crop, similarity_transform


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def test_recovers_a_known_rotation_scale_and_shift() -> None:
    angle, scale, shift = math.radians(17), 2.5, np.array([40.0, -12.0])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    src = ARCFACE_112
    dst = scale * src @ rot.T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)
    np.testing.assert_allclose(_apply(m, src), dst, atol=1e-9)


def test_noisy_landmarks_land_close_to_the_template() -> None:
    rng = np.random.default_rng(3)
    face = ARCFACE_112 * 3.1 + [500, 200] + rng.normal(0, 1.0, ARCFACE_112.shape)
    m = similarity_transform(face, ARCFACE_112)
    err = np.abs(_apply(m, face) - ARCFACE_112).max()
    assert err < 1.5  # within ~1 px of the template after removing 3 px noise at 3x scale


def test_a_mirrored_face_is_not_reflected_onto_the_template() -> None:
    mirrored = ARCFACE_112.copy()
    mirrored[:, 0] = 112 - mirrored[:, 0]
    m = similarity_transform(mirrored, ARCFACE_112)
    assert np.linalg.det(m[:, :2]) > 0  # a rotation, never a flip


def test_degenerate_points_are_refused() -> None:
    with pytest.raises(ValueError):
        similarity_transform(np.ones((5, 2)), ARCFACE_112)
    with pytest.raises(ValueError):
        similarity_transform(np.ones((5, 3)), ARCFACE_112)


def test_warp_puts_the_landmarks_where_the_template_says() -> None:
    # Paint 5 bright dots at landmark positions of a rotated, scaled face; after alignment the
    # dots must sit on the 112x112 template.
    angle = math.radians(-12)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = 2.0 * ARCFACE_112 @ rot.T + [150, 120]
    img = np.zeros((480, 640, 3), np.uint8)
    for x, y in pts:
        img[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2] = 255
    out = align_face(img, pts)
    assert out.shape == (112, 112, 3)
    for tx, ty in ARCFACE_112:
        patch = out[int(ty) - 2 : int(ty) + 3, int(tx) - 2 : int(tx) + 3]
        assert patch.max() > 100


def test_pose_frontal_versus_turned_and_tilted() -> None:
    yaw, roll = pose(ARCFACE_112)
    assert yaw < 0.05 and roll < 1
    turned = ARCFACE_112.copy()
    turned[2, 0] += 20  # nose well towards one eye
    assert pose(turned)[0] > 0.5
    angle = math.radians(30)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    assert pose(ARCFACE_112 @ rot.T)[1] == pytest.approx(30, abs=1.5)


def test_liveness_crop_stays_inside_the_frame_at_the_border() -> None:
    img = np.zeros((720, 1280, 3), np.uint8)
    img[:, :640] = 200
    crop = scaled_crop(img, (0.0, 0.0, 200.0, 200.0), 4.0)
    assert crop.shape == (80, 80, 3)
    # a box in the corner is shifted, not cut: the crop covers the left half's bright area
    assert crop.mean() > 100
