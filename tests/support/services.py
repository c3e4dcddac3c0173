"""Real Mosquitto and a real daemon process, each killable and restartable by tests and benches."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from tests.support.waits import wait_for

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Until something accepts a TCP connection on host:port."""

    def connects() -> bool:
        with socket.create_connection((host, port), timeout=0.2):
            return True

    try:
        wait_for(connects, timeout, f"something to listen on {host}:{port}", ignore=(OSError,))
    except AssertionError as exc:
        raise TimeoutError(str(exc)) from None


class Mosquitto:
    """A private broker with persistence, so restarts keep sessions like the store's broker does."""

    def __init__(self, workdir: Path, port: int | None = None, extra_conf: str = "") -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise RuntimeError("mosquitto is not installed (the README's test command installs it)")
        self.exe = exe
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + ("allow_anonymous true\n" if "password_file" not in self.extra_conf else "")
            + f"persistence true\npersistence_location {self.workdir}/\nautosave_interval 1\n"
            + "set_tcp_nodelay true\n"  # as the store broker (systemd/mosquitto/mosquitto.conf)
            + "max_queued_messages 100000\n"
            # As root, mosquitto drops to its own user and then cannot write its persistence
            # file in pytest's private temp dirs: restarts would silently lose state.
            + ("user root\n" if os.geteuid() == 0 else "")
            + self.extra_conf
        )
        with open(self.workdir / "log", "ab") as log:
            self.proc = subprocess.Popen([self.exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log)
        wait_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes] | None, timeout: float, what: str, log_tail: Callable[[], str]
) -> None:
    """Until `url`/healthz answers 200; fails at once, with the child's log, if the child died."""

    def healthz() -> int:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log_tail()}")
        return httpx.get(url + "/healthz", timeout=1).status_code

    try:
        wait_for(healthz, timeout, f"{what} to answer 200 on /healthz", until=lambda code: code == 200,
                 ignore=(httpx.HTTPError,))  # fmt: skip
    except AssertionError as exc:
        raise TimeoutError(f"{exc}:\n{log_tail()}") from None


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(data))
    return path


class DaemonProcess:
    """`python -m edge run` as a child process on a free port with its own data dir."""

    def __init__(
        self,
        data_dir: Path,
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.config = config or {}
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-daemon.log"
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "RETAIL_EDGE_HTTP__HOST": "127.0.0.1",
                "RETAIL_EDGE_HTTP__PORT": str(self.port),
                "RETAIL_EDGE_STORAGE__DATA_DIR": str(self.data_dir),
                "RETAIL_EDGE_LOGGING__FORMAT": "json",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "edge", "run"]
        if self.config:
            cfg = write_config(self.data_dir.parent / f"{self.data_dir.name}.toml", self.config)
            args += ["--config", str(cfg)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, env=self.env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_healthy(self.url, self.proc, timeout, "daemon", self.log_tail)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)
        self.kills += 1

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `retail-edge ARGS` against this daemon's data dir and config."""
        cmd = [sys.executable, "-m", "edge", *args]
        env = self.env()
        if self.config:
            cfg = write_config(self.data_dir.parent / f"{self.data_dir.name}.toml", self.config)
            env["RETAIL_EDGE_CONFIG"] = str(cfg)
        return subprocess.run(cmd, env=env, cwd=ROOT, input=input, capture_output=True, text=True, check=check)
