"""Face-pay configuration (thresholds, liveness, retention, abuse limits).

The model directory itself is the top-level `model_dir` setting (RETAIL_EDGE_MODEL_DIR); a
relative path is resolved against the daemon's current directory.
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class FacepaySettings(BaseModel):
    """On-device face verification."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Load the face models and offer face-pay.")
    threads: int = Field(default=2, ge=1, le=16, description="ONNX Runtime intra-op threads per session.")
    manifest: Path | None = Field(
        default=None,
        description="Model manifest; default <model_dir>/manifest.toml, else models/manifest.toml.",
    )
    detect_width: int = Field(
        default=320, ge=128, le=1280, description="Frame width fed to the dynamic YuNet (rounded to 32)."
    )
    detect_score: float = Field(default=0.6, ge=0.05, le=0.99, description="Minimum face detection confidence.")
    still_detect_width: int = Field(
        default=640,
        ge=128,
        le=1920,
        description="Detector width for uploaded photos, where faces can be small.",
    )
    min_face_px: int = Field(default=60, ge=16, description="Smallest face (box width, source pixels) accepted.")
    min_sharpness: float = Field(
        default=350.0,
        ge=0.0,
        description=(
            "Minimum Laplacian variance of the aligned 112x112 face (blur gate). Calibrated on the 61 shared "
            "photos: the softest real face scores 552 in a 720p frame, the sharpest 21-px Gaussian blur 295."
        ),
    )
    max_yaw: float = Field(
        default=0.35,
        gt=0,
        le=1,
        description="Largest nose offset from the eye midline, as a fraction of eye distance.",
    )
    max_roll_deg: float = Field(default=25.0, gt=0, le=90, description="Largest eye-line tilt in degrees.")
    match_threshold: float = Field(
        default=0.50,
        ge=-1,
        le=1,
        description="Cosine similarity a match needs (calibrated: 0 false accepts, scripts/bench/face.py).",
    )
    match_margin: float = Field(
        default=0.08, ge=0, le=2, description="1:N: the best member must beat the second by this much."
    )
    liveness_threshold: float = Field(
        default=0.70, ge=0, le=1, description="Mean live probability (both MiniFASNets, all frames) to pass."
    )
    liveness_single_threshold: float = Field(
        default=0.80,
        ge=0,
        le=1,
        description="Live probability one still image needs (the single-frame rule).",
    )
    liveness_frames: int = Field(default=3, ge=1, le=30, description="Frames averaged for liveness and matching.")
    capture_window_s: float = Field(default=1.2, gt=0, le=10, description="How long to collect camera frames.")
    enroll_frames: int = Field(
        default=3,
        ge=2,
        le=20,
        description="Good frames (or images, at most as many as uploaded) an enrolment needs; 2 at least.",
    )
    consent_versions: list[str] = Field(
        default_factory=lambda: ["v1"], description="Consent text versions the kiosk may record."
    )
    retention_days: int = Field(
        default=365, ge=1, le=3650, description="Templates expire this long after enrolment unless renewed."
    )
    authorization_ttl_s: int = Field(default=120, ge=10, le=900, description="Lifetime of a payment authorisation.")
    attempts_per_kiosk_per_min: int = Field(default=6, ge=1, description="Verify attempts one kiosk may make a minute.")
    attempts_per_member_per_hour: int = Field(
        default=10, ge=1, description="Verify attempts against one member an hour."
    )
    lockout_failures: int = Field(default=5, ge=1, description="Consecutive failures that lock a kiosk or member out.")
    lockout_minutes: int = Field(default=15, ge=1, description="How long a lockout lasts.")
    max_upload_bytes: int = Field(default=4_000_000, ge=10_000, description="Largest uploaded image accepted.")
    max_upload_pixels: int = Field(
        default=4_000_000,
        ge=10_000,
        le=40_000_000,
        description="Largest decoded frame (pixels); a bigger JPEG is decoded at 1/2, 1/4 or 1/8, others refused.",
    )
