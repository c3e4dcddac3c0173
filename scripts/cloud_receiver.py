#!/usr/bin/env python3
"""Start the reference cloud receiver (see cloud/receiver.py and docs/cloud-api.yaml)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.receiver import main

if __name__ == "__main__":
    raise SystemExit(main())
