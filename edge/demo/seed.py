"""Demo store seed data: each domain seeds its own part."""

from __future__ import annotations

from typing import Any

from edge.config import Settings


def seed_demo_store(settings: Settings) -> dict[str, Any]:
    """Seeds catalog and rooms; returns {"room_urls": [...]} for the banner."""
    from edge.checkout.demo import seed_catalog
    from edge.fitting.demo import room_urls

    seed_catalog(settings)
    return {"room_urls": room_urls(settings)}
