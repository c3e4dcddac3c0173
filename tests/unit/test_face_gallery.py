"""Encrypted templates (round trip, tamper, rotation) and the threshold/margin decisions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag

from edge.facepay.gallery import Gallery, decide_many, decide_one, open_template, seal_template
from edge.platform.security import Sealer, SecretStore


def _unit(rng: np.random.Generator, dim: int = 128) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def sealer(tmp_path: Path) -> Sealer:
    return Sealer(SecretStore(tmp_path).keyring("templates"))


def test_template_round_trip_is_exact_and_ciphertext_hides_the_vector(sealer: Sealer) -> None:
    vec = _unit(np.random.default_rng(1))
    kid, blob = seal_template(sealer, "t1", "m1", vec)
    assert vec.astype("<f4").tobytes()[:16] not in blob
    np.testing.assert_array_equal(open_template(sealer, kid, blob, "t1", "m1", 128), vec)


def test_tampered_or_moved_template_is_refused(sealer: Sealer) -> None:
    vec = _unit(np.random.default_rng(2))
    kid, blob = seal_template(sealer, "t1", "m1", vec)
    flipped = bytearray(blob)
    flipped[20] ^= 0x01
    with pytest.raises(InvalidTag):
        open_template(sealer, kid, bytes(flipped), "t1", "m1", 128)
    with pytest.raises(InvalidTag):  # the same blob copied onto another member's row
        open_template(sealer, kid, blob, "t1", "m2", 128)


def test_rotated_key_still_opens_old_templates(sealer: Sealer) -> None:
    vec = _unit(np.random.default_rng(3))
    kid_old, blob_old = seal_template(sealer, "t1", "m1", vec)
    sealer.ring.rotate()
    kid_new, _ = seal_template(sealer, "t2", "m2", vec)
    assert kid_new != kid_old
    np.testing.assert_array_equal(open_template(sealer, kid_old, blob_old, "t1", "m1", 128), vec)


def test_one_to_one_threshold() -> None:
    assert decide_one(0.61, "m1", 0.5).decision == "match"
    r = decide_one(0.49, "m1", 0.5)
    assert (r.decision, r.reason, r.member_id) == ("no_match", "below_threshold", None)


def test_one_to_n_needs_threshold_and_margin() -> None:
    assert decide_many([("a", 0.80), ("b", 0.30)], 0.5, 0.08).member_id == "a"
    look_alike = decide_many([("a", 0.80), ("b", 0.75)], 0.5, 0.08)
    assert (look_alike.decision, look_alike.reason) == ("no_match", "ambiguous")
    assert decide_many([("a", 0.45), ("b", 0.10)], 0.5, 0.08).reason == "below_threshold"
    assert decide_many([("a", 0.55)], 0.5, 0.08).decision == "match"
    assert decide_many([], 0.5, 0.08).reason == "empty_gallery"


def test_gallery_search_put_remove_and_narrowing() -> None:
    rng = np.random.default_rng(4)
    g = Gallery(128, capacity=2)
    vecs = {f"m{i}": _unit(rng) for i in range(50)}
    for k, v in vecs.items():
        g.put(k, v)
    assert len(g) == 50
    probe = vecs["m7"]
    assert g.top2(probe)[0] == ("m7", pytest.approx(1.0, abs=1e-5))
    assert g.remove("m7") and not g.remove("m7")
    assert "m7" not in g and g.top2(probe)[0][0] != "m7"
    # the row moved into m7's slot is still found under its own id
    last = "m49"
    assert g.top2(vecs[last])[0][0] == last
    assert g.similarity(last, vecs[last]) == pytest.approx(1.0, abs=1e-5)
    narrowed = g.top2(vecs["m3"], among={"m3", "m4"})
    assert [m for m, _ in narrowed] == ["m3", "m4"]
    assert g.top2(probe, among={"nobody"}) == []


def test_an_expired_template_never_matches_even_before_the_sweep() -> None:
    """Retention holds between hourly sweeps: an expired row is skipped by 1:1 and 1:N alike."""
    rng = np.random.default_rng(5)
    g = Gallery(128, capacity=2)
    now = 1_000_000.0
    vecs = {f"m{i}": _unit(rng) for i in range(5)}
    for i, (k, v) in enumerate(vecs.items()):
        g.put(k, v, expires_at=now - 1 if i == 2 else now + 3600)  # m2 expired a second ago
    assert g.similarity("m2", vecs["m2"], now=now) is None
    assert g.similarity("m2", vecs["m2"], now=now - 10) == pytest.approx(1.0, abs=1e-5)
    assert "m2" not in [m for m, _ in g.top2(vecs["m2"], now=now)]
    assert g.top2(vecs["m2"], now=now - 10)[0][0] == "m2"
    assert g.top2(vecs["m2"], among={"m2"}, now=now) == []
    assert [m for m, _ in g.top2(vecs["m2"], among={"m2", "m3"}, now=now)] == ["m3"]
    # removal moves the last row into the freed slot together with its expiry
    g.remove("m0")
    assert g.similarity("m4", vecs["m4"], now=now) == pytest.approx(1.0, abs=1e-5)
    assert g.similarity("m2", vecs["m2"], now=now) is None
    g.put("m2", vecs["m2"], expires_at=now + 60)  # re-enrolled: matches again
    assert g.top2(vecs["m2"], now=now)[0][0] == "m2"
