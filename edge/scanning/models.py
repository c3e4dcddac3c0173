"""Tables and API schemas of this domain (filled in by its issue)."""
