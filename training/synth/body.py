"""The SMPL-X joints the generator addresses, and the body it poses.

Joint indices, arm lengths of the rest skeleton, the landmarks gestures reach for
(chest, mouth, temple, ear, brow) and the left/right mirror of a sparse pose, so that
every gesture can be written for the left hand and mirrored.
"""

from __future__ import annotations

import numpy as np

from egg_core.skeleton import SMPLX, relaxed_pose

_J = SMPLX.num_joints
_REST = SMPLX.rest_positions()
_RELAXED = relaxed_pose(SMPLX)
_IDX = {n: i for i, n in enumerate(SMPLX.joint_names)}
_L_SHOULDER, _L_ELBOW, _L_WRIST, _L_COLLAR = (_IDX[n] for n in ("left_shoulder", "left_elbow",
                                                                 "left_wrist", "left_collar"))
_UPPER_LEN = float(np.linalg.norm(_REST[_L_ELBOW] - _REST[_L_SHOULDER]))
_FORE_LEN = float(np.linalg.norm(_REST[_L_WRIST] - _REST[_L_ELBOW]))
_FINGERS = ("index", "middle", "ring", "pinky")
_LEFT_HAND = tuple(_IDX[f"left_{f}{k}"] for f in (*_FINGERS, "thumb") for k in (1, 2, 3))
_LEFT_ARM = (_L_COLLAR, _L_SHOULDER, _L_ELBOW, _L_WRIST) + _LEFT_HAND
_ARM_JOINTS = frozenset(_LEFT_ARM) | frozenset(SMPLX.mirror[j] for j in _LEFT_ARM)
_NECK, _HEAD, _JAW = _IDX["neck"], _IDX["head"], _IDX["jaw"]
_MIRROR_AA = np.array([1.0, -1.0, -1.0])

#: Landmarks of the rest body (trans = 0, torso upright), metres; left side where sided.
CHEST = np.array([0.0, -0.06, 0.12])
MOUTH = np.array([0.0, 0.205, 0.105])
TEMPLE_L = np.array([0.075, 0.285, 0.06])
EAR_L = np.array([0.08, 0.245, 0.0])
BROW = np.array([0.0, 0.30, 0.11])


def mirror_pose_dict(pose: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The left/right mirror image of a sparse pose (joint -> axis-angle)."""
    return {SMPLX.mirror[j]: np.asarray(aa) * _MIRROR_AA for j, aa in pose.items()}

