"""The face models' lifecycle: verify and load once (in a background thread), report readiness.

A missing or corrupt model makes face-pay "down" with the reason; nothing else in the daemon
depends on it, so the store keeps selling with other payment methods.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge.facepay.engine import FaceModels, load_models
from edge.facepay.gallery import Gallery
from edge.facepay.manifest import ModelError, load_manifest, resolve_manifest
from edge.facepay.pipeline import FacePipeline
from edge.facepay.settings import FacepaySettings
from edge.platform.errors import Unavailable
from edge.platform.worker import Worker

log = logging.getLogger(__name__)


def resolve_model_dir(model_dir: Path) -> Path:
    """A relative model dir is relative to the current directory (documented in docs/facepay.md)."""
    return (model_dir if model_dir.is_absolute() else Path.cwd() / model_dir).resolve()


class FaceRuntime:
    """Holds the loaded models, the pipeline and the gallery; thread-safe status for /readyz."""

    def __init__(self, settings: FacepaySettings, model_dir: Path) -> None:
        self.cfg = settings
        self.model_dir = resolve_model_dir(model_dir)
        self.status = "down" if not settings.enabled else "loading"
        self.reason = "face-pay is disabled in config" if not settings.enabled else "loading"
        self.models: FaceModels | None = None
        self.pipeline: FacePipeline | None = None
        self.gallery: Gallery | None = None
        self.load_ms: float | None = None
        self.run_lock = threading.Lock()  # one pipeline run at a time: the box has 2 cores
        self._loader: Worker | None = None

    def load(self, on_loaded: Callable[[FaceRuntime], None] | None = None) -> None:
        """Verify sha256 and open the sessions (blocking); then `on_loaded` fills the gallery."""
        t0 = time.monotonic()
        try:
            manifest = load_manifest(resolve_manifest(self.model_dir, self.cfg.manifest))
            models = load_models(manifest, self.model_dir, self.cfg.threads)
        except ModelError as exc:
            self.status, self.reason = "down", str(exc)
            log.error("face-pay is down: %s", exc)
            return
        self.models = models
        self.pipeline = FacePipeline(models, self.cfg)
        self.gallery = Gallery(models.embedder.dim)
        try:
            if on_loaded is not None:
                on_loaded(self)
        except Exception as exc:
            self.status, self.reason = "down", f"gallery load failed: {exc}"[:300]
            log.exception("face gallery could not be loaded")
            return
        self.load_ms = (time.monotonic() - t0) * 1000
        self.status, self.reason = "ok", f"{len(self.gallery)} templates; models from {self.model_dir}"
        log.info("face models loaded in %.0f ms (%s)", self.load_ms, ", ".join(models.versions().values()))

    def start_background(self, on_loaded: Callable[[FaceRuntime], None] | None = None) -> None:
        if not self.cfg.enabled or self._loader is not None:
            return
        self._loader = Worker("face-models", lambda _w: self.load(on_loaded), restart=False)
        self._loader.start()

    def wait(self, timeout: float = 30.0) -> None:
        if self._loader is not None:
            self._loader.join(timeout)

    def ready(self) -> tuple[FacePipeline, Gallery, FaceModels]:
        if self.status != "ok" or self.pipeline is None or self.gallery is None or self.models is None:
            raise Unavailable(f"face-pay is not available: {self.reason}", code="face_unavailable")
        return self.pipeline, self.gallery, self.models
