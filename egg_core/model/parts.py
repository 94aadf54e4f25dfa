"""The whole body as four parts, each with its own feature vector (HIP / EMAGE part masks).

Why parts: one codebook for the whole body spends its codes on the largest, fastest part (arms)
and learns a still face and still legs; HIP and EMAGE give every part its own VQ-VAE. The
masks follow EMAGE's (``../shared/reference/smplx_beat2_metrics.md``):

* ``face``  -- jaw rotation (rot6d) + the 100 FLAME expression coefficients BEAT2 stores;
* ``upper`` -- spine, neck, head, collars, shoulders, elbows, wrists (13 joints, rot6d);
* ``hands`` -- the 30 finger joints (rot6d);
* ``lower`` -- pelvis (global orientation) and legs (9 joints, rot6d), the root's horizontal
  velocity (x, z in m/s, world frame) and height (y, m), and two foot-contact flags.

Root velocity, not position: a model generates windows of a few seconds; positions would tie
every window to an absolute place, while velocities chain. Integrating velocities drifts, so
:func:`integrate_root` pulls the position back toward the start with a slow leak (a speaker
sways around a spot, and long clips must not walk away). Foot contacts (EMAGE's rule: the
ankle and foot joints move less than 1 cm per 30 fps frame) are generated with the legs, and
:func:`plant_feet` keeps a foot in contact where it touched down with two-bone leg IK: legs
and pelvis generated independently slide the feet (12 cm/s on an unseen take before this,
real takes 1.2-2.1 cm/s), and a sliding foot is what a viewer notices first about legs. The
pelvis keeps its generated sway; the knees absorb it, as a person's do when shifting weight.

Everything here is numpy; the networks are in :mod:`egg_core.model.hip`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from egg_core.errors import EggError
from egg_core.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_rot6d,
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_slerp,
    quat_to_matrix,
    rot6d_to_axis_angle,
)
from egg_core.skeleton import SMPLX, STANDING_TRANS_Y, forward_kinematics

#: Generation order of the cascade (HIP: face from speech, body guided by the face, hands
#: guided by the body). ``lower`` follows ``upper``: weight shifts go with the torso.
BODY_PARTS = ("face", "upper", "lower", "hands")
#: FLAME expression coefficients in BEAT2.
NUM_EXPRESSIONS = 100
#: EMAGE's contact rule: a foot joint moving less than this per frame at 30 fps is on the ground.
CONTACT_SPEED = 0.01 * 30.0  # m/s
#: Ankle and foot (toe base) joints of the left and the right foot.
FOOT_JOINTS = ((SMPLX.index("left_ankle"), SMPLX.index("left_foot")),
               (SMPLX.index("right_ankle"), SMPLX.index("right_foot")))
#: Time constant (s) of the pull of the integrated root back toward its start position.
ROOT_LEAK_S = 8.0
_JAW = SMPLX.index("jaw")


@dataclass(frozen=True)
class PartLayout:
    """Which channels of the whole-body feature vector one part owns."""

    name: str
    joints: tuple[int, ...]
    expressions: int = 0
    root: bool = False

    @property
    def dim(self) -> int:
        return 6 * len(self.joints) + self.expressions + (5 if self.root else 0)


LAYOUTS: dict[str, PartLayout] = {
    "face": PartLayout("face", (_JAW,), expressions=NUM_EXPRESSIONS),
    "upper": PartLayout("upper", SMPLX.subset_indices(["upper"])),
    "lower": PartLayout("lower", SMPLX.subset_indices(["lower"]), root=True),
    "hands": PartLayout("hands", SMPLX.subset_indices(["hands"])),
}


def check_parts(parts: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``parts`` in cascade order; an :class:`EggError` for unknown or repeated names."""
    unknown = [p for p in parts if p not in LAYOUTS]
    if unknown or not parts or len(set(parts)) != len(parts):
        raise EggError(f"body parts must be distinct names of {', '.join(BODY_PARTS)}; got {list(parts)}")
    return tuple(p for p in BODY_PARTS if p in parts)


def part_slices(parts: tuple[str, ...]) -> dict[str, slice]:
    """Where each part sits in the concatenated feature vector (parts in cascade order)."""
    out, start = {}, 0
    for p in check_parts(parts):
        out[p] = slice(start, start + LAYOUTS[p].dim)
        start += LAYOUTS[p].dim
    return out


def feature_dim(parts: tuple[str, ...]) -> int:
    return sum(LAYOUTS[p].dim for p in check_parts(parts))


def foot_contacts(poses: np.ndarray, trans: np.ndarray, fps: float) -> np.ndarray:
    """``(T, 2)`` float32 0/1: left and right foot on the ground (EMAGE's speed rule)."""
    pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(np.asarray(poses, np.float64)),
                                np.asarray(trans, np.float64))
    out = np.ones((len(pos), 2), np.float32)
    if len(pos) < 2:
        return out
    for side, joints in enumerate(FOOT_JOINTS):
        speed = np.linalg.norm(np.diff(pos[:, list(joints)], axis=0), axis=-1).max(-1) * fps
        moving = np.concatenate([speed[:1], speed]) >= CONTACT_SPEED
        out[moving, side] = 0.0
    return out


def whole_body_features(poses: np.ndarray, trans: np.ndarray, expressions: np.ndarray | None,
                        fps: float, parts: tuple[str, ...] = BODY_PARTS) -> np.ndarray:
    """SMPL-X ``poses (T, 55, 3)``, ``trans (T, 3)``, ``expressions (T, E)`` -> ``(T, D)`` float32.

    Expressions beyond 100 are dropped and missing ones are zero (neutral face).
    """
    poses = np.asarray(poses, np.float32).reshape(len(poses), -1, 3)
    trans = np.asarray(trans, np.float32)
    t = len(poses)
    cols = []
    for p in check_parts(parts):
        lay = LAYOUTS[p]
        cols.append(np.asarray(axis_angle_to_rot6d(poses[:, list(lay.joints)]), np.float32).reshape(t, -1))
        if lay.expressions:
            expr = np.zeros((t, lay.expressions), np.float32)
            if expressions is not None and np.size(expressions):
                e = np.asarray(expressions, np.float32)[:, : lay.expressions]
                expr[:, : e.shape[1]] = e
            cols.append(expr)
        if lay.root:
            vel = np.zeros((t, 2), np.float32)
            if t > 1:
                vel[1:] = np.diff(trans[:, [0, 2]], axis=0) * fps
                vel[0] = vel[1]
            cols += [vel, trans[:, 1:2], foot_contacts(poses, trans, fps)]
    return np.concatenate(cols, axis=1).astype(np.float32)


def integrate_root(velocity: np.ndarray, height: np.ndarray, fps: float,
                   leak_s: float = ROOT_LEAK_S) -> np.ndarray:
    """Root translation ``(T, 3)`` from horizontal velocity ``(T, 2)`` (m/s) and height ``(T,)``.

    The horizontal position starts at 0 and leaks back toward 0 with time constant ``leak_s``.
    """
    keep = float(np.exp(-1.0 / (max(leak_s, 1e-6) * fps)))
    xz = np.zeros((len(velocity), 2), np.float64)
    pos = np.zeros(2)
    for i, v in enumerate(np.asarray(velocity, np.float64)):
        if i > 0:
            pos = keep * pos + v / fps
        xz[i] = pos
    trans = np.empty((len(velocity), 3), np.float32)
    trans[:, 0], trans[:, 2] = xz[:, 0], xz[:, 1]
    trans[:, 1] = height
    return trans


#: Hip, knee, ankle of the left and the right leg (the IK chain of :func:`plant_feet`).
LEG_CHAINS = tuple(tuple(SMPLX.index(f"{side}_{j}") for j in ("hip", "knee", "ankle")) for side in ("left", "right"))
#: Frames over which a planted foot blends in and out of its anchor (no pop at touch-down).
PLANT_BLEND_FRAMES = 3


def _rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Matrices ``(T, 3, 3)`` of the shortest rotation taking directions ``u`` to ``v`` ``(T, 3)``."""
    u = u / np.linalg.norm(u, axis=-1, keepdims=True).clip(1e-12)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)
    axis = np.cross(u, v)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.arctan2(sin, np.sum(u * v, axis=-1, keepdims=True))
    return axis_angle_to_matrix(np.where(sin > 1e-12, axis / sin.clip(1e-12) * angle, 0.0))


def _plant_weights(on: np.ndarray, blend: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the first frame of its contact run (-1 outside runs) and the blend weight."""
    anchor = np.full(len(on), -1)
    weight = np.zeros(len(on))
    i = 0
    while i < len(on):
        if not on[i]:
            i += 1
            continue
        j = i
        while j < len(on) and on[j]:
            j += 1
        k = np.arange(i, j)
        anchor[i:j] = i
        weight[i:j] = np.minimum(1.0, np.minimum(k - i + 1, j - k) / max(blend, 1))
        i = j
    return anchor, weight


def plant_feet(poses: np.ndarray, trans: np.ndarray, contacts: np.ndarray,
               blend: int = PLANT_BLEND_FRAMES) -> np.ndarray:
    """``poses`` with the legs turned (two-bone IK) so that each ankle in contact stays where
    its contact began, with the ankle's world orientation held too (the toes stay put).

    ``contacts (T, 2)`` > 0.5 is "in contact" (left, right). The knee bends in its current
    plane; a target out of reach is approached as far as the leg's length allows.
    """
    poses = np.asarray(poses, np.float64).copy()
    trans = np.asarray(trans, np.float64)
    on_all = np.asarray(contacts) > 0.5
    for side, (hip, knee, ankle) in enumerate(LEG_CHAINS):
        anchor, w = _plant_weights(on_all[:, side], blend)
        if not (w > 0).any():
            continue
        local = axis_angle_to_matrix(poses)
        pos, glob = forward_kinematics(SMPLX, local, trans)
        f = np.nonzero(w > 0)[0]
        a = anchor[f]
        wf = w[f][:, None]
        goal = (1 - wf) * pos[f, ankle] + wf * pos[a, ankle]
        h, k, an = pos[f, hip], pos[f, knee], pos[f, ankle]
        l1 = np.linalg.norm(k - h, axis=-1)
        l2 = np.linalg.norm(an - k, axis=-1)
        d = np.clip(np.linalg.norm(goal - h, axis=-1), np.abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
        # knee: bend (about the normal of the leg's plane) until hip-ankle distance is d
        normal = np.cross(k - h, an - k)
        fallback = glob[f, hip][:, :, 0]  # straight leg: bend about the hip's x axis (forward)
        size = np.linalg.norm(normal, axis=-1, keepdims=True)
        normal = np.where(size > 1e-9, normal / size.clip(1e-12), fallback)
        cos_now = np.sum((h - k) * (an - k), -1) / (l1 * l2)
        cos_want = (l1 ** 2 + l2 ** 2 - d ** 2) / (2 * l1 * l2)
        delta = np.arccos(np.clip(cos_now, -1, 1)) - np.arccos(np.clip(cos_want, -1, 1))
        best = None
        for sign in (1.0, -1.0):
            r1 = axis_angle_to_matrix(normal * (sign * delta)[:, None])
            reach = np.abs(np.linalg.norm(k + (r1 @ (an - k)[..., None])[..., 0] - h, axis=-1) - d)
            best = (r1, reach) if best is None else (np.where((reach < best[1])[:, None, None], r1, best[0]),
                                                      np.minimum(reach, best[1]))
        r1 = best[0]
        an_bent = k + (r1 @ (an - k)[..., None])[..., 0]
        r2 = _rotation_between(an_bent - h, goal - h)  # hip: swing the leg onto the goal
        g_hip = r2 @ glob[f, hip]
        g_knee = r2 @ r1 @ glob[f, knee]
        # ankle: hold the world orientation it had when the contact began (blended in)
        q_now = matrix_to_quat(glob[f, ankle])
        q_anchor = matrix_to_quat(glob[a, ankle])
        g_ankle = quat_to_matrix(quat_slerp(q_now, q_anchor, w[f]))
        parent = glob[f, SMPLX.parents[hip]]
        new_local = {hip: np.swapaxes(parent, -1, -2) @ g_hip,
                     knee: np.swapaxes(g_hip, -1, -2) @ g_knee,
                     ankle: np.swapaxes(g_knee, -1, -2) @ g_ankle}
        for j, m in new_local.items():
            poses[f, j] = matrix_to_axis_angle(m)
    return poses.astype(np.float32)


@dataclass
class WholeBody:
    """Decoded whole-body motion at the model's frame rate."""

    poses: np.ndarray  # (T, 55, 3) axis-angle
    trans: np.ndarray  # (T, 3)
    expressions: np.ndarray  # (T, 100)
    contacts: np.ndarray | None  # (T, 2) or None without the lower part


def features_to_whole_body(features: np.ndarray, parts: tuple[str, ...], fps: float,
                           base_pose: np.ndarray, feet: bool = True) -> WholeBody:
    """Inverse of :func:`whole_body_features` (joints of absent parts take ``base_pose``).

    Without the ``lower`` part the root stands still at BEAT2's standing height. ``feet``: keep
    feet in contact planted (:func:`plant_feet`).
    """
    feats = np.asarray(features, np.float32)
    t = len(feats)
    poses = np.repeat(np.asarray(base_pose, np.float32)[None], t, axis=0)
    expressions = np.zeros((t, NUM_EXPRESSIONS), np.float32)
    trans = np.tile(np.array([0.0, STANDING_TRANS_Y, 0.0], np.float32), (t, 1))
    contacts = None
    for p, sl in part_slices(parts).items():
        lay, x = LAYOUTS[p], feats[:, sl]
        n6 = 6 * len(lay.joints)
        poses[:, list(lay.joints)] = np.asarray(
            rot6d_to_axis_angle(x[:, :n6].reshape(t, len(lay.joints), 6)), np.float32)
        if lay.expressions:
            expressions[:, : lay.expressions] = x[:, n6:n6 + lay.expressions]
        if lay.root:
            r = x[:, n6:]
            contacts = np.clip(r[:, 3:5], 0.0, 1.0)
            trans = integrate_root(r[:, :2], r[:, 2], fps)
            if feet:
                poses = plant_feet(poses, trans, contacts)
    return WholeBody(poses, trans, expressions, contacts)


def split_parts(features: np.ndarray, parts: tuple[str, ...]) -> Mapping[str, np.ndarray]:
    """``{part: (T, dim)}`` views of a concatenated feature array."""
    return {p: features[..., sl] for p, sl in part_slices(parts).items()}
