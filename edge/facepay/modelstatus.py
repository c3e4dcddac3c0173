"""Face-model status for the dashboard: manifest version and a sha256 check of each file.

Hashing ~20 MB of weights is not free on a small box, so results are cached per file and only
recomputed when its size or mtime changes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from edge.facepay.manifest import ModelError, load_manifest, resolve_manifest, sha256_file


class ModelStatus:
    """The `models_status` half of the FaceAdmin contract; one per daemon (its cache with it)."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self._cache: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def _digest(self, path: Path) -> str | None:
        try:
            st = path.stat()
        except OSError:
            return None
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        digest = sha256_file(path)
        with self._lock:
            self._cache[key] = digest
        return digest

    def __call__(self) -> dict[str, Any]:
        return models_status(self.model_dir, self._digest)


def models_status(model_dir: Path, digest_of: Any = None) -> dict[str, Any]:
    """{"manifest": path, "models": [{name, role, version, sha256, status, reason, selected}]}."""
    digest_of = digest_of or (lambda p: sha256_file(p) if p.exists() else None)
    try:
        manifest = load_manifest(resolve_manifest(model_dir))
    except ModelError as exc:
        return {"manifest": None, "models": [], "reason": str(exc)}
    selected = {s.name for s in manifest.selected()}
    rows: list[dict[str, Any]] = []
    for name, spec in sorted(manifest.models.items()):
        digest = digest_of(model_dir / spec.file)
        if digest is None:
            status, reason = "missing", f"{spec.file} is not in {model_dir}"
        elif digest != spec.sha256:
            status, reason = "corrupt", f"sha256 {digest[:12]}… differs from the manifest"
        else:
            status, reason = "ok", ""
        rows.append(
            {
                "name": name,
                "role": spec.role,
                "version": spec.version,
                "file": spec.file,
                "sha256": spec.sha256,
                "status": status,
                "reason": reason,
                "selected": name in selected,
                "optional": spec.optional,
            }
        )
    return {"manifest": str(manifest.path), "models": rows}
