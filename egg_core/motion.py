"""The one in-memory motion type and frame-rate conversion.

:class:`Motion` holds an SMPL-X performance the way BEAT2 stores it: local axis-angle
rotations of the 55 SMPL-X joints, the pelvis translation (metres, Y-up), face
expression coefficients and body shape. Every reader produces one and every writer
takes one, so the shapes are checked once, here, with messages a user can act on.

:func:`resample_motion` converts between frame rates by *time*, not by dropping or
repeating frames, so any pair of rates works (30 -> 15 -> 30, 24, 25, 60, 29.97 ...).
Rotations are interpolated on the sphere (quaternion slerp between the two
neighbouring source frames); translation and expressions linearly.

Timing convention (shared with the audio features, ``n_frames = round(seconds * fps)``):
frame ``k`` starts at ``k / fps`` and lasts ``1 / fps``, so a motion of ``T`` frames
covers ``duration = T / fps`` seconds. Resampling keeps that duration to the nearest
frame: the output has ``max(1, round(duration * new_fps))`` frames, which makes
30 -> 15 -> 30 give back the same frame count for even ``T``. Output frame ``k`` is
sampled at time ``k / new_fps``; a time past the last source frame holds that frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from egg_core.errors import EggError, MotionFormatError
from egg_core.rotations import axis_angle_to_quat, quat_slerp, quat_to_axis_angle
from egg_core.skeleton import SMPLX

NUM_JOINTS = 55
NUM_BETAS = 300
NUM_EXPRESSIONS = 100

__all__ = [
    "NUM_BETAS",
    "NUM_EXPRESSIONS",
    "NUM_JOINTS",
    "Motion",
    "resample_count",
    "resample_motion",
]


def _as_float32(name: str, value: object) -> np.ndarray:
    """Convert ``value`` to a float32 array, refusing non-numeric data and NaN/inf."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # e.g. a torch tensor on a GPU, ragged lists
        raise MotionFormatError(
            f"Motion field '{name}' could not be read as an array ({exc}); "
            "pass a numpy array (move tensors to the CPU first)."
        ) from exc
    if arr.dtype.kind not in "fiu":
        raise MotionFormatError(
            f"Motion field '{name}' has dtype {arr.dtype}; it must hold real numbers "
            "(float32 is stored)."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise MotionFormatError(
            f"Motion field '{name}' contains NaN or infinite values; "
            "the file or the generator that produced it is broken."
        )
    return arr


@dataclass
class Motion:
    """An SMPL-X motion: 55 local joint rotations per frame plus root translation.

    Fields (all arrays are converted to float32 and checked on construction):

    - ``poses``: ``(T, 55, 3)`` axis-angle, local to the parent joint, SMPL-X joint
      order. ``(T, 165)`` (the BEAT2 npz layout) is accepted and reshaped.
    - ``trans``: ``(T, 3)`` root translation in metres, Y-up, +Z forward.
    - ``fps``: frames per second (any positive number).
    - ``betas``: ``(300,)`` body shape; zeros when not given.
    - ``expressions``: ``(T, 100)`` FLAME expression coefficients; zeros when not given.
    - ``gender``, ``model``: metadata the SMPL-X tools read ("neutral", "smplx2020").
    """

    poses: np.ndarray
    trans: np.ndarray
    fps: float
    betas: np.ndarray | None = field(default=None)
    expressions: np.ndarray | None = field(default=None)
    gender: str = "neutral"
    model: str = "smplx2020"

    def __post_init__(self) -> None:
        poses = _as_float32("poses", self.poses)
        if poses.ndim == 2 and poses.shape[1] == NUM_JOINTS * 3:
            poses = poses.reshape(poses.shape[0], NUM_JOINTS, 3)
        if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
            raise MotionFormatError(
                f"Motion 'poses' has shape {poses.shape}; expected (T, 55, 3) or (T, 165) "
                "axis-angle rotations of the 55 SMPL-X joints."
            )
        num_frames = poses.shape[0]
        if num_frames < 1:
            raise MotionFormatError("Motion 'poses' has no frames; a motion needs at least one frame.")
        self.poses = poses

        trans = _as_float32("trans", self.trans)
        if trans.shape != (num_frames, 3):
            raise MotionFormatError(
                f"Motion 'trans' has shape {trans.shape}; expected ({num_frames}, 3) "
                "(one root translation per pose frame)."
            )
        self.trans = trans

        try:
            fps = float(self.fps)
        except (TypeError, ValueError) as exc:
            raise MotionFormatError(f"Motion 'fps' must be a number, got {self.fps!r}.") from exc
        if not math.isfinite(fps) or fps <= 0:
            raise MotionFormatError(f"Motion 'fps' must be a positive number, got {self.fps!r}.")
        self.fps = fps

        if self.betas is None:
            self.betas = np.zeros(NUM_BETAS, dtype=np.float32)
        betas = _as_float32("betas", self.betas)
        if betas.shape != (NUM_BETAS,):
            raise MotionFormatError(
                f"Motion 'betas' has shape {betas.shape}; expected ({NUM_BETAS},) "
                "(pad shorter shape vectors with zeros)."
            )
        self.betas = betas

        if self.expressions is None:
            self.expressions = np.zeros((num_frames, NUM_EXPRESSIONS), dtype=np.float32)
        expressions = _as_float32("expressions", self.expressions)
        if expressions.shape != (num_frames, NUM_EXPRESSIONS):
            raise MotionFormatError(
                f"Motion 'expressions' has shape {expressions.shape}; expected "
                f"({num_frames}, {NUM_EXPRESSIONS})."
            )
        self.expressions = expressions

        for name in ("gender", "model"):
            value = getattr(self, name)
            if isinstance(value, np.ndarray) and value.ndim == 0:
                value = value.item()
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if not isinstance(value, str):
                raise MotionFormatError(f"Motion '{name}' must be a string, got {value!r}.")
            setattr(self, name, value)

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.poses.shape[0])

    @property
    def duration(self) -> float:
        """Seconds covered by the motion, ``T / fps`` (each frame lasts ``1 / fps``)."""
        return self.num_frames / self.fps

    def copy(self) -> Motion:
        """A deep copy: the arrays are not shared with ``self``."""
        return Motion(
            poses=self.poses.copy(),
            trans=self.trans.copy(),
            fps=self.fps,
            betas=self.betas.copy(),
            expressions=self.expressions.copy(),
            gender=self.gender,
            model=self.model,
        )


def resample_count(num_frames: int, source_fps: float, target_fps: float) -> int:
    """Frame count after resampling: ``max(1, round(num_frames / source_fps * target_fps))``.

    Rounding (rather than flooring) absorbs the float error of non-integer ratios such
    as 30 -> 29.97 and keeps the duration to within half a frame.
    """
    return max(1, int(math.floor(num_frames * target_fps / source_fps + 0.5)))


def _source_positions(
    num_out: int, source_fps: float, target_fps: float, num_in: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source position (in frames), left neighbour index and blend weight per output frame."""
    pos = np.arange(num_out, dtype=np.float64) * (source_fps / target_fps)
    # Snap positions within 1e-9 frames of an integer so exact ratios copy frames exactly.
    nearest = np.rint(pos)
    pos = np.where(np.abs(pos - nearest) < 1e-9, nearest, pos)
    pos = np.clip(pos, 0.0, num_in - 1)
    left = np.minimum(np.floor(pos).astype(np.int64), max(num_in - 2, 0))
    weight = pos - left
    if num_in == 1:
        weight = np.zeros_like(weight)
    return pos, left, weight


def _resample_poses(poses: np.ndarray, pos: np.ndarray, left: np.ndarray, right: np.ndarray,
                    weight: np.ndarray) -> np.ndarray:
    """Axis-angle poses at fractional source positions ``pos``: ``(num_out, J, 3)`` float32.

    Output frames that coincide with a source frame copy its axis-angle exactly (no
    quaternion round trip). Only the others are interpolated, in one batched slerp: the
    source frames they touch are converted to quaternions once (each is shared by up to
    two neighbours, and by many outputs when upsampling), then gathered by index. So
    30 -> 15 does no trigonometry at all and 15 -> 30 slerps half of the frames.
    """
    exact = pos == np.floor(pos)
    out = np.empty((len(pos),) + poses.shape[1:], np.float32)
    if np.any(exact):
        out[exact] = poses[pos[exact].astype(np.int64)]
    between = np.flatnonzero(~exact)
    if between.size:
        # Source frames used by the interpolated outputs, converted once.
        i0, i1 = left[between], right[between]
        used = np.zeros(len(poses), bool)
        used[i0] = True
        used[i1] = True
        slot = np.cumsum(used) - 1  # row of each used source frame in `quats`
        quats = axis_angle_to_quat(poses[used].astype(np.float64))  # (U, J, 4)
        i0, i1 = slot[i0], slot[i1]
        blended = quat_slerp(quats[i0], quats[i1], weight[between, None])
        out[between] = quat_to_axis_angle(blended)
    return out


def resample_motion(motion: Motion, fps: float) -> Motion:
    """Resample ``motion`` to ``fps`` frames per second by time.

    Each output frame ``k`` sits at time ``k / fps``; its rotations are the quaternion
    slerp (shortest path) of the two neighbouring source frames, its translation and
    expressions the linear blend. Output frames that land exactly on a source frame
    copy it unchanged. Frame count: see :func:`resample_count`.
    """
    try:
        target = float(fps)
    except (TypeError, ValueError) as exc:
        raise MotionFormatError(f"Target frame rate must be a number, got {fps!r}.") from exc
    if not math.isfinite(target) or target <= 0:
        raise MotionFormatError(f"Target frame rate must be a positive number, got {fps!r}.")
    if target == motion.fps:
        return motion.copy()

    num_in = motion.num_frames
    num_out = resample_count(num_in, motion.fps, target)
    pos, left, weight = _source_positions(num_out, motion.fps, target, num_in)
    right = np.minimum(left + 1, num_in - 1)

    w = weight[:, None]
    trans = (1.0 - w) * motion.trans[left].astype(np.float64) + w * motion.trans[right]
    expressions = (1.0 - w) * motion.expressions[left].astype(np.float64) + w * motion.expressions[right]

    return Motion(
        poses=_resample_poses(motion.poses, pos, left, right, weight),
        trans=trans.astype(np.float32),
        fps=target,
        betas=motion.betas.copy(),
        expressions=expressions.astype(np.float32),
        gender=motion.gender,
        model=motion.model,
    )


#: Body parts a user can choose to animate (``--parts``): SMPL-X part names, and the root
#: translation. Parts left out hold the model's rest pose, exactly still.
PARTS = ("upper", "hands", "lower", "face", "eyes", "root")


def parse_parts(text: str) -> tuple[str, ...]:
    """``"upper,hands"`` -> ``("upper", "hands")``; an :class:`EggError` naming unknown parts."""
    parts = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    unknown = [p for p in parts if p not in PARTS]
    if not parts or unknown:
        raise EggError(f"unknown part(s) {', '.join(unknown) or '(none given)'}; choose from "
                       f"{', '.join(PARTS)}, separated by commas (e.g. upper,hands,face)")
    return parts


def hold_still(motion: Motion, parts: tuple[str, ...], rest_pose: np.ndarray) -> Motion:
    """``motion`` with every joint outside ``parts`` in ``rest_pose``, the expressions neutral
    (zero) unless ``"face"`` is chosen, and the root translation fixed at its first frame unless
    ``"root"`` is chosen (a seated character keeps still)."""
    keep = {j for part in parts if part in SMPLX.parts for j in SMPLX.subset_indices([part])}
    still = [j for j in range(motion.poses.shape[1]) if j not in keep]
    out = motion.copy()
    out.poses[:, still] = np.asarray(rest_pose, np.float32)[still]
    if "face" not in parts:
        out.expressions[:] = 0.0
    if "root" not in parts:
        out.trans[:] = out.trans[:1]
    return out
