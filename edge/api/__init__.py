"""The HTTP API shell: app factory, shared dependencies, health and access routers."""
