"""retail-edge: the in-store edge daemon (scan-and-go, face-pay, fitting room, cloud sync)."""

__version__ = "0.1.0"
