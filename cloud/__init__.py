"""The reference cloud receiver for retail-edge sync (docs/cloud-api.yaml), on PostgreSQL."""
