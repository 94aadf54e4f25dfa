"""The motion under everything, one of two kinds.

* :func:`procedural_idle`: breathing, a slow weight shift, small head motion, arms
  relaxed with slight drift.
* :class:`IdleSource`: random segments of a real BEAT2 take, half of them mirrored,
  cross-faded, facing and position normalised, the arms pulled toward
  :func:`~egg_core.skeleton.relaxed_pose` (so the real speaker's own gestures do not
  compete with the synthetic ones) and the jaw reset; spine, neck, head, legs and root
  keep the real human sway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egg_core.errors import EggError
from egg_core.formats.beat2 import read_beat2_npz
from egg_core.motion import resample_motion
from egg_core.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    quat_multiply,
    quat_slerp,
    quat_to_axis_angle,
)
from egg_core.skeleton import STANDING_TRANS_Y, mirror_poses
from training.synth.body import _ARM_JOINTS, _HEAD, _IDX, _J, _JAW, _NECK, _RELAXED
from training.synth.constants import FPS
from training.synth.render import min_jerk


def _as_quats(poses: np.ndarray) -> np.ndarray:
    return np.asarray(axis_angle_to_quat(np.asarray(poses, dtype=np.float64)))


def procedural_idle(n_frames: int, rng: np.random.Generator, fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """(quats (T,55,4), trans (T,3)) of a standing, breathing, slowly swaying body."""
    t = np.arange(n_frames) / fps
    poses = np.broadcast_to(_RELAXED, (n_frames, _J, 3)).copy()

    def smooth_noise(amp: float, freqs: Sequence[float]) -> np.ndarray:
        out = np.zeros(n_frames)
        for f in freqs:
            out += np.sin(2 * math.pi * f * rng.uniform(0.8, 1.2) * t + rng.uniform(0, 2 * math.pi))
        return amp * out / len(freqs)

    breath = np.sin(2 * math.pi * rng.uniform(0.22, 0.3) * t + rng.uniform(0, 6.3))
    sway = smooth_noise(1.0, (0.05, 0.09))
    roll = math.radians(1.5) * sway
    poses[:, 0, 2] += roll
    poses[:, _IDX["left_hip"], 2] -= roll
    poses[:, _IDX["right_hip"], 2] -= roll
    for name, k in (("spine1", 0.3), ("spine2", 0.4), ("spine3", 0.3)):
        poses[:, _IDX[name], 0] += math.radians(1.0) * k * breath
    poses[:, 0, 1] += smooth_noise(math.radians(2.0), (0.04, 0.07))
    poses[:, _NECK, 1] += smooth_noise(math.radians(3.0), (0.1, 0.17, 0.23))
    poses[:, _HEAD, 1] += smooth_noise(math.radians(3.0), (0.13, 0.29))
    poses[:, _HEAD, 0] += smooth_noise(math.radians(2.5), (0.11, 0.21, 0.37))
    for side in ("left", "right"):
        poses[:, _IDX[f"{side}_shoulder"]] += smooth_noise(math.radians(2.0), (0.08, 0.19))[:, None] * 0.5
        poses[:, _IDX[f"{side}_elbow"], 1] += smooth_noise(math.radians(3.0), (0.07, 0.15))
    trans = np.zeros((n_frames, 3))
    trans[:, 0] = 0.02 * sway
    trans[:, 1] = STANDING_TRANS_Y + 0.002 * breath
    return _as_quats(poses), trans


def _heading_normalised(quats: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn a segment so its mean facing is +Z and centre its horizontal position."""
    R = np.asarray(axis_angle_to_matrix(np.asarray(quat_to_axis_angle(quats[:, 0]))))
    fwd = R[:, :, 2]
    yaw = math.atan2(float(np.mean(np.sin(np.arctan2(fwd[:, 0], fwd[:, 2])))),
                     float(np.mean(np.cos(np.arctan2(fwd[:, 0], fwd[:, 2])))))
    turn = np.asarray(axis_angle_to_quat(np.array([0.0, -yaw, 0.0])))
    q = quats.copy()
    q[:, 0] = np.asarray(quat_multiply(np.broadcast_to(turn, q[:, 0].shape), q[:, 0]))
    c, s = math.cos(-yaw), math.sin(-yaw)
    tr = trans - np.array([trans[:, 0].mean(), 0.0, trans[:, 2].mean()])
    x, z = tr[:, 0].copy(), tr[:, 2].copy()
    tr[:, 0], tr[:, 2] = c * x + s * z, -s * x + c * z
    return q, tr


@dataclass
class IdleSource:
    """A real take prepared for idle segments: quats and trans, plain and mirrored, at 30 fps."""

    path: str
    quats: np.ndarray
    trans: np.ndarray
    quats_mirror: np.ndarray
    trans_mirror: np.ndarray

    @classmethod
    def load(cls, path: str | Path, arm_keep: float = 0.2) -> IdleSource:
        motion = read_beat2_npz(path)
        if abs(motion.fps - FPS) > 1e-6:
            motion = resample_motion(motion, FPS)
        if motion.num_frames < 5 * FPS:
            raise EggError(f"the idle source {path} lasts {motion.duration:.1f} s; give a take of at "
                           "least 5 s (a BEAT2 npz) or leave --idle-source out for the procedural idle")
        out = []
        for poses, trans in ((motion.poses, motion.trans), mirror_poses(motion.poses, motion.trans)):
            q = _as_quats(poses)
            arms = sorted(_ARM_JOINTS)
            q[:, arms] = np.asarray(quat_slerp(np.broadcast_to(_as_quats(_RELAXED[arms]), q[:, arms].shape),
                                               q[:, arms], arm_keep))
            q[:, [_JAW, _IDX["left_eye_smplhf"], _IDX["right_eye_smplhf"]]] = (1.0, 0.0, 0.0, 0.0)
            out.append((q, np.asarray(trans, dtype=np.float64)))
        return cls(str(path), out[0][0], out[0][1], out[1][0], out[1][1])

    def idle(self, n_frames: int, rng: np.random.Generator, fade: int = 15) -> tuple[np.ndarray, np.ndarray]:
        """(quats, trans) of ``n_frames``: random 4-10 s segments, half mirrored, cross-faded."""
        total = self.quats.shape[0]
        q_out = np.zeros((n_frames, _J, 4))
        t_out = np.zeros((n_frames, 3))
        pos = 0
        first = True
        while pos < n_frames:
            length = int(min(total, rng.integers(4 * FPS, 10 * FPS + 1)))
            start = int(rng.integers(0, total - length + 1))
            mirror = bool(rng.random() < 0.5)
            src_q = self.quats_mirror if mirror else self.quats
            src_t = self.trans_mirror if mirror else self.trans
            q, tr = _heading_normalised(src_q[start:start + length], src_t[start:start + length])
            n = min(length, n_frames - pos)
            if first:
                q_out[pos:pos + n], t_out[pos:pos + n] = q[:n], tr[:n]
            else:
                k = min(fade, n)
                w = min_jerk((np.arange(k) + 1) / (k + 1))
                q_out[pos:pos + k] = np.asarray(quat_slerp(q_out[pos:pos + k], q[:k],
                                                           np.broadcast_to(w[:, None], (k, _J))))
                t_out[pos:pos + k] = (1 - w[:, None]) * t_out[pos:pos + k] + w[:, None] * tr[:k]
                q_out[pos + k:pos + n], t_out[pos + k:pos + n] = q[k:n], tr[k:n]
            first = False
            pos += n if pos + n >= n_frames else n - fade
        return q_out, t_out
