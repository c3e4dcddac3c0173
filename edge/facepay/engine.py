"""ONNX Runtime sessions for the face models, each loaded once per process.

Every session gets a fixed intra-op thread count and spinning disabled: with spinning on,
four sessions on a 2-core box busy-wait against each other and the pipeline runs ~2x slower.
The embedder sits behind the `Embedder` protocol so another model (SFace, ...) replaces it with
a manifest entry of a known `kind`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort

from edge.facepay.align import scaled_crop
from edge.facepay.manifest import Manifest, ModelError, ModelSpec, verify_file


def make_session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
        raise ModelError(f"model {path.name} cannot be loaded by ONNX Runtime: {exc}"[:300]) from exc


@dataclass(frozen=True)
class Detection:
    """One face: box (x, y, w, h) and 5 landmarks in source-image pixels, and the detector's confidence."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


class YuNetDetector:
    """YuNet (fixed 640 or dynamic export): decode the per-stride heads, then NMS."""

    STRIDES = (8, 16, 32)

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        self.spec = spec
        self.session = session
        shape = session.get_inputs()[0].shape
        self.fixed = (int(shape[2]), int(shape[3])) if isinstance(shape[2], int) else None
        self.input_name = session.get_inputs()[0].name

    def detect(self, image: np.ndarray, width: int = 320, min_score: float = 0.6) -> list[Detection]:
        img_h, img_w = image.shape[:2]
        if self.fixed is not None:
            in_h, in_w = self.fixed
            scale = min(in_w / img_w, in_h / img_h)
        else:
            in_w = max(32, math.ceil(min(width, img_w) / 32) * 32)
            scale = in_w / img_w
            in_h = max(32, math.ceil(img_h * scale / 32) * 32)
        new_w, new_h = max(1, round(img_w * scale)), max(1, round(img_h * scale))
        canvas = np.zeros((in_h, in_w, 3), dtype=np.float32)
        canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        blob = canvas.transpose(2, 0, 1)[None]
        outs = dict(
            zip(
                [o.name for o in self.session.get_outputs()],
                self.session.run(None, {self.input_name: blob}),
                strict=True,
            )
        )
        boxes, scores, kps = [], [], []
        for s in self.STRIDES:
            cols, rows = in_w // s, in_h // s
            score = np.sqrt(np.clip(outs[f"cls_{s}"][0, :, 0], 0, 1) * np.clip(outs[f"obj_{s}"][0, :, 0], 0, 1))
            keep = np.nonzero(score >= min_score)[0]
            if keep.size == 0:
                continue
            col = (keep % cols).astype(np.float32)
            row = (keep // cols).astype(np.float32)
            bb = outs[f"bbox_{s}"][0, keep]
            cx, cy = (col + bb[:, 0]) * s, (row + bb[:, 1]) * s
            w, h = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - w / 2, cy - h / 2, w, h], axis=1))
            k = outs[f"kps_{s}"][0, keep].reshape(-1, 5, 2)
            kps.append(np.stack([(col[:, None] + k[:, :, 0]) * s, (row[:, None] + k[:, :, 1]) * s], axis=2))
            scores.append(score[keep])
            del rows
        if not boxes:
            return []
        all_boxes = np.concatenate(boxes) / scale
        all_scores = np.concatenate(scores)
        all_kps = np.concatenate(kps) / scale
        idx = cv2.dnn.NMSBoxes(all_boxes.tolist(), all_scores.tolist(), min_score, 0.3)
        out = [
            Detection(tuple(float(v) for v in all_boxes[i]), all_kps[i], float(all_scores[i]))  # type: ignore[arg-type]
            for i in np.asarray(idx).reshape(-1)
        ]
        return sorted(out, key=lambda d: d.area, reverse=True)


class LivenessModel:
    """One MiniFASNet: the scaled crop at 80x80, BGR 0..255; softmax class 1 is a live face."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        self.spec = spec
        self.session = session
        self.scale = spec.scale or 2.7
        self.input_name = session.get_inputs()[0].name

    def score(self, image: np.ndarray, det: Detection) -> float:
        crop = scaled_crop(image, det.box, self.scale, 80).astype(np.float32)
        logits = self.session.run(None, {self.input_name: crop.transpose(2, 0, 1)[None]})[0][0]
        e = np.exp(logits - logits.max())
        return float(e[1] / e.sum())


class Embedder(Protocol):
    """Any face embedder: aligned 112x112 BGR faces in, L2-normalised rows out."""

    spec: ModelSpec
    dim: int

    def embed(self, faces: list[np.ndarray]) -> np.ndarray: ...


class ArcFace112Embedder:
    """ArcFace-style embedders (MobileFaceNet, SFace): (BGR - 127.5) / 127.5 at 112x112."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        self.spec = spec
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.dim = int(session.get_outputs()[0].shape[-1])
        self.batched = not isinstance(session.get_inputs()[0].shape[0], int)

    def embed(self, faces: list[np.ndarray]) -> np.ndarray:
        batch = (np.stack(faces).astype(np.float32) - 127.5) / 127.5
        batch = batch.transpose(0, 3, 1, 2)
        if self.batched:
            out = self.session.run(None, {self.input_name: batch})[0]
        else:
            out = np.concatenate([self.session.run(None, {self.input_name: b[None]})[0] for b in batch])
        out = out.reshape(len(faces), -1).astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


EMBEDDER_KINDS = {"arcface112": ArcFace112Embedder}


@dataclass
class FaceModels:
    detector: YuNetDetector
    embedder: Embedder
    liveness: list[LivenessModel]

    def versions(self) -> dict[str, str]:
        return {
            "detector": self.detector.spec.version,
            "embedder": self.embedder.spec.version,
            "liveness": "+".join(m.spec.version for m in self.liveness),
        }


def load_models(manifest: Manifest, model_dir: Path, threads: int) -> FaceModels:
    """Verify every selected file's sha256, then open each session once. Raises ModelError."""
    paths = {spec.name: verify_file(spec, model_dir) for spec in manifest.selected()}
    det_spec = manifest.models[manifest.detector]
    if det_spec.kind != "yunet":
        raise ModelError(f"detector kind {det_spec.kind!r} is not supported (yunet is)")
    emb_spec = manifest.models[manifest.embedder]
    emb_cls = EMBEDDER_KINDS.get(emb_spec.kind)
    if emb_cls is None:
        raise ModelError(f"embedder kind {emb_spec.kind!r} is not supported ({', '.join(EMBEDDER_KINDS)})")
    detector = YuNetDetector(det_spec, make_session(paths[det_spec.name], threads))
    embedder = emb_cls(emb_spec, make_session(paths[emb_spec.name], threads))
    live = [LivenessModel(manifest.models[n], make_session(paths[n], threads)) for n in manifest.liveness]
    return FaceModels(detector=detector, embedder=embedder, liveness=live)
