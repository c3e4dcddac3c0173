"""WAL checkpoints on a thread of their own, off the request path.

By default SQLite checkpoints inside whichever commit pushes the WAL past 1,000 pages: that
commit copies the pages into the database file and fsyncs it while holding the write slot. On
this box that made one commit in a hundred take 20 ms and one in a thousand over 100 ms, which
is exactly the tail a shopper at a kiosk or a phone calling a guide waits on. The daemon turns
the automatic checkpoint off on its connections (Database.background_checkpoints) and runs a
PASSIVE checkpoint here every second: it never blocks writers or readers, and commits stay
durable in the WAL either way.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from prometheus_client import Gauge, Histogram

from edge.platform.worker import Worker

log = logging.getLogger(__name__)

WAL_FRAMES = Gauge("edge_db_wal_frames", "Frames in the SQLite WAL after the last checkpoint")
CHECKPOINT_SECONDS = Histogram(
    "edge_db_checkpoint_seconds", "Background WAL checkpoint duration", buckets=(0.001, 0.005, 0.02, 0.1, 0.5, 2, 10)
)
BIG_WAL_FRAMES = 50_000  # ~200 MB with 4 KiB pages: something keeps a read open for too long


class WalCheckpointer:
    def __init__(self, path: Path, interval_s: float = 1.0) -> None:
        self.path = path
        self.interval_s = interval_s
        self.last_error = ""
        self.worker = Worker("wal-checkpoint", self._run)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        self.worker.stop(timeout_s)

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """One PASSIVE checkpoint: (frames in the WAL, frames copied into the database)."""
        t0 = time.perf_counter()
        _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        CHECKPOINT_SECONDS.observe(time.perf_counter() - t0)
        WAL_FRAMES.set(max(0, frames))
        return int(frames), int(copied)

    def _run(self, w: Worker) -> None:
        conn: sqlite3.Connection | None = None
        warned = False
        while not w.sleep(self.interval_s):
            try:
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=1, isolation_level=None, check_same_thread=False)
                    conn.execute("PRAGMA synchronous=FULL")  # the checkpoint fsyncs the database file
                frames, copied = self.checkpoint(conn)
                self.last_error = ""
                if frames > BIG_WAL_FRAMES and frames - copied > 0 and not warned:
                    log.warning("db: the WAL holds %d frames and cannot be copied back; a reader stays open", frames)
                warned = frames > BIG_WAL_FRAMES
            except sqlite3.Error as exc:  # a busy or locked moment: the next round tries again
                self.last_error = f"checkpoint: {exc}"[:200]
                log.debug("db: background checkpoint failed", exc_info=True)
        if conn is not None:
            conn.close()
