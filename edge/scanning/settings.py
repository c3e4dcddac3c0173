"""Scanning configuration (decoder strategy, motion gate, confirmation, in-store numbering)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.platform.gs1facts import Layout

Symbology = Literal["EAN-13", "EAN-8", "UPC-A", "UPC-E", "Code128", "QRCode", "DataMatrix", "DataBar"]
ALL_SYMBOLOGIES: list[Symbology] = [
    "EAN-13", "EAN-8", "UPC-A", "UPC-E", "Code128", "QRCode", "DataMatrix", "DataBar"
]  # fmt: skip
RETAIL: list[Symbology] = ["EAN-13", "EAN-8", "UPC-A", "UPC-E"]


class ConfirmSettings(BaseModel):
    """When a code seen by a camera of one role becomes a ScanEvent."""

    model_config = ConfigDict(extra="forbid")

    min_frames: int = Field(
        default=2, ge=1, le=10, description="Decoded frames (within window_s) that must read the code."
    )
    min_decoders: int = Field(
        default=2,
        ge=0,
        le=2,
        description="Or: this many different decoders reading it in one frame (0 disables).",
    )
    window_s: float = Field(default=1.5, gt=0, le=10, description="Window for min_frames, in seconds.")
    absence_s: float = Field(
        default=0.8, gt=0, le=30, description="A code out of view this long counts again when it comes back."
    )
    absence_frames: int = Field(
        default=2, ge=1, le=30, description="...and missing from at least this many decoded frames."
    )
    symbologies: list[Symbology] | None = Field(
        default=None,
        description="Symbologies this role decodes (None: all configured ones). Fewer is faster on every frame.",
    )


def _roles() -> dict[str, ConfirmSettings]:
    return {
        # A wrong code is a wrong item in a cart: two frames, or two decoders, must agree.
        # Everything: EAN/UPC packs, GS1-128 and GS1 DataMatrix fresh-food labels, Digital Link QR,
        # and the member cards, coupons and wallet payment codes (QR or Code 128) checkout takes.
        "kiosk": ConfirmSettings(),
        # Garment tags: EAN/UPC and Code 128.
        "fitting_room": ConfirmSettings(symbologies=[*RETAIL, "Code128"]),
        # Exit passes are signed QR codes, verified by checkout; one clean read is enough.
        "exit_gate": ConfirmSettings(min_frames=1, min_decoders=0, absence_s=2.0, symbologies=["QRCode"]),
        # A shopper's phone (edge.phone): the kiosk's rule, frames arrive a few a second.
        "phone": ConfirmSettings(),
    }


class PhoneFrameSettings(BaseModel):
    """Frames a shopper's phone sends to be decoded (scan-and-go on the phone, docs/phone.md)."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(default=400_000, ge=10_000, le=5_000_000, description="Largest frame accepted, in bytes.")
    max_pixels: int = Field(
        default=1_300_000, ge=100_000, le=8_000_000, description="Largest frame decoded (bigger JPEGs are reduced)."
    )
    decode_slots: int = Field(
        default=4,
        ge=1,
        le=16,
        description="Phone frames decoded at once (the kiosks' cameras keep their threads); 4 on 2 cores: "
        "a slot spends most of its time waiting for Python, not decoding.",
    )
    slot_wait_s: float = Field(
        default=0.5, gt=0, le=10, description="A frame waiting longer than this for a slot is answered 503 busy."
    )
    streams: int = Field(default=2000, ge=10, le=100_000, description="Phones whose confirmation state is kept.")
    process: bool = Field(
        default=True,
        description="Decode phone frames in a process of their own (the daemon's Python then serves HTTP, carts "
        "and payments); false decodes them in the daemon.",
    )
    frame_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="A frame the decoder process holds longer is answered 503 and the "
        "process replaced.",
    )  # fmt: skip
    scanline_ms_per_s: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="The scanline fallback's time budget on phone frames (kiosk cameras: live_scanline_ms_per_s). "
        "Off by default: on 50 phones it read no more (read rate 0.846 either way); a phone moves closer, a fixed "
        "camera cannot. The witness keeps its own budget.",
    )


class MotionSettings(BaseModel):
    """The motion gate in front of the decoders."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Skip frames that did not change (a static scene costs ~nothing).")
    pixel_delta: int = Field(default=18, ge=1, le=255, description="Grey-level change that counts a sample as changed.")
    min_changed: float = Field(default=0.004, gt=0, le=1, description="Fraction of samples that must change.")
    settle_s: float = Field(default=1.2, ge=0, le=10, description="Keep decoding this long after the last change.")


class ScanningSettings(BaseModel):
    """How frames become ScanEvents."""

    model_config = ConfigDict(extra="forbid")

    variable_measure_prefixes: list[str] = Field(
        default_factory=lambda: [str(n) for n in range(20, 30)],
        description="GTIN-13 prefixes that carry an embedded weight or price (country specific).",
    )
    variable_measure_weight_prefixes: list[str] = Field(
        default_factory=lambda: ["28", "29"],
        description="Of those, the prefixes carrying a weight in grams (the others: a price in minor units).",
    )
    symbologies: list[Symbology] = Field(
        default_factory=lambda: list(ALL_SYMBOLOGIES),
        description="Symbologies to decode: " + ", ".join(ALL_SYMBOLOGIES) + ". Fewer is faster.",
    )
    use_zbar: bool = Field(default=True, description="Use pyzbar (libzbar0) in the fallbacks when it is installed.")
    live_fallbacks: int = Field(
        default=1,
        ge=0,
        le=6,
        description="Fallback passes per camera frame when the fast pass found nothing (rotating).",
    )
    live_fallback_ms_per_s: float = Field(
        default=60.0,
        ge=0,
        le=1000,
        description="Decode time per second each camera may spend on fallbacks (bounds the cost of a hard scene).",
    )
    live_scanline_ms_per_s: float = Field(
        default=100.0,
        ge=0,
        le=1000,
        description="Decode time per second the scanline reader (the dearest fallback) may take on camera frames, "
        "shared by the cameras of a role (phones: phone.scanline_ms_per_s); stills always run it. 0 turns it off.",
    )
    live_witness_ms_per_s: float = Field(
        default=100.0,
        ge=0,
        le=1000,
        description="Decode time per second the scanline witness may take checking codes about to be confirmed on "
        "live frames, shared by the cameras of a role or by all phones; past it a code is confirmed unwitnessed "
        "(counted). Stills witness every code.",
    )
    motion: MotionSettings = Field(default_factory=MotionSettings, description="The motion gate.")
    phone: PhoneFrameSettings = Field(default_factory=PhoneFrameSettings, description="Frames from shoppers' phones.")
    roles: dict[str, ConfirmSettings] = Field(
        default_factory=_roles,
        description="Confirmation and debounce per camera role (kiosk, fitting_room, exit_gate, phone).",
    )

    def layout(self) -> Layout:
        """The store's in-store numbering for the GS1 library."""
        return Layout(tuple(self.variable_measure_prefixes), tuple(self.variable_measure_weight_prefixes))
