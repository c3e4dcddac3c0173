#!/usr/bin/env python3
"""Fetch the face models named in models/manifest.toml and verify every sha256.

    python scripts/fetch_models.py                       # download from the upstream URLs
    python scripts/fetch_models.py --from ../shared/models   # copy from a local directory
    python scripts/fetch_models.py --dest /var/lib/retail-edge/models --all

A file is written under a temporary name and renamed into place only after its digest
matches, so an interrupted or tampered download never leaves a usable-looking model behind.
Files already present with the right digest are kept. Exit code 1 if any model failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1 << 16


def progress(name: str, done: int, total: int | None) -> None:
    if total:
        pct = 100 * done / total
        bar = "#" * int(pct / 4)
        sys.stderr.write(f"\r  {name:40} [{bar:25}] {pct:5.1f}% {done / 1e6:6.2f} MB")
    else:
        sys.stderr.write(f"\r  {name:40} {done / 1e6:6.2f} MB")
    sys.stderr.flush()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def chunks_from_dir(src: Path) -> tuple[Iterator[bytes], int]:
    fh = src.open("rb")

    def gen() -> Iterator[bytes]:
        with fh:
            while block := fh.read(CHUNK):
                yield block

    return gen(), src.stat().st_size


def chunks_from_url(url: str) -> tuple[Iterator[bytes], int | None]:
    import httpx

    client = httpx.Client(follow_redirects=True, timeout=60)
    resp = client.send(client.build_request("GET", url), stream=True)
    if resp.status_code != 200:
        resp.close()
        client.close()
        raise OSError(f"HTTP {resp.status_code} from {url}")
    total = int(resp.headers["content-length"]) if "content-length" in resp.headers else None

    def gen() -> Iterator[bytes]:
        try:
            yield from resp.iter_bytes(CHUNK)
        finally:
            resp.close()
            client.close()

    return gen(), total


def fetch_one(name: str, entry: dict[str, str], dest: Path, local: Path | None) -> str:
    target = dest / entry["file"]
    want = entry["sha256"].lower()
    if target.exists() and sha256_of(target) == want:
        return "already present, sha256 ok"
    chunks: Iterator[bytes]
    total: int | None  # a download without a Content-Length has no known size
    if local is not None:
        src = local / entry["file"]
        if not src.is_file():
            raise OSError(f"{src} does not exist")
        chunks, total = chunks_from_dir(src)
    else:
        chunks, total = chunks_from_url(entry["source"])
    tmp = target.with_name(target.name + ".part")
    h = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for block in chunks:
                out.write(block)
                h.update(block)
                done += len(block)
                if done % (1 << 20) < len(block) or done == total:
                    progress(entry["file"], done, total)
            out.flush()
            os.fsync(out.fileno())
        sys.stderr.write("\n")
        got = h.hexdigest()
        if got != want:
            raise OSError(f"sha256 mismatch: got {got}, manifest says {want}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return f"ok ({done / 1e6:.2f} MB, sha256 verified)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", type=Path, help="copy from this directory instead of downloading")
    ap.add_argument("--dest", type=Path, default=ROOT / "models", help="where to put the models (default models/)")
    ap.add_argument("--manifest", type=Path, default=ROOT / "models" / "manifest.toml")
    ap.add_argument("--all", action="store_true", help="also fetch optional entries (e.g. the fixed-size YuNet)")
    args = ap.parse_args(argv)
    manifest = tomllib.loads(args.manifest.read_text())
    models: dict[str, dict[str, str]] = manifest["models"]
    args.dest.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name, entry in models.items():
        if entry.get("optional") and not args.all:
            continue
        try:
            status = fetch_one(name, entry, args.dest, args.src)
        except Exception as exc:  # network, disk or digest: report this model and go on
            status = f"FAILED: {type(exc).__name__}: {exc}"
            failed += 1
        print(f"{name:18} {entry['file']:36} {status}")
    print(f"{'all ok' if not failed else f'{failed} FAILED'}; models in {args.dest}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
