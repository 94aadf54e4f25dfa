"""Where the speech is: a streamed loudness envelope, speech regions and cut points.

Why: word finding needs three things the recognisers do not give cheaply - whether a
file holds any speech at all (silent input gets a clear message instead of
hallucinated words), where to spread words that could not be aligned, and where to
cut a long recording into pieces so memory stays flat (cut in the quietest moment
near each chunk boundary, never in the middle of a word).

Everything here is computed from a 10 ms RMS envelope read chunk by chunk, so a
10-minute file costs 60,000 floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egg_core.formats.audio import (
    DEFAULT_SAMPLE_RATE,
    SILENCE_DBFS,
    iter_audio_chunks,
    speech_floor,
)

HOP = 0.01  # seconds per envelope frame


@dataclass
class Envelope:
    """Loudness in dBFS per 10 ms frame, and the file length in seconds."""

    db: np.ndarray
    duration: float

    @property
    def peak_db(self) -> float:
        return float(self.db.max()) if self.db.size else float("-inf")

    def is_silent(self, threshold_db: float = SILENCE_DBFS) -> bool:
        """No 10 ms frame reaches ``threshold_db`` (smoothed over 50 ms)."""
        if self.db.size == 0:
            return True
        smooth = np.convolve(10 ** (self.db / 10), np.ones(5) / 5, mode="same")
        return bool(10 * np.log10(smooth.max() + 1e-30) < threshold_db)


def envelope(path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE, chunk_seconds: float = 30.0) -> Envelope:
    """10 ms RMS envelope of a file, read in ``chunk_seconds`` pieces (flat memory)."""
    hop = int(round(HOP * sample_rate))
    parts = []
    carry = np.zeros(0, np.float32)
    total = 0
    for _, piece in iter_audio_chunks(path, chunk_seconds=chunk_seconds, sample_rate=sample_rate):
        total += len(piece)
        buf = np.concatenate([carry, piece])
        n = len(buf) // hop
        frames = buf[: n * hop].reshape(n, hop).astype(np.float64)
        parts.append(10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12))
        carry = buf[n * hop:]
    if carry.size:
        parts.append(np.array([10 * np.log10(np.mean(carry.astype(np.float64) ** 2) + 1e-12)]))
    db = np.concatenate(parts) if parts else np.zeros(0)
    return Envelope(db, total / sample_rate)


def speech_regions(env: Envelope, min_silence: float = 0.25, min_speech: float = 0.08) -> list[tuple[float, float]]:
    """(start, end) seconds of speech: frames within 35 dB of the loud frames, gaps < 0.25 s bridged."""
    if env.db.size == 0 or env.is_silent():
        return []
    loud = float(np.percentile(env.db, 95))
    active = env.db > speech_floor(loud)
    regions: list[list[float]] = []
    idx = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    for a, b in zip(idx[::2], idx[1::2], strict=True):
        s, e = a * HOP, b * HOP
        if regions and s - regions[-1][1] < min_silence:
            regions[-1][1] = e
        else:
            regions.append([s, e])
    return [(s, min(e, env.duration)) for s, e in regions if e - s >= min_speech]


def cut_points(env: Envelope, chunk_seconds: float = 30.0, search_seconds: float = 5.0) -> list[float]:
    """Times (s) to cut a long file so no piece exceeds ``chunk_seconds``; each cut sits in
    the quietest 100 ms within ``search_seconds`` before the nominal boundary."""
    cuts = [0.0]
    n = env.db.size
    win = 10  # 100 ms
    while env.duration - cuts[-1] > chunk_seconds:
        hi = int((cuts[-1] + chunk_seconds) / HOP)
        lo = max(int((cuts[-1] + chunk_seconds - search_seconds) / HOP), int(cuts[-1] / HOP) + win)
        seg = env.db[lo:min(hi, n)]
        if seg.size < win:
            cuts.append(cuts[-1] + chunk_seconds)
            continue
        smooth = np.convolve(seg, np.ones(win) / win, mode="valid")
        k = int(np.argmin(smooth)) + win // 2
        cuts.append(round((lo + k) * HOP, 3))
    cuts.append(env.duration)
    return cuts
