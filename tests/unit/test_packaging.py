"""What a store's IT team touches: the CLI's help, the example config, the systemd unit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_settings
from tests.support.services import ROOT

COMMANDS = [
    [],
    ["run"],
    ["demo"],
    ["check-config"],
    ["migrate"],
    ["decode"],
    ["face"],
    ["models"],
    ["users"],
    ["users", "add"],
    ["devices"],
    ["devices", "add"],
    ["keys", "rotate"],
    ["catalog"],
    ["rooms"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(cmd: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "edge", *cmd, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout


def test_example_config_is_valid() -> None:
    s = load_settings(ROOT / "examples" / "store.toml")
    assert s.store.id == "sh-xuhui-0042"
    assert {c.role for c in s.cameras} == {"kiosk", "face", "exit_gate", "fitting_room"}


def test_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    unit = (ROOT / "systemd" / "retail-edge.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=retail-edge",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "User=retail-edge",
    ):
        assert line in unit, line
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is installed by the README's test command"
    # Verify a copy whose paths exist on this machine, so only the unit's own syntax is judged.
    exe = Path(sys.executable).parent / "retail-edge"
    copy = tmp_path / "retail-edge.service"
    copy.write_text(
        unit.replace("/opt/retail-edge/.venv/bin/retail-edge", str(exe)).replace("/opt/retail-edge", str(ROOT))
    )
    out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert out.returncode == 0 and not problems, "\n".join(problems)


def test_config_reference_is_current() -> None:
    import runpy

    gen = runpy.run_path(str(ROOT / "scripts" / "gen_config_reference.py"))
    current = (ROOT / "docs" / "config-reference.md").read_text()
    assert current == gen["render"](), "run: .venv/bin/python scripts/gen_config_reference.py"
