"""Confirmation and debounce: when a code seen by a camera becomes one ScanEvent.

- A code held in view counts once; taking it away (absent for `absence_s` over at least
  `absence_frames` decoded frames) and showing it again counts again.
- A code is confirmed when it was read in `min_frames` decoded frames within `window_s`, or by
  `min_decoders` different decoders in one frame. A kiosk needs two, so a single misread (one
  frame, one decoder) never reaches a cart.
- Frames the motion gate skipped are "nothing changed": codes visible in the last decoded frame
  stay visible (`unchanged`), so a code held still is not counted again when motion resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.scanning.codes import Code


@dataclass(frozen=True)
class ConfirmRule:
    min_frames: int = 2
    min_decoders: int = 2  # 0 disables confirmation by two decoders in one frame
    window_s: float = 1.5
    absence_s: float = 0.8
    absence_frames: int = 2
    symbologies: tuple[str, ...] | None = None  # None: every configured symbology


@dataclass
class _Track:
    code: Code
    hits: list[float] = field(default_factory=list)
    last_seen: float = 0.0
    missed_frames: int = 0
    emitted: bool = False


class Confirmer:
    """Per-camera state machine; call `observe` for every decoded frame, in time order."""

    def __init__(self, rule: ConfirmRule) -> None:
        self.rule = rule
        self._tracks: dict[str, _Track] = {}
        self._visible: set[str] = set()

    def observe(self, codes: list[Code], now: float) -> list[Code]:
        """The codes that become confirmed with this frame (each at most once per appearance)."""
        rule = self.rule
        seen: dict[str, Code] = {}
        for code in codes:
            if rule.symbologies is None or code.symbology in rule.symbologies:
                seen[code.key] = code
        out: list[Code] = []
        for key, code in seen.items():
            track = self._tracks.get(key)
            if track is not None and self._gone(track, now):
                track = None
            if track is None:
                track = self._tracks[key] = _Track(code=code)
            track.last_seen = now
            track.missed_frames = 0
            track.hits = [t for t in track.hits if now - t <= rule.window_s] + [now]
            if track.emitted:
                continue
            by_frames = len(track.hits) >= rule.min_frames
            by_decoders = rule.min_decoders > 0 and len(code.decoders) >= rule.min_decoders
            if by_frames or by_decoders:
                track.emitted = True
                out.append(code)
        for key, track in list(self._tracks.items()):
            if key in seen:
                continue
            track.missed_frames += 1
            if self._gone(track, now) or (not track.emitted and now - track.last_seen > rule.window_s):
                del self._tracks[key]
        self._visible = set(seen)
        return out

    def unchanged(self, now: float) -> None:
        """The motion gate saw no change: what was visible in the last decoded frame still is."""
        for key in self._visible:
            track = self._tracks.get(key)
            if track is not None:
                track.last_seen = now

    def _gone(self, track: _Track, now: float) -> bool:
        return now - track.last_seen >= self.rule.absence_s and track.missed_frames >= self.rule.absence_frames

    def reset(self) -> None:
        self._tracks.clear()
        self._visible.clear()
