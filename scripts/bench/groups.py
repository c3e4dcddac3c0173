"""Kiosks as separate devices: their threads spread over a few client processes, started together.

One interpreter would make the kiosks' HTTP clients queue on its lock and add that wait to the
latency measured. Each process runs `target(jobs, conn)`: it sends "ready" once built, waits for
"go", then sends back one dict of what it measured.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any


def run_groups(
    target: Callable[[list[tuple[Any, ...]], Any], None], jobs: list[tuple[Any, ...]], processes: int
) -> tuple[list[dict[str, Any]], float]:
    """Run the jobs in `processes` spawned processes; (each process's answer, wall seconds from "go")."""
    ctx = mp.get_context("spawn")
    groups: list[list[tuple[Any, ...]]] = [[] for _ in range(max(1, processes))]
    for i, job in enumerate(jobs):
        groups[i % len(groups)].append(job)
    procs, conns = [], []
    for group in groups:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=target, args=(group, child), daemon=True)
        proc.start()
        procs.append(proc)
        conns.append(parent)
    for c in conns:
        c.recv()  # each process has imported and built its clients
    t0 = time.monotonic()
    for c in conns:
        c.send("go")
    parts = []
    for c, proc in zip(conns, procs, strict=True):
        parts.append(c.recv())
        proc.join(30)
    return parts, time.monotonic() - t0
