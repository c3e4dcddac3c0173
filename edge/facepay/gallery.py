"""The decrypted store gallery as one contiguous float32 matrix, and the decision rules.

1:N is a single matrix-vector product over all templates (100k x 128 floats is 51 MB, one
pass over memory), then the top two by argpartition. The product is numpy's einsum, which runs
in the calling thread: OpenBLAS's gemv starts its own thread pool, whose spinning workers fight
the ONNX sessions for the 2 cores (measured: 10k templates 0.1 ms alone, 13 ms under load with
BLAS, 0.2 ms with einsum). Each row keeps its template's expiry (epoch seconds) beside it, and an
expired row never matches, so retention holds between the hourly sweeps. A match needs the top-1 similarity over the
threshold *and* a margin over the top-2, so a look-alike pair is refused rather than confused.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from edge.platform.security import Sealer


@dataclass(frozen=True)
class MatchResult:
    decision: str  # "match" | "no_match"
    reason: str  # "", "below_threshold", "ambiguous", "empty_gallery", "not_enrolled"
    member_id: str | None
    similarity: float | None
    margin: float | None
    second_member: str | None = None


def decide_one(similarity: float, member_id: str, threshold: float) -> MatchResult:
    """1:1 against a claimed member."""
    if similarity >= threshold:
        return MatchResult("match", "", member_id, similarity, None)
    return MatchResult("no_match", "below_threshold", None, similarity, None)


def decide_many(ranked: list[tuple[str, float]], threshold: float, margin: float) -> MatchResult:
    """1:N from the best two (member, similarity) pairs, best first."""
    if not ranked:
        return MatchResult("no_match", "empty_gallery", None, None, None)
    best_id, best = ranked[0]
    second_id, second = ranked[1] if len(ranked) > 1 else (None, -1.0)
    gap = best - second
    if best < threshold:
        return MatchResult("no_match", "below_threshold", None, best, gap, second_id)
    if gap < margin:
        return MatchResult("no_match", "ambiguous", None, best, gap, second_id)
    return MatchResult("match", "", best_id, best, gap, second_id)


class Gallery:
    """Member id -> row of a preallocated matrix; rows are swapped out on removal (O(1))."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self._m = np.zeros((max(capacity, 1), dim), dtype=np.float32)
        self._exp = np.full(max(capacity, 1), math.inf, dtype=np.float64)  # expiry, epoch seconds
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._row

    def put(self, member_id: str, embedding: np.ndarray, expires_at: float = math.inf) -> None:
        """Add or replace a member's template; `expires_at` (epoch seconds) ends its matching."""
        vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.dim:
            raise ValueError(f"template has {vec.shape[0]} dims, gallery has {self.dim}")
        with self._lock:
            row = self._row.get(member_id)
            if row is None:
                if len(self._ids) == len(self._m):
                    grown = np.zeros((len(self._m) * 2, self.dim), dtype=np.float32)
                    grown[: len(self._ids)] = self._m[: len(self._ids)]
                    self._m = grown
                    self._exp = np.concatenate([self._exp, np.full(len(self._exp), math.inf)])
                row = len(self._ids)
                self._ids.append(member_id)
                self._row[member_id] = row
            self._m[row] = vec
            self._exp[row] = expires_at

    def put_many(self, ids: list[str], matrix: np.ndarray, expires_at: float = math.inf) -> None:
        for member_id, vec in zip(ids, matrix, strict=True):
            self.put(member_id, vec, expires_at)

    def remove(self, member_id: str) -> bool:
        with self._lock:
            row = self._row.pop(member_id, None)
            if row is None:
                return False
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._m[row] = self._m[last]
                self._exp[row] = self._exp[last]
                self._ids[row] = moved
                self._row[moved] = row
            self._m[last] = 0.0
            self._exp[last] = math.inf
            self._ids.pop()
            return True

    def clear(self) -> None:
        with self._lock:
            self._m[:] = 0.0
            self._exp[:] = math.inf
            self._ids.clear()
            self._row.clear()

    def similarity(self, member_id: str, probe: np.ndarray, now: float | None = None) -> float | None:
        """Cosine against one member's template; None if not enrolled or past its expiry."""
        now = time.time() if now is None else now
        with self._lock:
            row = self._row.get(member_id)
            if row is None or self._exp[row] <= now:
                return None
            return float(self._m[row] @ probe)

    def top2(
        self, probe: np.ndarray, among: set[str] | None = None, now: float | None = None
    ) -> list[tuple[str, float]]:
        """The best two unexpired (member, cosine) over the gallery, or over `among` when narrowed."""
        probe = np.asarray(probe, dtype=np.float32).reshape(-1)
        now = time.time() if now is None else now
        with self._lock:
            if among is not None:
                rows = [self._row[m] for m in among if m in self._row]
                rows = [r for r in rows if self._exp[r] > now]
                if not rows:
                    return []
                scores = np.einsum("ij,j->i", self._m[rows], probe)
                ids = [self._ids[r] for r in rows]
            else:
                n = len(self._ids)
                if n == 0:
                    return []
                scores = np.einsum("ij,j->i", self._m[:n], probe)
                expired = self._exp[:n] <= now
                if expired.any():
                    scores = np.where(expired, -np.inf, scores).astype(np.float32)
                ids = self._ids
            k = min(2, len(scores))
            top = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
            top = top[np.argsort(-scores[top])]
            return [(ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]


def template_aad(template_id: str, member_id: str) -> bytes:
    return f"face-template:v1:{template_id}:{member_id}".encode()


def seal_template(sealer: Sealer, template_id: str, member_id: str, embedding: np.ndarray) -> tuple[str, bytes]:
    """(key id, nonce+ciphertext) of the float32 embedding, bound to its row and member."""
    raw = np.ascontiguousarray(embedding, dtype="<f4").tobytes()
    return sealer.seal(raw, template_aad(template_id, member_id))


def open_template(sealer: Sealer, key_id: str, blob: bytes, template_id: str, member_id: str, dim: int) -> np.ndarray:
    """The embedding; raises cryptography's InvalidTag if the blob, row or member was tampered with."""
    raw = sealer.open(key_id, blob, template_aad(template_id, member_id))
    vec = np.frombuffer(raw, dtype="<f4")
    if vec.shape[0] != dim:
        raise ValueError(f"template {template_id} decrypts to {vec.shape[0]} values, expected {dim}")
    return vec.astype(np.float32)
