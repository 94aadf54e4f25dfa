"""Long silences in the speech, and a calm body while they last.

Why: the gesture model was trained on continuous speech, so on silence (a pause between
takes, a file of digital silence) it keeps gesturing as if someone were talking. Real
speakers let their hands rest when they stop. So stretches of silence of at least
``MIN_SILENCE_S`` bring the generated joints to the relaxed standing pose, with
``RAMP_S`` ramps at both ends; ordinary pauses between phrases are shorter and untouched.
"""

from __future__ import annotations

import numpy as np

from egg_core.formats.audio import speech_floor
from egg_core.motion import Motion
from egg_core.rotations import axis_angle_to_quat, quat_slerp, quat_to_axis_angle
from egg_core.skeleton import relaxed_pose

#: Silence shorter than this is a speech pause and keeps its gestures.
MIN_SILENCE_S = 2.0
#: Length of the fade from gesturing to rest and back.
RAMP_S = 0.5


def frame_levels(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """Level in dBFS of each motion frame's stretch of audio (``-inf`` for digital silence)."""
    wave = np.asarray(wave, dtype=np.float64)
    edges = np.round(np.arange(n_frames + 1) / fps * sample_rate).astype(np.int64)
    edges = np.clip(edges, 0, len(wave))
    energy = np.concatenate([[0.0], np.cumsum(wave * wave)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    mean_sq = (energy[edges[1:]] - energy[edges[:-1]]) / counts
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(mean_sq)


def speech_activity(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float,
                    min_silence: float = MIN_SILENCE_S, ramp: float = RAMP_S) -> np.ndarray:
    """Per motion frame, 1 while someone speaks (or pauses briefly), 0 in long silence.

    Between the two the value ramps linearly over ``ramp`` seconds, inside the silence, so
    the last gesture before a pause is kept whole.
    """
    levels = frame_levels(wave, sample_rate, n_frames, fps)
    finite = levels[np.isfinite(levels)]
    loud = float(np.percentile(finite, 95)) if finite.size else -np.inf
    silent = ~(levels > speech_floor(loud))  # the aligner's rule for speech (egg_core.align.speech)
    activity = np.ones(n_frames)
    ramp_frames = max(1, int(round(ramp * fps)))
    min_frames = int(round(min_silence * fps))
    start = None
    for t in range(n_frames + 1):
        if t < n_frames and silent[t]:
            start = t if start is None else start
            continue
        if start is not None and t - start >= min_frames:
            length = t - start
            ramp_in = np.arange(length, dtype=np.float64)
            # distance to the nearest speaking neighbour, in frames (clip edges count as silence)
            to_left = ramp_in + 1 if start > 0 else np.full(length, np.inf)
            to_right = (length - ramp_in) if t < n_frames else np.full(length, np.inf)
            activity[start:t] = np.clip(1.0 - np.minimum(to_left, to_right) / ramp_frames, 0.0, 1.0)
        start = None
    return activity


def calm_in_silence(motion: Motion, wave: np.ndarray, sample_rate: int,
                    joints: list[int] | None = None,
                    rest_pose: np.ndarray | None = None) -> tuple[Motion, float]:
    """``motion`` with its ``joints`` eased to ``rest_pose`` (default: relaxed) in long silences.

    Returns the new motion and the fraction of frames that are (at least partly) calmed.
    """
    activity = speech_activity(wave, sample_rate, motion.num_frames, motion.fps)
    calmed = float(np.mean(activity < 1.0))
    if calmed == 0.0:
        return motion, 0.0
    idx = list(range(motion.poses.shape[1])) if joints is None else list(joints)
    rest = (relaxed_pose() if rest_pose is None else np.asarray(rest_pose, np.float64))[idx]
    q_gen = np.asarray(axis_angle_to_quat(motion.poses[:, idx].astype(np.float64)))
    q_rest = np.broadcast_to(np.asarray(axis_angle_to_quat(rest)), q_gen.shape)
    q = np.asarray(quat_slerp(q_rest, q_gen, activity[:, None]))
    out = motion.copy()
    out.poses[:, idx] = np.asarray(quat_to_axis_angle(q), dtype=np.float32)
    return out, calmed
