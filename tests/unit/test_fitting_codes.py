"""Room codes: signed, rotatable, refused when forged, rotated out or malformed; the printed
sheet holds QR codes that decode back to working URLs."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import zxingcpp
from typer.testing import CliRunner

from edge.config import load_settings
from edge.fitting.codes import RoomCodes
from edge.fitting.sheet import write_sheet
from edge.platform.errors import Forbidden
from tests.support.inproc import room_codes

ROOMS = [{"id": "room-1", "name": "Room <1>", "zone": "women"}, {"id": "room-2", "zone": "men"}]


def _settings(tmp_path: Path, store: str = "s1"):  # type: ignore[no-untyped-def]
    return load_settings(
        None,
        overrides={
            "store": {"id": store, "name": "Shop & Co"},
            "storage": {"data_dir": str(tmp_path)},
            "http": {"public_url": "http://box.local:8080"},
            "fitting": {"rooms": ROOMS},
        },
    )


def _reason(codes: RoomCodes, token: str) -> str:
    with pytest.raises(Forbidden) as err:
        codes.verify(token)
    assert err.value.code == "bad_room_code"
    return str(err.value.details["reason"])


def test_token_round_trip_and_refusals(tmp_path: Path) -> None:
    codes = room_codes(_settings(tmp_path), tmp_path)
    tok = codes.token("room-2")
    assert codes.verify(tok).id == "room-2"
    assert codes.url("room-1").startswith("http://box.local:8080/fit/")
    kid, body, mac = tok.split(".")
    other_body = codes.token("room-1").split(".")[1]
    assert _reason(codes, f"{kid}.{other_body}.{mac}") == "bad_signature"  # room swapped, MAC kept
    assert _reason(codes, "garbage") == "malformed"
    assert _reason(codes, f"k99.{body}.{mac}") == "unknown_key"
    # a valid code of another store (same key file) is not for this store
    foreign = room_codes(_settings(tmp_path, store="s2"), tmp_path).token("room-1")
    assert _reason(codes, foreign) == "unknown_room"


def test_rotation_by_the_cli_invalidates_printed_codes_in_a_running_verifier(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path)
    running = room_codes(settings, tmp_path)  # the daemon's verifier
    old = running.token("room-1")
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f'[store]\nid = "s1"\n[storage]\ndata_dir = "{tmp_path}"\n'
        '[[fitting.rooms]]\nid = "room-1"\n[[fitting.rooms]]\nid = "room-2"\n'
    )
    from edge.cli import app

    refused = CliRunner().invoke(app, ["rooms", "rotate", "--config", str(cfg)])
    assert refused.exit_code != 0 and running.verify(old).id == "room-1"  # needs --yes
    result = CliRunner().invoke(app, ["rooms", "rotate", "--yes", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "retired k1" in result.output
    assert _reason(running, old) == "unknown_key"
    assert running.verify(running.token("room-1")).id == "room-1"


def test_printable_sheet_decodes_to_room_urls(tmp_path: Path) -> None:
    codes = room_codes(_settings(tmp_path), tmp_path)
    made = write_sheet(codes, tmp_path / "sheet", store_name="Shop & Co")
    assert [c.room_id for c in made] == ["room-1", "room-2"]
    for c in made:
        img = cv2.imread(str(c.png))
        decoded = [r.text for r in zxingcpp.read_barcodes(img)]
        assert decoded == [c.url] and codes.verify(c.url.rsplit("/", 1)[1]).id == c.room_id
        assert c.svg.read_text().lstrip().startswith("<?xml") or "<svg" in c.svg.read_text()
    page = (tmp_path / "sheet" / "index.html").read_text()
    assert "Room &lt;1&gt;" in page and "Shop &amp; Co" in page and "room-2.svg" in page


def test_codes_cli_writes_the_sheet(tmp_path: Path) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f'[store]\nid = "s1"\n[storage]\ndata_dir = "{tmp_path}"\n[[fitting.rooms]]\nid = "room-9"\nname = "Nine"\n'
    )
    from edge.cli import app

    out = tmp_path / "print"
    bad = CliRunner().invoke(app, ["rooms", "codes", "--out", str(out), "--base-url", "ftp://x", "--config", str(cfg)])
    assert bad.exit_code == 2 and not out.exists()
    ok = CliRunner().invoke(
        app, ["rooms", "codes", "--out", str(out), "--base-url", "http://10.0.0.5:8080", "--config", str(cfg)]
    )
    assert ok.exit_code == 0, ok.output
    assert (out / "room-room-9.png").exists() and (out / "room-room-9.svg").exists() and (out / "index.html").exists()
    assert "http://10.0.0.5:8080/fit/" in ok.output


def test_demo_room_urls_open_their_rooms(tmp_path: Path) -> None:
    from edge.demo.seed import room_urls

    settings = _settings(tmp_path)
    urls = room_urls(settings)
    codes = room_codes(settings, tmp_path)
    assert [codes.verify(u.rsplit("/", 1)[1]).id for u in urls] == ["room-1", "room-2"]
    assert all(u.startswith("http://box.local:8080/fit/") for u in urls)
