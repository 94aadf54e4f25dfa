"""The model's motion representation: rot6d of a joint subset of SMPL-X, flattened per frame.

Training (``training/``) and inference (``egg_core.inference``) must agree on which joints,
in which order, and on the 6D convention; both go through these two functions.
A joint set is a part name of ``egg_core.skeleton.SMPLX.parts`` (default ``"gesture"`` = the
43 EMAGE upper-body + hand joints) or several joined with ``+`` (e.g. ``"gesture+lower"``).
"""

from __future__ import annotations

import numpy as np

from egg_core.errors import EggError
from egg_core.rotations import axis_angle_to_rot6d, rot6d_to_axis_angle
from egg_core.skeleton import SMPLX, relaxed_pose


def joint_indices(joint_set: str) -> tuple[int, ...]:
    """SMPL-X joint indices of ``joint_set``, in the order the model's channels use."""

    names = [p for p in joint_set.split("+") if p]
    unknown = [p for p in names if p not in SMPLX.parts]
    if not names or unknown:
        raise EggError(f"unknown joint set {joint_set!r}; use part names of SMPL-X joined by '+' "
                       f"({', '.join(sorted(SMPLX.parts))})")
    return tuple(SMPLX.subset_indices(names))


def poses_to_features(poses_aa: np.ndarray, joint_set: str = "gesture") -> np.ndarray:
    """Axis-angle poses ``(T, 55, 3)`` (or ``(T, 165)``) -> model features ``(T, J*6)`` float32."""

    poses = np.asarray(poses_aa, dtype=np.float32).reshape(len(poses_aa), -1, 3)
    idx = list(joint_indices(joint_set))
    d6 = axis_angle_to_rot6d(poses[:, idx])
    return np.asarray(d6, dtype=np.float32).reshape(len(poses), len(idx) * 6)


def features_to_poses(features: np.ndarray, joint_set: str = "gesture",
                      base_pose: np.ndarray | None = None) -> np.ndarray:
    """Model features ``(T, J*6)`` -> axis-angle poses ``(T, 55, 3)`` float32.

    Joints outside ``joint_set`` take ``base_pose`` ``(55, 3)`` (default: the skeleton's
    relaxed standing pose, arms down), so the body is never left in a T-pose.
    """

    idx = list(joint_indices(joint_set))
    feats = np.asarray(features, dtype=np.float32).reshape(len(features), len(idx), 6)
    base = relaxed_pose(SMPLX) if base_pose is None else np.asarray(base_pose)
    poses = np.repeat(np.asarray(base, np.float32)[None], len(feats), axis=0)
    poses[:, idx] = np.asarray(rot6d_to_axis_angle(feats), dtype=np.float32)
    return poses
