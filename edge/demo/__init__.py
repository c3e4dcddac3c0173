"""The demo store: config, credentials, generated media and seed data."""
