"""Frame -> detection -> quality gates -> liveness -> alignment -> embedding, all in memory.

Frames and crops are numpy arrays that live only for the call: nothing here writes, logs or
returns pixels. What leaves is scores, reasons and an L2-normalised embedding.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge.facepay.align import align_face, pose, sharpness
from edge.facepay.engine import Detection, FaceModels
from edge.facepay.settings import FacepaySettings


class Frames(Protocol):
    """A list of frames, or uploads that decode one frame per step (`images.LazyFrames`)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...


@dataclass
class FrameResult:
    """What one frame gave: the face (or why not), its gates, liveness and embedding."""

    detection: Detection | None = None
    faces: int = 0
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    liveness: float | None = None
    embedding: np.ndarray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.embedding is not None and not self.reasons


@dataclass
class Probe:
    """Several frames of one person, summarised for matching (scores only, no pixels)."""

    embedding: np.ndarray | None
    liveness: float | None
    detection_score: float | None
    frames: int
    good_frames: int
    reasons: list[str]
    notes: list[str]
    timings_ms: dict[str, float]

    @property
    def usable(self) -> bool:
        return self.embedding is not None


class FacePipeline:
    def __init__(self, models: FaceModels, settings: FacepaySettings) -> None:
        self.models = models
        self.cfg = settings

    def analyse(self, frame: np.ndarray, *, liveness: bool = True, detect_width: int | None = None) -> FrameResult:
        """One BGR frame through every stage; stops at the first gate that fails."""
        res = FrameResult()
        t = time.perf_counter()
        dets = self.models.detector.detect(frame, detect_width or self.cfg.detect_width, self.cfg.detect_score)
        res.timings_ms["detect"] = (time.perf_counter() - t) * 1000
        res.faces = len(dets)
        if not dets:
            res.reasons.append("no_face")
            return res
        if len(dets) > 1:
            res.notes.append(f"multiple_faces:{len(dets)}:largest_used")
        det = dets[0]
        res.detection = det
        if det.box[2] < self.cfg.min_face_px:
            res.reasons.append("face_too_small")
        yaw, roll = pose(det.landmarks)
        if yaw > self.cfg.max_yaw or roll > self.cfg.max_roll_deg:
            res.reasons.append("pose")
        if res.reasons:
            return res
        if liveness:
            t = time.perf_counter()
            res.liveness = float(np.mean([m.score(frame, det) for m in self.models.liveness]))
            res.timings_ms["liveness"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        face = align_face(frame, det.landmarks)
        res.timings_ms["align"] = (time.perf_counter() - t) * 1000
        if sharpness(face) < self.cfg.min_sharpness:
            res.reasons.append("blurred")
            return res
        t = time.perf_counter()
        res.embedding = self.models.embedder.embed([face])[0]
        res.timings_ms["embed"] = (time.perf_counter() - t) * 1000
        del face
        return res

    def analyse_each(
        self, frames: Iterable[np.ndarray], *, liveness: bool = True, detect_width: int | None = None
    ) -> list[FrameResult]:
        """Analyse frames in turn, dropping each before the next is fetched (one decoded upload alive)."""
        out: list[FrameResult] = []
        it = iter(frames)
        while (frame := next(it, None)) is not None:
            out.append(self.analyse(frame, liveness=liveness, detect_width=detect_width))
            del frame
        return out

    def probe(self, frames: Frames, *, liveness: bool = True, detect_width: int | None = None) -> Probe:
        """Average liveness and embedding over the frames that pass every gate."""
        results = self.analyse_each(frames, liveness=liveness, detect_width=detect_width)
        good = [r for r in results if r.usable]
        timings: dict[str, float] = {}
        for r in results:
            for k, v in r.timings_ms.items():
                timings[k] = timings.get(k, 0.0) + v
        reasons = sorted({x for r in results for x in r.reasons})
        notes = sorted({x for r in results for x in r.notes})
        if not good:
            return Probe(None, None, None, len(frames), 0, reasons or ["no_face"], notes, timings)
        vecs = np.stack([r.embedding for r in good if r.embedding is not None])
        if float((vecs @ vecs.T).min()) < self.cfg.match_threshold:
            # the frames show different people (someone stepped in): never average them
            return Probe(None, None, None, len(frames), len(good), ["inconsistent_frames"], notes, timings)
        mean = vecs.mean(axis=0).astype(np.float32)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        live = float(np.mean([r.liveness for r in good])) if liveness else None
        det_score = float(np.mean([r.detection.score for r in good if r.detection]))
        return Probe(mean, live, det_score, len(frames), len(good), reasons, notes, timings)
