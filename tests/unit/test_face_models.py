"""Model files: sha256 verification against the manifest, corrupt/missing refusal, session options."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.facepay.engine import load_models
from edge.facepay.manifest import PROJECT_MANIFEST, ModelError, load_manifest, verify_all, verify_file
from edge.facepay.runtime import FaceRuntime
from edge.facepay.settings import FacepaySettings
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return shared_path("models")


def _copy_models(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.glob("*.onnx"):
        shutil.copy(f, dst / f.name)
    return dst


def test_the_shipped_manifest_matches_the_shared_models(model_dir: Path) -> None:
    manifest = load_manifest(PROJECT_MANIFEST)
    assert {s.role for s in manifest.selected()} == {"detector", "embedder", "liveness"}
    for spec in manifest.models.values():
        assert spec.licence and spec.source.startswith("https://") and len(spec.sha256) == 64
    assert verify_all(manifest, model_dir) == {name: "ok" for name in manifest.models}


def test_a_corrupt_model_is_refused_and_face_pay_reports_down(model_dir: Path, tmp_path: Path) -> None:
    manifest = load_manifest(PROJECT_MANIFEST)
    local = _copy_models(model_dir, tmp_path / "models")
    emb = local / manifest.models[manifest.embedder].file
    data = bytearray(emb.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    emb.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        verify_file(manifest.models[manifest.embedder], local)
    rt = FaceRuntime(FacepaySettings(), local)
    rt.load()
    assert rt.status == "down" and "corrupt" in rt.reason and "mobilefacenet" in rt.reason
    assert rt.models is None


def test_a_missing_model_says_which_and_how_to_fetch(tmp_path: Path) -> None:
    rt = FaceRuntime(FacepaySettings(), tmp_path)
    rt.load()
    assert rt.status == "down" and "missing" in rt.reason and "fetch_models" in rt.reason


def test_a_manifest_selecting_an_unknown_model_is_an_error(tmp_path: Path) -> None:
    text = PROJECT_MANIFEST.read_text().replace('embedder = "mobilefacenet"', 'embedder = "sface"')
    bad = tmp_path / "manifest.toml"
    bad.write_text(text)
    with pytest.raises(ModelError, match="sface"):
        load_manifest(bad)


def test_sessions_disable_spinning_and_set_threads(model_dir: Path) -> None:
    models = load_models(load_manifest(PROJECT_MANIFEST), model_dir, threads=1)
    for sess in [models.detector.session, models.embedder.session, *(m.session for m in models.liveness)]:  # type: ignore[attr-defined]
        opts = sess.get_session_options()
        assert opts.intra_op_num_threads == 1
        assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert models.embedder.dim == 128
