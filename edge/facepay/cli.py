"""`retail-edge face ...` and `retail-edge models ...`.

compare and liveness run the models in this process on image files (no daemon, no database);
enroll, erase and list work on the store database under the configured data dir.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

from edge.platform.cli import ConfigOpt, env, fail
from edge.platform.errors import EdgeError
from edge.platform.security import SecretStore

if TYPE_CHECKING:  # the models load onnxruntime: only the commands that need them import it
    from edge.facepay.runtime import FaceRuntime
    from edge.facepay.service import FaceServices

face_app = typer.Typer(help="Face-pay: compare, liveness, enroll, erase, list.", no_args_is_help=True)
models_app = typer.Typer(help="Face models: verify sha256, show versions.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
MAX_FILE_BYTES = 25_000_000


def _runtime(ctx: typer.Context, config: Path | None) -> FaceRuntime:
    from edge.facepay.runtime import FaceRuntime

    settings = env(ctx).settings(config)
    rt = FaceRuntime(settings.facepay, settings.model_dir)
    rt.load()
    if rt.status != "ok":
        raise fail(f"face models unavailable: {rt.reason}", 3)
    return rt


def _read(path: Path) -> np.ndarray:
    from edge.platform.images import decode_image

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EdgeError(f"cannot read {path}: {exc.strerror}", code="image_unreadable") from exc
    return decode_image(data, max_bytes=MAX_FILE_BYTES, max_pixels=100_000_000)


def _probe(rt: Any, path: Path) -> dict[str, Any]:
    """Embedding and liveness of one still image, or the error that stops it."""
    try:
        img = _read(path)
    except EdgeError as exc:
        return {"error": exc.code}
    res = rt.pipeline.analyse(img, liveness=True, detect_width=rt.cfg.still_detect_width)
    if not res.usable:
        return {"error": res.reasons[0] if res.reasons else "no_face", "liveness": res.liveness}
    return {"embedding": res.embedding, "liveness": res.liveness, "detection_score": res.detection.score}


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


@face_app.command("compare")
def face_compare(
    ctx: typer.Context,
    images: Annotated[list[Path] | None, typer.Argument(help="A.jpg B.jpg")] = None,
    pairs: Annotated[Path | None, typer.Option("--pairs", help="CSV with columns a,b (a batch).")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Compare faces: similarity and the shipped 1:1 decision (similarity >= threshold)."""
    todo: list[tuple[str, str]] = []
    if pairs is not None:
        try:
            with pairs.open(newline="") as fh:
                todo = [(row["a"], row["b"]) for row in csv.DictReader(fh)]
        except (OSError, KeyError) as exc:
            raise fail(f"cannot read pairs from {pairs}: it needs columns a,b ({exc})") from None
        base = pairs.parent
    else:
        if not images or len(images) != 2:
            raise fail("give two images (A.jpg B.jpg) or --pairs PAIRS.csv")
        todo = [(str(images[0]), str(images[1]))]
        base = Path.cwd()
    rt = _runtime(ctx, config)
    cache: dict[str, dict[str, Any]] = {}

    def probe(name: str) -> dict[str, Any]:
        if name not in cache:
            path = Path(name)
            cache[name] = _probe(rt, path if path.is_absolute() or path.exists() else base / path)
        return cache[name]

    threshold = rt.cfg.match_threshold
    for a, b in todo:
        pa, pb = probe(a), probe(b)
        out: dict[str, Any] = {
            "a": a,
            "b": b,
            "similarity": None,
            "match": False,
            "liveness_a": _r(pa.get("liveness")),
            "liveness_b": _r(pb.get("liveness")),
        }
        if "error" in pa or "error" in pb:
            out["error"] = f"a: {pa['error']}" if "error" in pa else f"b: {pb['error']}"
        else:
            sim = float(pa["embedding"] @ pb["embedding"])
            out.update(similarity=round(sim, 4), match=sim >= threshold)
        if as_json or pairs is not None:
            typer.echo(json.dumps(out))
        else:
            verdict = "error: " + out["error"] if "error" in out else ("MATCH" if out["match"] else "no match")
            typer.echo(f"{a} vs {b}: similarity {out['similarity']} (threshold {threshold}) -> {verdict}")


@face_app.command("liveness")
def face_liveness(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Images to judge.")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Liveness of each still image, judged with the single-frame rule."""
    rt = _runtime(ctx, config)
    need = rt.cfg.liveness_single_threshold
    for path in images:
        p = _probe(rt, path)
        score = p.get("liveness")
        out: dict[str, Any] = {
            "image": str(path),
            "live": score is not None and score >= need,
            "score": _r(score),
        }
        if "error" in p and score is None:
            out["error"] = p["error"]
        if as_json:
            typer.echo(json.dumps(out))
        else:
            typer.echo(
                f"{path}: {'live' if out['live'] else 'NOT live'} (score {out['score']}, needs {need})"
                + (f" error {out['error']}" if "error" in out else "")
            )


def _services(ctx: typer.Context, config: Path | None) -> FaceServices:
    from edge.facepay.service import build_services

    settings = env(ctx).settings(config)
    store = env(ctx).open_store(settings)
    return build_services(settings.facepay, settings.model_dir, store, SecretStore(settings.storage.data_dir))


@face_app.command("enroll")
def face_enroll(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Photos of the member (each must pass the gates).")],
    member: Annotated[str, typer.Option("--member", help="Member id.")],
    consent_version: Annotated[str, typer.Option("--consent-version", help="Consent text version signed.")] = "v1",
    consent: Annotated[bool, typer.Option("--consent", help="The member gave recorded consent.")] = False,
    kiosk: Annotated[str, typer.Option("--kiosk", help="Where consent was given.")] = "back-office",
    phone: Annotated[
        str | None, typer.Option("--phone", help="Phone digits for narrowing (last 4 kept, hashed).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Enrol a member from photos (staff), recording the consent."""
    svc = _services(ctx, config)
    svc.runtime.load(on_loaded=svc.enrolment.load_gallery)
    if svc.runtime.status != "ok":
        raise fail(f"face models unavailable: {svc.runtime.reason}", 3)
    try:
        frames = [_read(p) for p in images]
        out = svc.enrolment.enroll(
            member_id=member,
            frames=frames,
            consent=consent,
            consent_version=consent_version,
            kiosk_id=kiosk,
            actor="cli:staff",
            phone_digits=phone,
            stills=True,
            by_staff=True,  # an operator on the box itself
        )
    except EdgeError as exc:
        raise fail(f"{exc.code}: {exc.message} {json.dumps(exc.details) if exc.details else ''}".strip()) from None
    typer.echo(json.dumps(out.model_dump(mode="json")))


@face_app.command("erase")
def face_erase(
    ctx: typer.Context,
    member: Annotated[str, typer.Option("--member", help="Member id.")],
    config: ConfigOpt = None,
) -> None:
    """Erase a member's template (queues the erasure event for the cloud)."""
    svc = _services(ctx, config)
    try:
        svc.enrolment.erase(member, "cli:staff")
    except EdgeError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    typer.echo(f"erased face enrolment of {member}")


@face_app.command("reseal")
def face_reseal(
    ctx: typer.Context,
    retire_old: Annotated[bool, typer.Option(help="Then drop the older template keys.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Re-encrypt all templates under the active `templates` key (run after `keys rotate templates`)."""
    svc = _services(ctx, config)
    done, kid = svc.enrolment.reseal()
    gone = svc.enrolment.sealer.ring.retire_all_but_active() if retire_old else []
    typer.echo(f"re-sealed {done} templates under key {kid}" + (f"; retired {', '.join(gone)}" if gone else ""))


@face_app.command("list")
def face_list(ctx: typer.Context, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Count enrolled members (no biometric data)."""
    svc = _services(ctx, config)
    counts = svc.enrolment.counts()
    counts.pop("gallery_loaded", None)
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        for k, v in counts.items():
            typer.echo(f"{k}: {v}")


@models_app.command("verify")
def models_verify(ctx: typer.Context, config: ConfigOpt = None) -> None:
    """Verify every model file against the manifest's sha256 (exit 1 if a selected one fails)."""
    from edge.facepay.manifest import ModelError, load_manifest, resolve_manifest, verify_all
    from edge.facepay.runtime import resolve_model_dir

    settings = env(ctx).settings(config)
    model_dir = resolve_model_dir(settings.model_dir)
    try:
        manifest = load_manifest(resolve_manifest(model_dir, settings.facepay.manifest))
    except ModelError as exc:
        raise fail(str(exc)) from None
    status = verify_all(manifest, model_dir)
    selected = {s.name for s in manifest.selected()}
    bad = False
    for name, state in status.items():
        spec = manifest.models[name]
        mark = "*" if name in selected else " "
        typer.echo(f"{mark} {name:18} {spec.role:9} {spec.version:36} {state}")
        bad |= name in selected and state != "ok"
    typer.echo(f"model dir: {model_dir} (manifest {manifest.path}; * = used)")
    if bad:
        raise typer.Exit(1)


@models_app.command("list")
def models_list(ctx: typer.Context, config: ConfigOpt = None) -> None:
    """The manifest's models: role, version, licence and source (no hashing)."""
    from edge.facepay.manifest import ModelError, load_manifest, resolve_manifest
    from edge.facepay.runtime import resolve_model_dir

    settings = env(ctx).settings(config)
    try:
        manifest = load_manifest(resolve_manifest(resolve_model_dir(settings.model_dir), settings.facepay.manifest))
    except ModelError as exc:
        raise fail(str(exc)) from None
    for spec in manifest.models.values():
        typer.echo(f"{spec.name}: {spec.role}, {spec.version}, {spec.licence}\n    {spec.file} <- {spec.source}")
