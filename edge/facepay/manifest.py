"""The model manifest (models/manifest.toml) and sha256 verification of the weights.

A model file is used only if its bytes hash to the manifest's digest: a truncated download or a
swapped file must refuse to load rather than quietly change who gets matched.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_MANIFEST = Path(__file__).resolve().parents[2] / "models" / "manifest.toml"
ROLES = ("detector", "embedder", "liveness")


class ModelError(Exception):
    """A model that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str
    sha256: str
    role: str
    kind: str
    version: str
    licence: str
    source: str
    input: str = ""
    scale: float | None = None
    optional: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: dict[str, ModelSpec]
    detector: str
    embedder: str
    liveness: tuple[str, ...]

    def selected(self) -> list[ModelSpec]:
        names = [self.detector, self.embedder, *self.liveness]
        return [self.models[n] for n in names]


def resolve_manifest(model_dir: Path, explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    local = model_dir / "manifest.toml"
    return local if local.exists() else PROJECT_MANIFEST


def load_manifest(path: Path) -> Manifest:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"model manifest {path} does not exist") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"model manifest {path} cannot be read: {exc}") from exc
    models: dict[str, ModelSpec] = {}
    for name, entry in (data.get("models") or {}).items():
        try:
            known = {k: entry[k] for k in ("file", "sha256", "role", "kind", "version", "licence", "source")}
        except KeyError as exc:
            raise ModelError(f"manifest entry {name!r} lacks {exc.args[0]!r}") from exc
        if known["role"] not in ROLES:
            raise ModelError(f"manifest entry {name!r} has unknown role {known['role']!r}")
        scale = entry.get("scale")
        models[name] = ModelSpec(
            name=name,
            file=str(known["file"]),
            sha256=str(known["sha256"]).lower(),
            role=str(known["role"]),
            kind=str(known["kind"]),
            version=str(known["version"]),
            licence=str(known["licence"]),
            source=str(known["source"]),
            input=str(entry.get("input", "")),
            scale=float(scale) if scale is not None else None,
            optional=bool(entry.get("optional", False)),
        )
    sel = data.get("select") or {}
    detector, embedder = sel.get("detector"), sel.get("embedder")
    liveness = tuple(sel.get("liveness") or ())
    for role, name in [("detector", detector), ("embedder", embedder), *(("liveness", n) for n in liveness)]:
        if not name or name not in models:
            raise ModelError(f"manifest {path} selects {role} {name!r}, which has no [models.{name}] entry")
        if models[name].role != role:
            raise ModelError(f"manifest selects {name!r} as {role} but its role is {models[name].role}")
    if not liveness:
        raise ModelError(f"manifest {path} selects no liveness model")
    return Manifest(path=path, models=models, detector=str(detector), embedder=str(embedder), liveness=liveness)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(spec: ModelSpec, model_dir: Path) -> Path:
    """The verified path of one model file; ModelError if missing or its digest differs."""
    path = model_dir / spec.file
    if not path.is_file():
        raise ModelError(f"model {spec.name} missing: {path} (run scripts/fetch_models.py)")
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise ModelError(
            f"model {spec.name} corrupt: sha256 of {path} is {digest[:12]}..., manifest says {spec.sha256[:12]}..."
        )
    return path


def verify_all(manifest: Manifest, model_dir: Path) -> dict[str, str]:
    """name -> "ok" or the reason, for every manifest entry (the `models verify` command)."""
    out: dict[str, str] = {}
    for name, spec in manifest.models.items():
        try:
            verify_file(spec, model_dir)
            out[name] = "ok"
        except ModelError as exc:
            out[name] = ("optional, " if spec.optional else "") + str(exc)
    return out
