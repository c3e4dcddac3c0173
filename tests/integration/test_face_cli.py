"""`retail-edge face ...` and `retail-edge models ...` on real models, photos and a temp store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import app
from tests.conftest import shared_path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "RETAIL_EDGE_MODEL_DIR": str(shared_path("models")),
        "RETAIL_EDGE_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "RETAIL_EDGE_LOGGING__LEVEL": "WARNING",
    }


def img(name: str) -> str:
    return str(shared_path(f"data/faces/images/deepface__{name}.jpg"))


def test_compare_pairs_and_liveness_print_json_lines(env: dict[str, str], tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        f"a,b\n{img('img1')},{img('img2')}\n{img('img1')},{img('img29')}\n{img('img1')},{tmp_path}/none.jpg\n"
    )
    r = CliRunner().invoke(app, ["face", "compare", "--pairs", str(pairs)], env=env)
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["match"] for x in lines] == [True, False, False]
    assert lines[0]["similarity"] > 0.5 > lines[1]["similarity"]
    assert lines[2]["error"] == "b: image_unreadable" and lines[2]["similarity"] is None
    assert {"a", "b", "similarity", "match", "liveness_a", "liveness_b"} <= set(lines[0])
    r = CliRunner().invoke(app, ["face", "liveness", "--json", img("img6"), img("img4")], env=env)
    live = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["live"] for x in live] == [True, False] and live[0]["score"] > 0.9


def test_enroll_list_erase_and_models_verify(env: dict[str, str]) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["face", "enroll", "--member", "m-1", img("img29"), img("img30")], env=env)
    assert refused.exit_code == 2 and "face_consent_required" in refused.output
    ok = runner.invoke(app, ["face", "enroll", "--member", "m-1", "--consent", img("img29"), img("img30")], env=env)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["frames_used"] == 2
    listed = json.loads(runner.invoke(app, ["face", "list", "--json"], env=env).stdout)
    assert listed == {"members": 1, "templates": 1, "consents_active": 1, "expiring_30d": 0}
    assert runner.invoke(app, ["face", "erase", "--member", "m-1"], env=env).exit_code == 0
    assert json.loads(runner.invoke(app, ["face", "list", "--json"], env=env).stdout)["templates"] == 0
    assert runner.invoke(app, ["face", "erase", "--member", "m-1"], env=env).exit_code == 2
    v = runner.invoke(app, ["models", "verify"], env=env)
    assert v.exit_code == 0 and v.stdout.count(" ok") == 5
    bad = runner.invoke(app, ["models", "verify"], env={**env, "RETAIL_EDGE_MODEL_DIR": "/nonexistent"})
    assert bad.exit_code == 1 and "missing" in bad.stdout


def test_reseal_after_key_rotation(env: dict[str, str]) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["face", "enroll", "--member", "m-1", "--consent", img("img29"), img("img30")], env=env)
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(app, ["keys", "rotate", "templates"], env=env).exit_code == 0
    r = runner.invoke(app, ["face", "reseal", "--retire-old"], env=env)
    assert r.exit_code == 0 and "re-sealed 1 templates under key k2; retired k1" in r.stdout
    again = runner.invoke(app, ["face", "compare", img("img29"), img("img31")], env=env)
    assert "MATCH" in again.stdout
    # the template still opens: re-enrolling the same face under another id is refused as a duplicate
    dup = runner.invoke(app, ["face", "enroll", "--member", "m-2", "--consent", img("img31"), img("img32")], env=env)
    assert dup.exit_code == 2 and "face_already_enrolled" in dup.output
