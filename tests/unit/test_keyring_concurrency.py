"""A key ring is created on first use: racing first uses must end with one key that signed everything.

The daemon's components each hold their own `KeyRing` on the same file (the phone's entry code
and cookie rings, the access sessions), its worker threads sign at once, and the CLI or the demo
seed may touch the same ring from another process while the daemon starts.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from pathlib import Path
from typing import Any

from edge.platform.security import KeyRing, SecretStore, Signer

THREADS = 16
ROUNDS = 5


def _race(path: Path, shared: bool) -> tuple[list[str], list[BaseException]]:
    """THREADS threads meet at a barrier and sign at once: with their own ring each, or one ring."""
    one = KeyRing(path)
    barrier = threading.Barrier(THREADS)
    tokens: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        signer = Signer("entry_code", one if shared else KeyRing(path))
        try:
            barrier.wait(timeout=30)
            token = signer.sign({"n": n})
            signer.verify(token)  # what this thread signed verifies with what it now holds
        except BaseException as exc:  # noqa: BLE001 (every failure of a racer is a finding)
            with lock:
                errors.append(exc)
            return
        with lock:
            tokens.append(token)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return tokens, errors


def _assert_one_key(path: Path, tokens: list[str]) -> None:
    data = json.loads(path.read_text())
    assert len(data["keys"]) == 1, f"first use made {len(data['keys'])} keys: {sorted(data['keys'])}"
    fresh = Signer("entry_code", KeyRing(path))  # a later reader: the daemon after a restart
    for token in tokens:
        fresh.verify(token)
    assert len({t.split(".")[0] for t in tokens}) == 1


def test_threads_with_their_own_rings_agree_on_one_key(tmp_path: Path) -> None:
    for r in range(ROUNDS):
        path = SecretStore(tmp_path / str(r)).keyring("entry_code").path
        tokens, errors = _race(path, shared=False)
        assert errors == [], errors[:3]
        assert len(tokens) == THREADS
        _assert_one_key(path, tokens)
        # every racer's ring still verifies every racer's token, without a re-read forced by a restart
        late = [Signer("entry_code", KeyRing(path)) for _ in range(3)]
        for signer in late:
            for token in tokens:
                signer.verify(token)


def test_threads_sharing_one_ring_agree_on_one_key(tmp_path: Path) -> None:
    for r in range(ROUNDS):
        path = SecretStore(tmp_path / str(r)).keyring("go_session").path
        tokens, errors = _race(path, shared=True)
        assert errors == [], errors[:3]
        assert len(tokens) == THREADS
        _assert_one_key(path, tokens)


def _sign_in_process(path: str, start: Any, out: Any) -> None:
    start.wait(30)
    try:
        out.put(Signer("entry_code", KeyRing(Path(path))).sign({"pid": 1}))
    except BaseException as exc:  # noqa: BLE001
        out.put(f"error: {exc!r}")


def test_processes_agree_on_one_key(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    path = SecretStore(tmp_path).keyring("entry_code").path
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_sign_in_process, args=(str(path), start, out)) for _ in range(6)]
    for p in procs:
        p.start()
    start.set()
    tokens = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert not [t for t in tokens if t.startswith("error:")], tokens
    _assert_one_key(path, tokens)


def test_rotations_racing_lose_no_key(tmp_path: Path) -> None:
    path = SecretStore(tmp_path).keyring("exit_pass").path
    KeyRing(path).active()  # the ring exists: k1
    barrier = threading.Barrier(8)
    made: list[str] = []
    lock = threading.Lock()

    def rotate() -> None:
        barrier.wait(timeout=30)
        kid = KeyRing(path).rotate()
        with lock:
            made.append(kid)

    threads = [threading.Thread(target=rotate) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    keys = json.loads(path.read_text())["keys"]
    assert len(made) == 8 and len(set(made)) == 8, made
    assert set(made) | {"k1"} == set(keys), (made, sorted(keys))
