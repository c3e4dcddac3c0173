"""The ui domain's own running state, kept in the context for its router (ctx.own(UiState))."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from edge.ui.metrics import MetricsRing
from edge.ui.scans import RecentScans

SAMPLE_INTERVAL_S = 2.0
RING_SIZE = 900  # 30 minutes at 2 s


@dataclass
class UiState:
    ring: MetricsRing = field(default_factory=lambda: MetricsRing(SAMPLE_INTERVAL_S, RING_SIZE))
    scans: RecentScans = field(default_factory=RecentScans)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # set when the daemon stops: SSE ends
