#!/usr/bin/env python3
"""Renders the demo camera clips (EAN-13 packs of the demo products) into a folder and prints
the camera config entries for them. The demo calls the same code (edge.demo.media) itself."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edge.demo.media import ensure_media


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("media_dir", type=Path, nargs="?", default=Path("demo-media"), help="where to write the clips")
    args = ap.parse_args()
    t0 = time.monotonic()
    media = ensure_media(args.media_dir)
    print(json.dumps(media, indent=2))
    print(f"done in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
