"""Scan-and-go on the shopper's own phone: the entry code, the phone's session, its frames, its cart."""
