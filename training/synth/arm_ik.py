"""Arm poses from targets: two-bone inverse kinematics for the wrist, plus hand orientation and shape.

Gestures are written as "wrist here, fingers pointing there, palm facing that way, this
hand shape"; this module turns that into shoulder, elbow, wrist and finger rotations for
either side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from egg_core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from training.synth.body import (
    _FORE_LEN,
    _L_COLLAR,
    _L_ELBOW,
    _L_SHOULDER,
    _L_WRIST,
    _REST,
    _UPPER_LEN,
    mirror_pose_dict,
)
from training.synth.hands import hand_shape


def _unit(v: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def solve_left_arm(wrist: Sequence[float], fingers: Sequence[float], palm: Sequence[float],
                   pole: Sequence[float] = (0.5, -1.0, -0.4)) -> dict[int, np.ndarray]:
    """Left shoulder, elbow and wrist rotations (axis-angle) that put the wrist at ``wrist``.

    Two-bone IK in the rest torso frame (collar at rest): the elbow bends in the plane
    through shoulder, target and ``pole`` (the side the elbow points to); ``fingers`` is
    the direction the hand points, ``palm`` the direction the palm faces. The forearm's
    twist is shared half by the elbow and half by the wrist, as a real forearm does.
    Unreachable targets are clamped to the arm's reach along the same line.
    """
    a, b = _UPPER_LEN, _FORE_LEN
    S = _REST[_L_SHOULDER]
    to = np.asarray(wrist, dtype=np.float64) - S
    dist = float(np.linalg.norm(to))
    u = to / max(dist, 1e-9)
    d = float(np.clip(dist, abs(a - b) + 1e-3, a + b - 1e-3))
    cos_alpha = (a * a + d * d - b * b) / (2 * a * d)
    alpha = math.acos(float(np.clip(cos_alpha, -1.0, 1.0)))
    p = np.asarray(pole, dtype=np.float64)
    p = p - (p @ u) * u
    if np.linalg.norm(p) < 1e-6:
        p = np.cross(u, [0.0, 0.0, 1.0])
    p = _unit(p)
    elbow = S + a * (math.cos(alpha) * u + math.sin(alpha) * p)
    d1 = _unit(elbow - S)
    d2 = _unit(S + d * u - elbow)
    bend = d2 - (d2 @ d1) * d1
    z = _unit(bend) if np.linalg.norm(bend) > 1e-6 else _unit(np.cross(d1, np.cross(p, d1)))
    y = np.cross(z, d1)
    g_shoulder = np.column_stack([d1, y, z])
    theta = math.acos(float(np.clip(d1 @ d2, -1.0, 1.0)))
    elbow_hinge = axis_angle_to_matrix(np.array([0.0, -theta, 0.0]))
    g_elbow = g_shoulder @ elbow_hinge
    f = _unit(fingers)
    n = np.asarray(palm, dtype=np.float64)
    n = n - (n @ f) * f
    if np.linalg.norm(n) < 1e-6:
        n = np.cross(f, [1.0, 0.0, 0.0])
    n = _unit(n)
    g_wrist = np.column_stack([f, -n, np.cross(n, f)])
    wrist_local = g_elbow.T @ g_wrist
    # share the forearm twist (about the forearm's own x axis) between elbow and wrist
    twist = math.atan2(wrist_local[2, 1] - wrist_local[1, 2], wrist_local[1, 1] + wrist_local[2, 2])
    half = _rot_x(0.5 * twist)
    return {
        _L_SHOULDER: np.asarray(matrix_to_axis_angle(g_shoulder)),
        _L_ELBOW: np.asarray(matrix_to_axis_angle(elbow_hinge @ half)),
        _L_WRIST: np.asarray(matrix_to_axis_angle(half.T @ wrist_local)),
    }



def arm_pose(side: str, wrist: Sequence[float], fingers: Sequence[float], palm: Sequence[float],
             shape: str, pole: Sequence[float] = (0.5, -1.0, -0.4), collar: float = 0.0) -> dict[int, np.ndarray]:
    """Full arm + hand pose of one side, specified as for the left side ("L") or mirrored ("R").

    For "R" the target, directions and pole are given in *left* coordinates and the whole
    result is mirrored, so ``arm_pose("R", ...)`` is the mirror image of ``arm_pose("L", ...)``.
    ``collar`` raises the shoulder (radians, shrug).
    """
    pose = solve_left_arm(wrist, fingers, palm, pole)
    pose[_L_COLLAR] = np.array([0.0, 0.0, collar])
    pose.update(hand_shape(shape))
    return mirror_pose_dict(pose) if side == "R" else pose


def arm_pose_at(wrist_world_left: Sequence[float], fingers: Sequence[float], palm: Sequence[float],
                shape: str, side: str, pole: Sequence[float] = (0.5, -1.0, -0.4)) -> dict[int, np.ndarray]:
    """Arm pose for a target given in body coordinates for either hand (no mirroring of the target)."""
    if side == "L":
        return arm_pose("L", wrist_world_left, fingers, palm, shape, pole)
    flip = np.array([-1.0, 1.0, 1.0])
    return arm_pose("R", np.asarray(wrist_world_left) * flip, np.asarray(fingers) * flip,
                    np.asarray(palm) * flip, shape, np.asarray(pole) * flip)


def both_arms(wrist: Sequence[float], fingers: Sequence[float], palm: Sequence[float], shape: str,
              pole: Sequence[float] = (0.5, -1.0, -0.4), collar: float = 0.0) -> dict[int, np.ndarray]:
    """Symmetric two-handed pose (left side given, right side its mirror)."""
    left = arm_pose("L", wrist, fingers, palm, shape, pole, collar)
    return {**left, **mirror_pose_dict(left)}
