"""Test support: real services (Mosquitto, the daemon) started on free ports."""
