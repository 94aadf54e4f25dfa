"""``python -m training.realism``: how real does generated motion look, without a learned evaluator.

::

    python -m training.realism [--checkpoint CKPT | --generated GEN.npz] --reference REAL.npz \\
        --audio REAL.wav [--transcript REAL.TextGrid] --baseline OTHER_REAL.npz [--seconds N] \\
        [--seed 0] [--temperature T] [--top-k K] [--mean-vel MEAN_VEL.npy] --out results.json [--overwrite]

Motion is generated from ``--audio`` (words from ``--transcript``, which must be timed) through
:func:`egg_core.pipeline.speech_to_motion` at 30 fps (or read from ``--generated``) and scored
against the real motion of the *same* speech (``--reference``). The same figures are computed
for a **baseline**: real motion of *another* take of the same speaker (``--baseline``), held
against the same reference and the same speech. A generator is as good as real motion on a
figure when its value matches the baseline's, so the table prints every generated value next
to the baseline's and their ratio (generated / baseline).

Length: the three motions are cut to their common length (the shortest of generated,
reference and baseline; ``--seconds N`` cuts further to the first N s, and then only those N s
of speech are generated from). The audio is cut to the same span.

The body that is scored
-----------------------
Every figure is computed on FK joint positions of the project skeleton
(:data:`egg_core.skeleton.SMPLX`) at 30 fps **in the heading frame**: the root translation and
the pelvis's turn about the vertical axis are set aside, the pelvis's tilt is kept, so a figure
is about the body as a viewer sees it, not where it stands or which way it faces. Why the tilt
stays: the BEAT2 actor's pelvis is tilted about 17 degrees and the spine compensates; a
generator that does not reproduce that tilt shows a leaning upper body and lower wrists, which a
viewer notices. "Body joints" below are the 43 upper-body + hand joints (EMAGE's upper + hands
masks). Y is up.

Figures (``training.metrics`` for the shared definitions)
---------------------------------------------------------
* ``frechet`` -- Fréchet distance between the per-window features of a motion and of the
  reference. Windows: non-overlapping 1 s (30 frames) from frame 0, a last partial window
  dropped (60 windows in 60 s). Features (22 per window, :data:`FEATURE_NAMES`): for the head
  and both wrists, the window mean of the heading-frame position (x, y, z), the positional spread
  ``sqrt(sum of the per-axis variances)`` and the mean and std of the joint's speed; for each
  hand, the mean "openness" (distance of the five finger-end joints -- SMPL-X's ``*3`` joints,
  it has no fingertips -- from the wrist, averaged) and the mean speed of those joints relative
  to the wrist (finger articulation). Each dimension is standardised by the reference's
  window mean and std (so metres and m/s weigh alike and the distance is in units of the real
  take's own spread), covariances are Ledoit-Wolf shrunk
  (:func:`training.metrics.ledoit_wolf_covariance`: 60 windows for 22 dimensions make a noisy,
  nearly singular sample covariance; the analytic shrinkage needs no tuning and fades as
  windows are added) and the formula is
  :func:`training.metrics.frechet_distance_gaussian`. Reference vs itself is exactly 0.
* ``wrist_height_mean`` / ``wrist_height_std`` -- mean and std over frames of the heading-frame
  height above the pelvis (Y, metres) of both wrists pooled.
* ``median_wrist_speed`` -- median over frames of both wrists' speed (m/s; central differences).
* ``l1div`` -- :func:`training.metrics.l1_div` on the 43 body joints (heading frame), so not the
  number of ``training.evaluate`` (55 joints, world frame).
* ``bc`` -- :func:`training.metrics.beat_consistency` against the onsets of the reference
  speech (:func:`training.metrics.audio_onsets`), normaliser ``--mean-vel`` (default BEAT2's
  ``../shared/data/real/beat2/mean_vel_smplxflame_30.npy`` when it exists, else the reference's
  own mean joint speeds). The baseline is held against the
  reference speech, so its BC is the chance level of real motion; the reference's own BC is the
  matched level.
* ``jerk`` -- mean over frames and body joints of ``|d^3 p / dt^3|`` (third differences at
  30 fps, m/s^3). A 15 fps model upsampled to 30 fps by slerp is piecewise linear between its
  frames, which raises its 30 fps jerk; that is part of what the user receives.
* ``seam_ratio`` -- mean body-joint acceleration magnitude within +-2 frames (30 fps) of the
  generator's window joins divided by the mean elsewhere. Joins: both ends of each cross-fade,
  ``starts[k]`` and ``starts[k] + seed_tokens * downsample`` for ``k >= 1`` of
  :func:`egg_core.inference.plan_windows` at the model rate, times ``30 / model_fps``
  (:func:`join_frames`). Real motion is scored at the same frames, so it reads ~1.0.
  Acceleration is the second difference over ``h = round(30 / model_fps)`` frames (2 for a
  15 fps model): with ``h = 1`` the slerp-upsampled output alternates "kink" and "straight"
  frames, and a 5-frame span around an even frame holds 3 kinks against 1 in 2 elsewhere,
  which would read 1.2 with no seam at all. ``None`` when the clip has no join (shorter than
  one window).
* Face and feet (:func:`whole_body_figures`, on the motions themselves, not the heading-frame
  positions): ``jaw_loudness`` -- correlation at lag 0 of the jaw's opening (rotation about x)
  with the speech's RMS per frame (real takes: 0.30 and 0.15; None for a still jaw);
  ``expression_mse`` and ``jaw_mse`` against the reference, frame by frame; ``foot_skating``
  -- median horizontal speed of the ankle and foot joints (world frame, with the root
  translation) in the frames where they move less than 1 cm per frame (EMAGE's contact rule;
  real takes 1.2-2.1 cm/s).

:func:`realism_report` is the Python entry point for studies.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from egg_core.atomic import atomic_path, check_target
from egg_core.cli import run_cli
from egg_core.errors import EggError
from egg_core.formats.audio import load_audio
from egg_core.formats.transcripts import Word, read_transcript
from egg_core.inference import plan_windows
from egg_core.motion import Motion, resample_motion
from egg_core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from training.metrics import (
    UPPER_BODY_JOINTS,
    audio_onsets,
    beat_consistency,
    face_errors,
    foot_skating,
    frechet_distance_gaussian,
    jaw_loudness_correlation,
    joint_positions,
    joint_speeds,
    l1_div,
    ledoit_wolf_covariance,
    mean_joint_speed,
    read_mean_vel,
)

log = logging.getLogger("training.realism")

FPS = 30.0
WINDOW_S = 1.0
SEAM_HALF_WIDTH = 2  # frames at 30 fps either side of a join
STD_FLOOR = 1e-3  # standardisation floor (m, m/s) for a feature that does not vary in the reference

HAND_JOINTS: tuple[int, ...] = tuple(range(25, 55))
BODY_JOINTS: tuple[int, ...] = tuple(UPPER_BODY_JOINTS) + HAND_JOINTS  # the 43 "gesture" joints
HEAD, LEFT_WRIST, RIGHT_WRIST = 15, 20, 21
WRISTS: tuple[int, int] = (LEFT_WRIST, RIGHT_WRIST)
FEATURE_JOINTS: tuple[tuple[str, int], ...] = (("head", HEAD), ("left_wrist", LEFT_WRIST),
                                              ("right_wrist", RIGHT_WRIST))
#: last joint of each finger (index3, middle3, pinky3, ring3, thumb3), per hand
FINGER_ENDS: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("left_hand", LEFT_WRIST, (27, 30, 33, 36, 39)),
    ("right_hand", RIGHT_WRIST, (42, 45, 48, 51, 54)),
)
FEATURE_NAMES: tuple[str, ...] = tuple(
    [f"{name}_{q}" for name, _ in FEATURE_JOINTS
     for q in ("x_mean", "y_mean", "z_mean", "spread", "speed_mean", "speed_std")]
    + [f"{name}_{q}" for name, _, _ in FINGER_ENDS for q in ("openness", "articulation_speed")]
)

DEFAULT_MEAN_VEL = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "beat2"
                    / "mean_vel_smplxflame_30.npy")

#: (key, label) of every body figure, in table order (face and feet: WHOLE_BODY_FIGURES)
FIGURES: tuple[tuple[str, str], ...] = (
    ("frechet", "Fréchet distance to the reference, 1 s window features (22-d)"),
    ("wrist_height_mean", "wrist height above the pelvis, mean (m)"),
    ("wrist_height_std", "wrist height, std (m)"),
    ("median_wrist_speed", "median wrist speed (m/s)"),
    ("l1div", "L1div (43 body joints)"),
    ("bc", "BC against the reference speech"),
    ("jerk", "jerk, mean magnitude of d³p/dt³ (m/s³)"),
    ("seam_ratio", "seam ratio (acceleration ±2 frames of joins / elsewhere)"),
)
#: Face and feet: None where they do not apply (a still jaw, no frame in contact), and 0 for a
#: motion that matches its reference, so they have no ratio there (:func:`whole_body_figures`).
WHOLE_BODY_FIGURES: tuple[tuple[str, str], ...] = (
    ("jaw_loudness", "jaw opening vs loudness, correlation at lag 0"),
    ("expression_mse", "expression coefficients, MSE against the reference"),
    ("jaw_mse", "jaw rotation, MSE against the reference (rad²)"),
    ("foot_skating", "foot speed in contact, median (cm/s, world frame)"),
)


# --------------------------------------------------------------------------- positions


def body_positions(motion: Motion) -> np.ndarray:
    """FK joint positions ``(T, 55, 3)`` at 30 fps in the heading frame (pelvis at the origin).

    The root translation and the pelvis's turn about the vertical axis are dropped; its tilt is
    kept, because a viewer sees a body that leans. The motion is resampled to 30 fps first if it
    has another rate.
    """
    if abs(motion.fps - FPS) > 1e-9:
        motion = resample_motion(motion, FPS)
    poses = np.array(motion.poses, dtype=np.float64)
    root = axis_angle_to_matrix(poses[:, 0])
    forward = root[:, :, 2]  # the pelvis's +Z (forward) axis in the world
    yaw = np.arctan2(forward[:, 0], forward[:, 2])
    c, s_ = np.cos(-yaw), np.sin(-yaw)
    unturn = np.zeros((len(yaw), 3, 3))
    unturn[:, 0, 0], unturn[:, 0, 2], unturn[:, 1, 1], unturn[:, 2, 0], unturn[:, 2, 2] = c, s_, 1.0, -s_, c
    poses[:, 0] = matrix_to_axis_angle(unturn @ root)
    pos = joint_positions(poses)
    return pos - pos[:, :1]


# --------------------------------------------------------------------------- window features


def window_features(positions: np.ndarray, fps: float = FPS, window_s: float = WINDOW_S) -> np.ndarray:
    """``(N, 22)`` features of the non-overlapping ``window_s`` windows (:data:`FEATURE_NAMES`).

    ``positions`` are heading-frame positions ``(T, 55, 3)`` (:func:`body_positions`); speeds are
    computed on the whole clip (central differences), then cut into windows.
    """
    pos = np.asarray(positions, dtype=np.float64)
    w = int(round(window_s * fps))
    n = len(pos) // w
    if n < 1:
        return np.zeros((0, len(FEATURE_NAMES)))
    speed = joint_speeds(pos, fps)  # (T, 55)
    cols = []
    for _, j in FEATURE_JOINTS:
        p = pos[: n * w, j].reshape(n, w, 3)
        s = speed[: n * w, j].reshape(n, w)
        cols += [p.mean(axis=1), np.sqrt(p.var(axis=1).sum(axis=-1))[:, None],
                 s.mean(axis=1)[:, None], s.std(axis=1)[:, None]]
    for _, wrist, ends in FINGER_ENDS:
        rel = pos[:, list(ends)] - pos[:, wrist : wrist + 1]  # (T, 5, 3)
        openness = np.linalg.norm(rel, axis=-1).mean(axis=-1)
        artic = joint_speeds(rel, fps).mean(axis=-1)
        cols += [openness[: n * w].reshape(n, w).mean(axis=1)[:, None],
                 artic[: n * w].reshape(n, w).mean(axis=1)[:, None]]
    return np.concatenate(cols, axis=1)


def feature_frechet(features: np.ndarray, reference_features: np.ndarray) -> dict[str, float]:
    """Fréchet distance of two window-feature sets, standardised by the reference's statistics.

    Returns ``frechet`` (the distance), ``mean_term`` (its ``||mu_a - mu_b||^2`` part) and the
    Ledoit-Wolf ``shrinkage`` of each side.
    """
    a = np.asarray(features, dtype=np.float64)
    b = np.asarray(reference_features, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise EggError(f"feature sets must be (N, D) with one D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise EggError("the Fréchet distance needs at least two windows per motion: give at least "
                       f"{2 * WINDOW_S:g} s of motion")
    mu, sd = b.mean(axis=0), np.maximum(b.std(axis=0), STD_FLOOR)
    a, b = (a - mu) / sd, (b - mu) / sd
    cov_a, shrink_a = ledoit_wolf_covariance(a)
    cov_b, shrink_b = ledoit_wolf_covariance(b)
    diff = a.mean(axis=0) - b.mean(axis=0)
    return {"frechet": frechet_distance_gaussian(a.mean(axis=0), cov_a, b.mean(axis=0), cov_b),
            "mean_term": float(diff @ diff), "shrinkage": shrink_a, "reference_shrinkage": shrink_b}


# --------------------------------------------------------------------------- single-motion figures


def wrist_height_stats(positions: np.ndarray) -> tuple[float, float]:
    """(mean, std) over frames of both wrists' Y (pooled), heading frame, metres."""
    y = np.asarray(positions, dtype=np.float64)[:, list(WRISTS), 1]
    return float(y.mean()), float(y.std())


def median_wrist_speed(positions: np.ndarray, fps: float = FPS) -> float:
    """Median over frames of both wrists' speed (pooled), m/s."""
    return float(np.median(joint_speeds(np.asarray(positions)[:, list(WRISTS)], fps)))


def mean_jerk(positions: np.ndarray, fps: float = FPS, joints: Sequence[int] = BODY_JOINTS) -> float:
    """Mean over frames and ``joints`` of the third-difference jerk magnitude, m/s^3."""
    p = np.asarray(positions, dtype=np.float64)[:, list(joints)]
    if len(p) < 4:
        raise EggError("jerk needs at least 4 frames of motion")
    d3 = p[3:] - 3.0 * p[2:-1] + 3.0 * p[1:-2] - p[:-3]
    return float(np.linalg.norm(d3, axis=-1).mean() * fps**3)


def acceleration_magnitude(positions: np.ndarray, fps: float = FPS, step: int = 1,
                           joints: Sequence[int] = BODY_JOINTS) -> np.ndarray:
    """Per-frame mean over ``joints`` of ``|p[t+h] - 2 p[t] + p[t-h]| / (h / fps)^2`` (m/s^2).

    ``(T,)``; NaN for the first and last ``h = step`` frames, where it is undefined.
    """
    h = int(step)
    if h < 1:
        raise EggError(f"the acceleration step must be at least 1 frame, got {step}")
    p = np.asarray(positions, dtype=np.float64)[:, list(joints)]
    out = np.full(len(p), np.nan)
    if len(p) > 2 * h:
        d2 = p[2 * h :] - 2.0 * p[h:-h] + p[: -2 * h]
        out[h:-h] = np.linalg.norm(d2, axis=-1).mean(axis=-1) * (fps / h) ** 2
    return out


def seam_ratio(positions: np.ndarray, seam_frames: Sequence[int], fps: float = FPS, step: int = 1,
               half_width: int = SEAM_HALF_WIDTH) -> float | None:
    """Mean acceleration within ``half_width`` frames of ``seam_frames`` / mean elsewhere.

    ``None`` when there is no seam inside the clip or nothing (or no motion) elsewhere.
    """
    acc = acceleration_magnitude(positions, fps, step)
    valid = np.isfinite(acc)
    near = np.zeros(len(acc), dtype=bool)
    for j in seam_frames:
        j = int(j)
        if 0 <= j < len(acc):
            near[max(0, j - half_width) : j + half_width + 1] = True
    far = valid & ~near
    near &= valid
    if not near.any() or not far.any():
        return None
    elsewhere = float(acc[far].mean())
    if elsewhere <= 0.0:
        return None
    return float(acc[near].mean()) / elsewhere


def join_frames(n_frames: int, window_frames: int, seed_tokens: int, downsample: int,
                model_fps: float, fps: float = FPS, model_frames: int | None = None) -> list[int]:
    """Frames (at ``fps``) of the chained-window joins of a generation of ``n_frames`` frames.

    Windows are planned as :class:`egg_core.inference.GestureGenerator` plans them
    (:func:`~egg_core.inference.plan_windows` over ``model_frames`` frames at ``model_fps``,
    default ``round(n_frames / fps * model_fps)``, overlap ``seed_tokens * downsample``); each
    join contributes both ends of its cross-fade, ``starts[k]`` and ``starts[k] + overlap``
    (``k >= 1``), converted to ``round(f * fps / model_fps)``. Sorted, unique, ``< n_frames``.
    """
    n_model = int(round(n_frames / fps * model_fps)) if model_frames is None else int(model_frames)
    if n_model < 1:
        return []
    overlap = int(seed_tokens) * int(downsample)
    starts = plan_windows(n_model, int(window_frames), overlap)
    model_joins = set()
    for s in starts[1:]:
        model_joins.add(s)
        if overlap > 0:
            model_joins.add(s + overlap)
    frames = {int(round(f * fps / model_fps)) for f in model_joins}
    return sorted(f for f in frames if f < n_frames)


def seam_step(model_fps: float, fps: float = FPS) -> int:
    """Acceleration step for :func:`seam_ratio`: one model frame, ``max(1, round(fps / model_fps))``."""
    return max(1, int(round(fps / model_fps)))


def motion_figures(positions: np.ndarray, onsets: np.ndarray, mean_vel: np.ndarray,
                   seam_frames: Sequence[int], step: int) -> dict[str, float | None]:
    """Every figure that needs one motion only (all but ``frechet``)."""
    h_mean, h_std = wrist_height_stats(positions)
    return {
        "wrist_height_mean": h_mean,
        "wrist_height_std": h_std,
        "median_wrist_speed": median_wrist_speed(positions),
        "l1div": l1_div([positions[:, list(BODY_JOINTS)]]),
        "bc": beat_consistency([positions], [onsets], mean_vel),
        "jerk": mean_jerk(positions),
        "seam_ratio": seam_ratio(positions, seam_frames, FPS, step),
    }


def whole_body_figures(motion: Motion, reference: Motion, n: int, wave: np.ndarray,
                       sample_rate: int) -> dict[str, float | None]:
    """Face and feet (30 fps motions, first ``n`` frames): jaw-loudness correlation, face
    errors against the reference, and foot skating in the world frame."""
    poses, trans, expr = motion.poses[:n], motion.trans[:n], motion.expressions[:n]
    out: dict[str, float | None] = {
        "jaw_loudness": jaw_loudness_correlation(poses, wave, sample_rate, FPS),
        "foot_skating": foot_skating(poses, trans, FPS)}
    out.update(face_errors(poses, expr, reference.poses[:n], reference.expressions[:n]))
    return out


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base == 0 or not math.isfinite(base):
        return None
    return float(value) / float(base)


def realism_report(generated: Motion, reference: Motion, baseline: Motion, wave: np.ndarray,
                   sample_rate: int, seam_frames: Sequence[int], *, step: int = 2,
                   mean_vel: np.ndarray | None = None) -> dict[str, Any]:
    """Every figure for ``generated`` and for ``baseline`` against ``reference`` and its speech.

    ``wave`` (mono, ``sample_rate``) is the reference speech, starting with the motions;
    ``seam_frames`` are 30 fps frames of the generator's window joins (:func:`join_frames`);
    ``step`` the acceleration step of the seam ratio (:func:`seam_step`; 2 for the project's
    15 fps models); ``mean_vel`` the ``(55,)`` BC normaliser (None: the reference's own mean
    joint speeds). The motions are resampled to 30 fps if needed and all cut to their common
    length, the audio to the same span. Returns ``{"generated": {...}, "baseline": {...},
    "reference": {...}, "ratio_to_baseline": {...}, ...}`` with the keys of :data:`FIGURES`.
    """
    motions = {name: (m if abs(m.fps - FPS) < 1e-9 else resample_motion(m, FPS)) for name, m in
               (("generated", generated), ("reference", reference), ("baseline", baseline))}
    pos = {name: body_positions(m) for name, m in motions.items()}
    n = min(len(p) for p in pos.values())
    if n < int(2 * WINDOW_S * FPS):
        raise EggError(f"the motions share only {n} frames ({n / FPS:.2f} s); at least "
                       f"{2 * WINDOW_S:g} s are needed")
    pos = {k: p[:n] for k, p in pos.items()}
    wave = np.asarray(wave, dtype=np.float32)
    wave = wave[: int(round(n / FPS * sample_rate))]
    onsets = audio_onsets(wave, sample_rate)
    mv_source = "given"
    if mean_vel is None:
        mean_vel = mean_joint_speed([pos["reference"]])
        mv_source = "the reference's own mean joint speeds (heading frame)"
    mean_vel = np.asarray(mean_vel, dtype=np.float64).reshape(-1)
    seams = sorted({int(f) for f in seam_frames if 0 <= int(f) < n})

    feats = {k: window_features(p) for k, p in pos.items()}
    out: dict[str, Any] = {}
    fd_details: dict[str, Any] = {}
    for name in ("generated", "baseline", "reference"):
        figures: dict[str, float | None] = {}
        fd = feature_frechet(feats[name], feats["reference"])
        figures["frechet"] = fd["frechet"]
        fd_details[name] = fd
        figures.update(motion_figures(pos[name], onsets, mean_vel, seams, step))
        figures.update(whole_body_figures(motions[name], motions["reference"], n, wave, sample_rate))
        out[name] = figures
    every = FIGURES + WHOLE_BODY_FIGURES
    out["ratio_to_baseline"] = {k: _ratio(out["generated"][k], out["baseline"][k]) for k, _ in every}
    # where a ratio means nothing (a wrist height near 0 m), the plain difference does
    out["generated_minus_reference"] = {
        k: (None if out["generated"][k] is None or out["reference"][k] is None
            else float(out["generated"][k]) - float(out["reference"][k])) for k, _ in every}
    out.update({
        "frames": n, "seconds": n / FPS, "fps": FPS, "windows": int(len(feats["reference"])),
        "window_seconds": WINDOW_S, "feature_names": list(FEATURE_NAMES),
        "frechet_details": fd_details, "seam_frames": seams, "seam_step": int(step),
        "seam_half_width": SEAM_HALF_WIDTH, "audio_onsets": int(len(onsets)),
        "mean_vel": mv_source, "frame": "heading (root translation and turn about the vertical removed)",
    })
    return out


# --------------------------------------------------------------------------- table


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a markdown table: reference, generated, baseline and generated / baseline."""
    inputs = report.get("inputs", {})
    head = (f"Realism of {inputs.get('generated', 'the generated motion')} against "
            f"{inputs.get('reference', 'the reference')} ({report['frames']} frames = "
            f"{report['seconds']:.1f} s at 30 fps, {report['windows']} windows of "
            f"{report['window_seconds']:g} s); baseline: {inputs.get('baseline', 'another real take')}")
    lines = [head, "", "| figure | reference | generated | baseline | generated / baseline "
             "| generated - reference |", "| --- | --- | --- | --- | --- | --- |"]
    diff = report.get("generated_minus_reference", {})
    for key, label in FIGURES + WHOLE_BODY_FIGURES:
        ref = "-" if key == "frechet" else _fmt(report["reference"][key])
        delta = "-" if key == "frechet" else _fmt(diff.get(key))
        lines.append(f"| {label} | {ref} | {_fmt(report['generated'][key])} | "
                     f"{_fmt(report['baseline'][key])} | {_fmt(report['ratio_to_baseline'][key])} | {delta} |")
    lines += ["", f"BC normaliser: {report['mean_vel']}; {report['audio_onsets']} audio onsets; "
              f"{len(report['seam_frames'])} join frames, acceleration step {report['seam_step']} frames."]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def _read_motion(path: str | Path, what: str) -> Motion:
    from training.data import read_clip_motion  # heavy module (datasets); only the CLI needs it

    p = Path(path)
    if not p.is_file():
        raise EggError(f"the {what} motion {p} does not exist; give a BEAT2 .npz (or BVH) file")
    motion = read_clip_motion(p)
    return motion if abs(motion.fps - FPS) < 1e-9 else resample_motion(motion, FPS)


def _words(transcript: str | Path | None, seconds: float | None) -> list[Word] | None:
    if transcript is None:
        return None
    tr = read_transcript(transcript)
    if not tr.timed:
        raise EggError(f"{transcript} has no word timings; give a timed transcript (TextGrid, JSON, "
                       "SRT/VTT) or time it first with `python -m egg_core.words`")
    words = list(tr.words)
    if seconds is not None:
        words = [Word(w.text, w.start, min(w.end, seconds)) for w in words if w.start < seconds]
    return words


def resolve_mean_vel(path: str | Path | None) -> tuple[np.ndarray | None, str]:
    """The BC normaliser: ``path``, else BEAT2's file under ../shared when present, else None."""
    if path is None and DEFAULT_MEAN_VEL.is_file():
        path = DEFAULT_MEAN_VEL
    if path is None:
        return None, "the reference's own mean joint speeds (heading frame)"
    return read_mean_vel(path), str(path)


def run_realism(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI's work; returns the report written as JSON."""
    out = check_target(args.out, args.overwrite)
    if args.seconds is not None and not args.seconds >= 2 * WINDOW_S:
        raise EggError(f"--seconds must be at least {2 * WINDOW_S:g} (two feature windows), "
                       f"got {args.seconds}")
    if args.generated is not None and args.top_k is not None:
        log.warning("--top-k is ignored with --generated (nothing is generated)")
    for path, what in ((args.audio, "audio"), (args.checkpoint, "checkpoint")):
        if path is not None and not Path(path).is_file():
            raise EggError(f"the {what} file {path} does not exist")
    reference = _read_motion(args.reference, "reference")
    baseline = _read_motion(args.baseline, "baseline")
    mean_vel, mv_source = resolve_mean_vel(args.mean_vel)
    words = _words(args.transcript, args.seconds)

    from egg_core.checkpoint import default_checkpoint_path, load_checkpoint
    from egg_core.inference import GestureGenerator
    from egg_core.pipeline import SAMPLE_RATE, SpeechRequest, speech_to_motion

    ckpt = Path(args.checkpoint) if args.checkpoint is not None else default_checkpoint_path()
    if not ckpt.is_file():
        raise EggError(f"no model at {ckpt}; pass --checkpoint PATH (its window layout gives the "
                       "join frames, also with --generated)")
    wave = load_audio(args.audio, SAMPLE_RATE)
    if args.seconds is not None:
        wave = wave[: int(round(args.seconds * SAMPLE_RATE))]
    generation: dict[str, Any] = {}
    if args.generated is not None:
        model, _ = load_checkpoint(ckpt, "cpu")
        cfg = model.config
        generated = _read_motion(args.generated, "generated")
        if args.seconds is not None:
            generated = Motion(poses=generated.poses[: int(round(args.seconds * FPS))],
                               trans=generated.trans[: int(round(args.seconds * FPS))], fps=FPS)
        model_frames = int(round(generated.num_frames / FPS * cfg.fps))
        generation["source"] = str(args.generated)
    else:
        gen = GestureGenerator.from_checkpoint(ckpt, args.device)
        cfg = gen.config
        request = dict(words=words, fps=FPS, seed=args.seed, temperature=args.temperature,
                       top_k=args.top_k)
        with tempfile.TemporaryDirectory(prefix="realism_") as tmp:
            audio = Path(args.audio)
            if args.seconds is not None:
                import soundfile as sf

                audio = Path(tmp) / "speech.wav"
                sf.write(str(audio), wave, SAMPLE_RATE, subtype="FLOAT")
            log.info("generating %.1f s of motion with %s", len(wave) / SAMPLE_RATE, ckpt)
            result = speech_to_motion(gen, SpeechRequest(audio=audio, **request))
        for w in result.warnings:
            log.warning("%s", w)
        generated, wave = result.motion, result.wave
        model_frames = int(round(len(wave) / SAMPLE_RATE * cfg.fps))
        generation = {"checkpoint": str(ckpt), "seed": args.seed, "temperature": args.temperature,
                      "top_k": args.top_k, "words": result.words.note}
    seams = join_frames(generated.num_frames, cfg.window_frames, cfg.seed_tokens, cfg.downsample,
                        cfg.fps, FPS, model_frames=model_frames)
    report = realism_report(generated, reference, baseline, wave, SAMPLE_RATE, seams,
                            step=seam_step(cfg.fps), mean_vel=mean_vel)
    report["mean_vel"] = mv_source if mean_vel is not None else report["mean_vel"]
    report["inputs"] = {"generated": generation.get("source", f"{ckpt.name} (generated)"),
                        "reference": str(args.reference), "baseline": str(args.baseline),
                        "audio": str(args.audio), "transcript": None if args.transcript is None
                        else str(args.transcript), "seconds_limit": args.seconds}
    report["generation"] = generation
    report["model_windows"] = {"window_frames": cfg.window_frames, "seed_tokens": cfg.seed_tokens,
                               "downsample": cfg.downsample, "model_fps": cfg.fps}
    print(markdown_table(report))
    with atomic_path(out, suffix=".json", overwrite=args.overwrite) as tmp:
        tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")
    log.info("wrote %s", out)
    return report


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.realism", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None,
                    help="model .safetensors (default: the bundled model); with --generated only its "
                         "window layout is read, for the join frames")
    ap.add_argument("--generated", default=None, help="score this motion file instead of generating")
    ap.add_argument("--reference", required=True, help="real motion of the speech (.npz / .bvh)")
    ap.add_argument("--audio", required=True, help="the reference's speech")
    ap.add_argument("--transcript", default=None, help="timed words of the speech (e.g. .TextGrid)")
    ap.add_argument("--baseline", required=True, help="real motion of another take, same speaker")
    ap.add_argument("--seconds", type=float, default=None, help="use only the first N seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--mean-vel", default=None,
                    help="(55,) .npy BC normaliser (default: BEAT2's mean_vel_smplxflame_30.npy "
                         "under ../shared/data/real/beat2 when it exists)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--out", required=True, help="results .json")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def work() -> None:
        run_realism(args)

    return run_cli(work, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
