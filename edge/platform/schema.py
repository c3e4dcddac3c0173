"""The database file's schema: the data dir check, the backup before migrating, Alembic.

Migrations run on the FULL-synchronous engine (`Store.schema_engine`), before anything serves.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from edge.platform.errors import StartupRefused
from edge.platform.timeutil import utcnow

log = logging.getLogger(__name__)

DB_NAME = "edge.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
MB = 1024 * 1024
BACKUP_HEADROOM = 16 * MB  # the copy's own journal, plus room for the migration that follows


def check_data_dir(data_dir: Path, min_free_mb: int) -> None:
    """Refuse early, with a sentence, rather than crash later in the middle of a sale."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupRefused(f"cannot create data dir {data_dir}: {exc.strerror}") from exc
    probe = data_dir / ".write-probe"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise StartupRefused(f"data dir {data_dir} is not writable: {exc.strerror}") from exc
    free_mb = free_bytes(data_dir) // MB
    if free_mb < min_free_mb:
        raise StartupRefused(
            f"disk under {data_dir} has {free_mb} MB free, below storage.min_free_mb={min_free_mb}; free space first"
        )


class Schema:
    """Backs up and migrates one SQLite file (Alembic, every domain's branch to its head)."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.engine = engine

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url)
        cfg.attributes["engine"] = self.engine
        return cfg

    def current_revisions(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())

    def pending(self) -> tuple[set[str], set[str]]:
        """(current, heads). Refuses a database written by a newer version of the daemon."""
        script = ScriptDirectory.from_config(self.alembic_config())
        heads = set(script.get_heads())
        current = self.current_revisions()
        known = {rev.revision for rev in script.walk_revisions()}
        unknown = current - known
        if unknown:
            raise StartupRefused(
                f"database {self.path} has schema revision {', '.join(sorted(unknown))}, newer than this "
                "version of retail-edge knows; install the newer version or restore a backup"
            )
        return current, heads

    def _has_tables(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type='table'").scalar())

    def backup(self, keep: int) -> Path | None:
        """A consistent copy (SQLite online backup) before touching the schema.

        Refuses (StartupRefused) rather than crash when the copy cannot fit or cannot be written:
        a half-written backup is removed, and the database itself is left untouched.
        """
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        backups = self.path.parent / "backups"
        wal = self.path.with_name(self.path.name + "-wal")
        needed = self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0) + BACKUP_HEADROOM
        free = free_bytes(self.path.parent)
        if free < needed:
            raise StartupRefused(
                f"not enough free disk to back up {self.path} before migrating: {free // MB} MB free, "
                f"{-(-needed // MB)} MB needed; free space (or remove old files in {backups}) and start again"
            )
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        target = backups / f"edge-{stamp}.db"
        try:
            backups.mkdir(exist_ok=True)
            src = sqlite3.connect(self.path)
            try:
                dst = sqlite3.connect(target)
                try:
                    src.backup(dst)
                finally:
                    dst.close()
            finally:
                src.close()
            os.chmod(target, 0o600)
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
            reason = "the disk is full" if _is_disk_full(exc) else str(exc)
            raise StartupRefused(
                f"cannot back up {self.path} to {backups} before migrating ({reason}); "
                "the database was not changed; free space or fix the directory and start again"
            ) from exc
        existing = sorted(backups.glob("edge-*.db"))
        for old in existing[: max(0, len(existing) - keep)]:
            old.unlink(missing_ok=True)
        return target

    def migrate(self, backups_keep: int = 5) -> list[str]:
        """Upgrade to every head; a no-op (and no backup) when already current."""
        try:
            current, heads = self.pending()
            if current == heads:
                return []
            backup = self.backup(backups_keep) if self._has_tables() else None
            if backup:
                log.info("backed up database to %s before migrating", backup)
            command.upgrade(self.alembic_config(), "heads")
            return sorted(heads - current)
        except OperationalError as exc:
            raise StartupRefused(f"cannot migrate {self.path}: {_sqlite_reason(exc)}") from exc


def free_bytes(path: Path) -> int:
    """Free space for this process on the filesystem holding `path` (a seam for tests)."""
    return shutil.disk_usage(path).free


def _is_disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == errno.ENOSPC or "full" in str(exc)


def _sqlite_reason(exc: OperationalError) -> str:
    msg = str(exc.orig) if exc.orig else str(exc)
    if "disk is full" in msg or "database or disk is full" in msg:
        return "the disk is full; free space and start again"
    if "readonly" in msg or "read-only" in msg:
        return "the database file is read-only"
    return msg
