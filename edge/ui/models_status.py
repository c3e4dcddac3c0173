"""Face-model status for the dashboard: manifest version and a sha256 check of each file.

Hashing ~20 MB of weights is not free on a small box, so results are cached per file and only
recomputed when its size or mtime changes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

_cache: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def _digest(path: Path) -> str | None:
    from edge.facepay.manifest import sha256_file

    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _cache:
            return _cache[key]
    digest = sha256_file(path)
    with _lock:
        _cache[key] = digest
    return digest


def models_status(model_dir: Path) -> dict[str, Any]:
    """{"manifest": path, "models": [{name, role, version, sha256, status, reason, selected}]}."""
    try:
        from edge.facepay.manifest import ModelError, load_manifest, resolve_manifest
    except ImportError:
        return {"manifest": None, "models": [], "reason": "face-pay is not installed in this build"}
    try:
        manifest = load_manifest(resolve_manifest(model_dir))
    except ModelError as exc:
        return {"manifest": None, "models": [], "reason": str(exc)}
    selected = {s.name for s in manifest.selected()}
    rows: list[dict[str, Any]] = []
    for name, spec in sorted(manifest.models.items()):
        digest = _digest(model_dir / spec.file)
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
