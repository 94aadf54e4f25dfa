"""Evaluation metrics for co-speech gesture generation.

Definitions follow the public BEAT2 / EMAGE evaluator as described in
``../shared/reference/smplx_beat2_metrics.md`` (the project ships no code from it):

* :func:`beat_consistency` -- BC ("beat alignment"): audio onsets against per-joint
  motion beats (local minima of normalised joint speed), sigma 0.3 s, mean over the 13
  upper-body joints, clips weighted by length.
* :func:`l1_div` -- the reference L1 diversity: mean absolute deviation of FK joint
  positions (translation zeroed) from each clip's temporal mean, per frame.
* :func:`pairwise_l1_div` -- the EGGesture paper's eq. 14 (pairwise L1 distance within
  groups of 40 sequences), a *different* number, named apart on purpose.
* :func:`frechet_distance` -- FGD on latent features (1e-6 on both covariance diagonals,
  real part of the matrix square root).
* :func:`ledoit_wolf_covariance` / :func:`frechet_distance_gaussian` -- shrunk covariance and
  the Fréchet formula on given statistics, for small samples (``training.realism``).
* :func:`codebook_usage` -- fraction of codes used and perplexity exp(H).
* :func:`per_class_recall` -- token recall restricted to frames carrying a class label.

The BC normaliser is the per-joint mean speed of the *training* motion. BEAT2 ships it as
``weights/mean_vel_smplxflame_30.npy``; for users' own data ``python -m training.train``
computes it from the training clips (:func:`training.data.mean_velocity`, the same
definition as :func:`mean_joint_speed`) and saves ``mean_vel.npy`` in the run folder,
which ``python -m training.evaluate`` picks up beside the checkpoint (``--mean-vel``
overrides it), so BC scores stay comparable within one project. librosa (used only for audio onsets) is imported lazily: its first
call JIT-compiles with numba and takes seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import linalg

from egg_core.errors import EggError
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import SMPLX, forward_kinematics

#: The 13 EMAGE upper-body joints over which BC is averaged.
UPPER_BODY_JOINTS: tuple[int, ...] = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)

BC_SIGMA_S = 0.3
BC_ORDER = 7
BC_THRESHOLD = 0.1
BC_TRIM_FRAMES = 60  # at 30 fps = 2 s, matching the 2 s dropped from the audio
BC_AUDIO_RATE = 16000
BC_HOP = 512
EVAL_FPS = 30.0


# --------------------------------------------------------------------------- kinematics


def joint_positions(poses_aa: np.ndarray, trans: np.ndarray | None = None) -> np.ndarray:
    """FK joint positions ``(T, 55, 3)`` of SMPL-X axis-angle poses ``(T, 55, 3)`` or ``(T, 165)``.

    Uses the project's own SMPL-X rest skeleton (``egg_core.skeleton.SMPLX``), so absolute
    numbers differ slightly from evaluators built on the licence-gated SMPL-X model.
    ``trans=None`` places the root at the origin (what L1div asks for).
    """

    poses = np.asarray(poses_aa, dtype=np.float64)
    if poses.ndim == 2:
        poses = poses.reshape(poses.shape[0], -1, 3)
    if poses.ndim != 3 or poses.shape[-1] != 3:
        raise EggError(f"expected poses of shape (T, J, 3) or (T, J*3), got {np.shape(poses_aa)}")
    rot = axis_angle_to_matrix(poses)
    root = None if trans is None else np.asarray(trans, dtype=np.float64)
    positions, _ = forward_kinematics(SMPLX, rot, root)
    return np.asarray(positions)


def joint_speeds(positions: np.ndarray, fps: float) -> np.ndarray:
    """Per-joint speed ``(T, J)`` in m/s: central differences inside, one-sided at both ends."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.shape[0] < 2:
        return np.zeros(pos.shape[:2])
    vel = np.empty_like(pos)
    vel[1:-1] = (pos[2:] - pos[:-2]) * (fps / 2.0)
    vel[0] = (pos[1] - pos[0]) * fps
    vel[-1] = (pos[-1] - pos[-2]) * fps
    return np.linalg.norm(vel, axis=-1)


def mean_joint_speed(positions_list: Sequence[np.ndarray], fps: float = EVAL_FPS) -> np.ndarray:
    """Mean speed of each joint over all frames of all clips: the BC normaliser (J,).

    Compute this once from your *training* motion (at 30 fps) and save it with ``np.save``;
    pass it to :func:`beat_consistency` / ``training.evaluate --mean-vel``.
    """
    speeds = [joint_speeds(p, fps) for p in positions_list if len(p) >= 2]
    if not speeds:
        raise EggError("cannot compute mean joint speeds: no clip has two or more frames")
    return np.concatenate(speeds, axis=0).mean(axis=0)


# --------------------------------------------------------------------------- beats


def audio_onsets(
    wave: np.ndarray,
    sample_rate: int = BC_AUDIO_RATE,
    trim_s: float = 2.0,
    hop_length: int = BC_HOP,
) -> np.ndarray:
    """Audio beat times in seconds (absolute, from the start of ``wave``).

    librosa onset detection at 16 kHz with hop 512 on the audio with the first and last
    ``trim_s`` seconds cut off (as the public evaluator does), times shifted back by
    ``trim_s`` so that they share an origin with motion frame times.
    """
    import librosa  # lazy: slow first import / numba JIT

    y = np.asarray(wave, dtype=np.float32)
    if y.ndim != 1:
        y = y.mean(axis=-1) if y.shape[-1] <= 8 else y.reshape(-1)
    if sample_rate != BC_AUDIO_RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=BC_AUDIO_RATE)
    start = int(round(trim_s * BC_AUDIO_RATE))
    end = len(y) - start
    if end - start < hop_length * 2:
        return np.zeros(0)
    onsets = librosa.onset.onset_detect(
        y=y[start:end], sr=BC_AUDIO_RATE, hop_length=hop_length, units="time"
    )
    return np.asarray(onsets, dtype=np.float64) + trim_s


def _local_minima(x: np.ndarray, order: int) -> np.ndarray:
    """Indices i where x[i] < x[k] strictly for every k in [i-order, i+order] \\ {i}.

    The window is clipped at the ends, so the very first and last samples never count
    (the same convention as ``scipy.signal.argrelextrema(..., np.less, mode="clip")``).
    """
    n = len(x)
    keep = np.ones(n, dtype=bool)
    for shift in range(1, order + 1):
        left = x[np.clip(np.arange(n) - shift, 0, n - 1)]
        right = x[np.clip(np.arange(n) + shift, 0, n - 1)]
        keep &= (x < left) & (x < right)
    return np.nonzero(keep)[0]


def motion_beats(
    positions: np.ndarray,
    mean_vel: np.ndarray,
    fps: float = EVAL_FPS,
    order: int = BC_ORDER,
    threshold: float = BC_THRESHOLD,
    trim_frames: int = BC_TRIM_FRAMES,
) -> list[np.ndarray]:
    """Per-joint motion beat times in seconds (absolute), one array per joint.

    Speed of every joint is divided by that joint's ``mean_vel`` and restricted to frames
    ``trim_frames .. T - trim_frames``; beats are the strict local minima (±``order``
    frames, inside that range) whose normalised speed is above ``threshold``.
    """
    speed = joint_speeds(positions, fps)
    mv = np.asarray(mean_vel, dtype=np.float64).reshape(-1)
    if mv.shape[0] != speed.shape[1]:
        raise EggError(
            f"the mean-velocity normaliser has {mv.shape[0]} joints but the motion has "
            f"{speed.shape[1]}; use a normaliser computed on the same skeleton"
        )
    norm = speed / np.maximum(mv, 1e-12)
    seg = norm[trim_frames : max(trim_frames, len(norm) - trim_frames)]
    beats = []
    for j in range(seg.shape[1]):
        idx = _local_minima(seg[:, j], order)
        idx = idx[seg[idx, j] > threshold]
        beats.append((idx + trim_frames) / fps)
    return beats


def alignment_score(audio_beats: np.ndarray, joint_beats: np.ndarray, sigma: float = BC_SIGMA_S) -> float:
    """Mean over audio beats a of exp(-min_m (a - m)^2 / (2 sigma^2)); 0 if either set is empty."""
    a = np.asarray(audio_beats, dtype=np.float64)
    m = np.asarray(joint_beats, dtype=np.float64)
    if a.size == 0 or m.size == 0:
        return 0.0
    d2 = np.min((a[:, None] - m[None, :]) ** 2, axis=1)
    return float(np.mean(np.exp(-d2 / (2.0 * sigma**2))))


def clip_beat_consistency(
    positions: np.ndarray,
    audio_beats: np.ndarray,
    mean_vel: np.ndarray,
    fps: float = EVAL_FPS,
    joints: Sequence[int] = UPPER_BODY_JOINTS,
) -> float:
    """BC of one clip: mean over ``joints`` of :func:`alignment_score` (joint without beats = 0)."""
    beats = motion_beats(positions, mean_vel, fps)
    return float(np.mean([alignment_score(audio_beats, beats[j]) for j in joints]))


def beat_consistency(
    positions_list: Sequence[np.ndarray],
    audio_beats_list: Sequence[np.ndarray],
    mean_vel: np.ndarray,
    fps: float = EVAL_FPS,
) -> float:
    """Dataset BC: per-clip scores averaged with weights = clip length in frames."""
    if len(positions_list) != len(audio_beats_list):
        raise EggError("beat_consistency needs one audio-beat array per motion clip")
    if not positions_list:
        raise EggError("beat_consistency needs at least one clip")
    scores = np.array(
        [clip_beat_consistency(p, a, mean_vel, fps) for p, a in zip(positions_list, audio_beats_list, strict=True)]
    )
    weights = np.array([len(p) for p in positions_list], dtype=np.float64)
    return float(np.sum(scores * weights) / np.sum(weights))


# --------------------------------------------------------------------------- diversity


def l1_div(positions_list: Sequence[np.ndarray]) -> float:
    """Reference L1div: sum over clips of sum_{t,d} |X[t,d] - mean_t X[:,d]|, / total frames.

    ``positions_list`` holds FK joint positions ``(T, J, 3)`` (or ``(T, J*3)``) computed
    with translation zeroed.
    """
    total = 0.0
    frames = 0
    for pos in positions_list:
        x = np.asarray(pos, dtype=np.float64).reshape(len(pos), -1)
        total += float(np.abs(x - x.mean(axis=0, keepdims=True)).sum())
        frames += x.shape[0]
    if frames == 0:
        raise EggError("l1_div needs at least one frame")
    return total / frames


def pairwise_l1_div(sequences: Sequence[np.ndarray], group_size: int = 40) -> float:
    """The EGGesture paper's L1Div (eq. 14), named apart from the reference :func:`l1_div`.

    Sequences (equal length, e.g. joint rotations ``(T, D)``) are taken in consecutive
    groups of ``group_size`` (the last incomplete group is dropped unless it is the only
    one). Within a group of N, the value is the mean over ordered pairs i != j of the
    per-frame L1 distance ``mean_t ||r_i[t] - r_j[t]||_1``, i.e.
    ``1 / (N (N-1) T) * sum_{i != j} sum_t ||r_i[t] - r_j[t]||_1``; the paper's printed
    normaliser ``1 / (2 N (N-1))`` is ambiguous about T and about double counting, so we
    report the plain mean pairwise distance. Groups are averaged.
    """
    seqs = [np.asarray(s, dtype=np.float64).reshape(len(s), -1) for s in sequences]
    if len(seqs) < 2:
        raise EggError("pairwise L1Div needs at least two sequences")
    if len({s.shape for s in seqs}) != 1:
        raise EggError("pairwise L1Div needs sequences of equal shape (cut them to one window length)")
    groups = [seqs[i : i + group_size] for i in range(0, len(seqs), group_size)]
    groups = [g for g in groups if len(g) == group_size] or [seqs[:group_size]]
    values = []
    for g in groups:
        arr = np.stack(g)  # (N, T, D)
        n = arr.shape[0]
        dist = np.abs(arr[:, None] - arr[None, :]).sum(axis=-1).mean(axis=-1)  # (N, N)
        values.append(dist.sum() / (n * (n - 1)))
    return float(np.mean(values))


# --------------------------------------------------------------------------- FGD


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b)) with ``eps`` on both diagonals.

    ``features_*`` are ``(N, D)`` latent vectors pooled over a whole test set. The
    imaginary part of the matrix square root (numerical noise) is dropped.
    """

    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise EggError(f"FGD needs two (N, D) feature sets of equal D, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise EggError("FGD needs at least two feature vectors on each side (evaluate longer clips)")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    eye = np.eye(a.shape[1]) * eps
    cov_a = np.atleast_2d(np.cov(a, rowvar=False)) + eye
    cov_b = np.atleast_2d(np.cov(b, rowvar=False)) + eye
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if isinstance(covmean, tuple):  # older scipy returns (sqrtm, errest) with disp=False
        covmean = covmean[0]
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


# --------------------------------------------------------------------------- codebook / classes


def codebook_usage(indices: np.ndarray, codebook_size: int) -> tuple[float, float]:
    """(fraction of the ``codebook_size`` codes hit at least once, perplexity exp(H)).

    H is the natural-log entropy of the index histogram. Perplexity under-counts usage
    on small samples; report both.
    """
    idx = np.asarray(indices).reshape(-1).astype(np.int64)
    if idx.size == 0:
        raise EggError("codebook_usage needs at least one index")
    if idx.min() < 0 or idx.max() >= codebook_size:
        raise EggError(f"code indices must lie in [0, {codebook_size}), got {idx.min()}..{idx.max()}")
    counts = np.bincount(idx, minlength=codebook_size).astype(np.float64)
    p = counts / counts.sum()
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum())
    return float((counts > 0).sum() / codebook_size), float(np.exp(entropy))


def per_class_recall(
    predicted: np.ndarray, target: np.ndarray, classes: np.ndarray, ignore: int = -1
) -> dict[int, float]:
    """Recall per gesture class: over positions labelled class c, the fraction predicted right.

    ``predicted`` / ``target`` are code indices (the classifier's prediction and the
    VQ-VAE's encoding of the real motion) and ``classes`` the class id of each position
    (``ignore`` for positions outside any labelled gesture). Classes with no positions
    are absent from the result.
    """
    p = np.asarray(predicted).reshape(-1)
    t = np.asarray(target).reshape(-1)
    c = np.asarray(classes).reshape(-1)
    if not (p.shape == t.shape == c.shape):
        raise EggError("per_class_recall needs predicted, target and classes of equal length")
    out: dict[int, float] = {}
    for cls in np.unique(c):
        if cls == ignore:
            continue
        mask = c == cls
        out[int(cls)] = float(np.mean(p[mask] == t[mask]))
    return out


# --------------------------------------------------------------------------- small-sample Fréchet


def ledoit_wolf_covariance(features: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrunk covariance ``(D, D)`` of ``(N, D)`` features and the shrinkage used.

    ``(1 - s) S + s mu I`` with ``S`` the maximum-likelihood covariance (divided by N),
    ``mu = tr(S) / D`` and ``s`` the analytic optimum of Ledoit & Wolf (2004), "A
    well-conditioned estimator for large-dimensional covariance matrices" (the same
    estimator as ``sklearn.covariance.ledoit_wolf``). Why: with as many windows as seconds
    of motion (60 for a one-minute clip) and tens of feature dimensions the sample
    covariance is noisy and nearly singular; shrinkage keeps it well conditioned, and ``s``
    goes to 0 as N grows, so nothing is tuned by hand.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise EggError(f"a shrunk covariance needs (N >= 2, D) features, got shape {x.shape}")
    n, d = x.shape
    xc = x - x.mean(axis=0, keepdims=True)
    s = xc.T @ xc / n
    mu = float(np.trace(s)) / d
    target = mu * np.eye(d)
    delta2 = float(np.sum((s - target) ** 2))  # ||S - mu I||_F^2
    if delta2 <= 0.0:
        return s, 0.0
    x2 = xc**2
    beta2 = float(np.sum((x2.T @ x2) / n - s**2)) / n  # mean ||x x^T - S||_F^2 / n
    shrinkage = min(max(beta2 / delta2, 0.0), 1.0)
    return (1.0 - shrinkage) * s + shrinkage * target, shrinkage


def frechet_distance_gaussian(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray,
                              cov_b: np.ndarray, eps: float = 0.0) -> float:
    """The Fréchet distance of two Gaussians given by their means and covariances.

    ``||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 sqrt(C_a C_b))`` (``eps`` added to both
    diagonals, the imaginary part of the matrix square root dropped): the formula of
    :func:`frechet_distance`, for callers that estimate the statistics themselves (e.g.
    with :func:`ledoit_wolf_covariance`). Clipped at 0 (rounding can make it -1e-12).
    """
    mu_a = np.asarray(mu_a, dtype=np.float64).reshape(-1)
    mu_b = np.asarray(mu_b, dtype=np.float64).reshape(-1)
    d = mu_a.shape[0]
    ca = np.atleast_2d(np.asarray(cov_a, dtype=np.float64)) + eps * np.eye(d)
    cb = np.atleast_2d(np.asarray(cov_b, dtype=np.float64)) + eps * np.eye(d)
    if mu_b.shape[0] != d or ca.shape != (d, d) or cb.shape != (d, d):
        raise EggError(f"Fréchet distance needs means of one length D and (D, D) covariances, got "
                       f"{mu_a.shape}, {mu_b.shape}, {ca.shape}, {cb.shape}")
    covmean = linalg.sqrtm(ca @ cb)
    if isinstance(covmean, tuple):  # older scipy returns (sqrtm, errest) with disp=False
        covmean = covmean[0]
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(ca) + np.trace(cb) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def read_mean_vel(path: str | Path) -> np.ndarray:
    """The BC normaliser ``(55,)`` (mean joint speeds) from a ``.npy``, or a clear :class:`EggError`."""
    try:
        mv = np.load(path).astype(np.float64).reshape(-1)
    except (OSError, ValueError) as exc:
        raise EggError(f"cannot read the mean-velocity file {path}: {exc}") from exc
    if mv.shape != (55,):
        raise EggError(f"the mean-velocity file {path} holds {mv.size} values; it must hold one per "
                       "SMPL-X joint (55)")
    return mv


# --------------------------------------------------------------------------- face and feet

#: SMPL-X jaw joint; its rotation about x opens the mouth.
JAW_JOINT = 22
#: Ankle and foot joints (EMAGE's contact joints 7, 8, 10, 11).
CONTACT_JOINTS = (7, 8, 10, 11)
#: EMAGE's contact rule: a foot joint moving less than 1 cm per frame at 30 fps is in contact.
CONTACT_STEP_M = 0.01


def frame_loudness(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float = EVAL_FPS) -> np.ndarray:
    """RMS amplitude of the audio in each motion frame's span ``(n_frames,)``."""
    wave = np.asarray(wave, dtype=np.float64)
    hop = sample_rate / fps
    out = np.zeros(n_frames)
    for i in range(n_frames):
        seg = wave[int(i * hop): int((i + 1) * hop)]
        out[i] = float(np.sqrt(np.mean(seg ** 2))) if seg.size else 0.0
    return out


def jaw_loudness_correlation(poses: np.ndarray, wave: np.ndarray, sample_rate: int,
                             fps: float = EVAL_FPS) -> float | None:
    """Pearson correlation at lag 0 of the jaw opening (rotation about x) and the RMS loudness.

    Real BEAT2 speech gives about 0.30 (take 1_1) and 0.15 (take 2_2); a still jaw gives None.
    """
    poses = np.asarray(poses, dtype=np.float64).reshape(len(poses), -1, 3)
    jaw = poses[:, JAW_JOINT, 0]
    loud = frame_loudness(wave, sample_rate, len(jaw), fps)
    if jaw.std() < 1e-6 or loud.std() < 1e-12:
        return None
    return float(np.corrcoef(jaw, loud)[0, 1])


def foot_skating(poses: np.ndarray, trans: np.ndarray, fps: float = EVAL_FPS) -> float | None:
    """Median horizontal speed (cm/s) of the foot joints while in contact (EMAGE's rule).

    World space, with the root translation: a foot that should stand still but slides shows up
    here. Real BEAT2 takes: 1.2-2.1 cm/s. None when no frame is in contact.
    """
    pos = joint_positions(poses, trans)[:, list(CONTACT_JOINTS)]
    if len(pos) < 2:
        return None
    step = np.diff(pos, axis=0)
    contact = np.linalg.norm(step, axis=-1) < CONTACT_STEP_M * EVAL_FPS / fps
    if not contact.any():
        return None
    horizontal = np.linalg.norm(step[..., [0, 2]], axis=-1) * fps * 100.0
    return float(np.median(horizontal[contact]))


def face_errors(poses: np.ndarray, expressions: np.ndarray, ref_poses: np.ndarray,
                ref_expressions: np.ndarray) -> dict[str, float]:
    """Mean squared error against the reference of the 100 expression coefficients and of the
    jaw rotation (axis-angle, rad^2), frame by frame over the common length."""
    n = min(len(poses), len(ref_poses))
    p = np.asarray(poses, np.float64).reshape(len(poses), -1, 3)[:n, JAW_JOINT]
    r = np.asarray(ref_poses, np.float64).reshape(len(ref_poses), -1, 3)[:n, JAW_JOINT]
    e, re_ = np.asarray(expressions, np.float64)[:n], np.asarray(ref_expressions, np.float64)[:n]
    return {"expression_mse": float(np.mean((e - re_) ** 2)), "jaw_mse": float(np.mean((p - r) ** 2))}
