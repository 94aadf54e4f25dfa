"""Skeleton type, the SMPL-X 55-joint instance, forward kinematics, mirroring, relaxed pose.

The licence-gated SMPL-X model files (and so its exact rest joints) are not available, so
:data:`SMPLX` carries the project's own T-pose for an adult of stature ``H = 1.70 m``.
Users with the model files get the exact skeleton from :mod:`egg_core.body_model`.

Axes and rest pose: Y up, +Z forward (the way the body faces), +X the body's left. In the
T-pose the arms are horizontal with the left arm along +X, palms down, thumbs forward,
and every joint's rest orientation is the identity, so SMPL-X local axis-angle rotations
apply directly.

Where the proportions come from
-------------------------------
Segment lengths are fractions of stature from Drillis & Contini (1966) as drawn in
Winter, *Biomechanics and Motor Control of Human Movement*, fig. 4.1:

=====================================  ==========  ===========================
quantity                               fraction H  used for
=====================================  ==========  ===========================
shoulder (acromion) height             0.818       shoulder joints (0.810, see below)
hip (greater trochanter) height        0.530       hip joints
knee height                            0.285       knees (thigh 0.245, shank 0.246)
ankle height                           0.039       ankles
eye height                             0.936       eye joints
chin height                            0.870       head joint just above it (0.885)
shoulder width (biacromial)            0.259       shoulder joints
hip width                              0.191       hip joints
upper arm (shoulder-elbow)             0.186       elbow offset
forearm (elbow-wrist)                  0.146       wrist offset
hand length (wrist-fingertip)          0.108       finger joints (see below)
foot length                            0.152       ball of the foot (SMPL-X "foot")
=====================================  ==========  ===========================

Choices that are ours (the figure gives surface landmarks, SMPL-X needs joint centres):
the glenohumeral centres sit 0.02 H inside the acromia and 0.008 H below them; hip-joint
centres are half the hip width apart; the pelvis joint is 0.05 H above the hip joints
(SMPL-X places it inside the pelvis, above the hip centres); the trunk between pelvis and
neck (0.580 H -> 0.830 H) is split 0.06 / 0.07 / 0.03 / 0.09 H over spine1, spine2,
spine3, neck; the collars sit 0.04 H from the midline at 0.795 H; the ball of the foot
is 0.53 foot lengths ahead of the ankle and 0.012 H above the floor; the eyes are
0.064 m apart (typical adult interpupillary distance).

Fingers (fractions of hand length L = 0.108 H = 0.184 m), from typical adult metacarpal and
phalanx lengths: the knuckles (MCP, joint 1) lie 0.47/0.48/0.46/0.42 L ahead of the wrist
for index/middle/ring/pinky, spread 0.11/0.035/-0.04/-0.11 L across the palm (+Z is the
thumb side in the T-pose); proximal phalanges (1 -> 2) are 0.22/0.245/0.23/0.18 L and middle
phalanges (2 -> 3) 0.135/0.155/0.15/0.11 L. The thumb's joint 1 (base of its metacarpal) is
0.12 L ahead of the wrist, 0.12 L toward +Z and 0.05 L down; the metacarpal (1 -> 2) is
0.25 L and the proximal phalanx (2 -> 3) 0.17 L, both along (1, -0.3, 1) normalised.

Root placement: BEAT2's ``trans`` is SMPL-X's ``transl``, which moves the model origin,
not the pelvis; a standing BEAT2 actor has ``trans[:, 1]`` near 1.3 m while a pelvis is
about 1 m above the floor, so the SMPL-X template's pelvis sits about 0.3 m below its
origin (inferred from the data; the template itself is licence-gated). The root (pelvis) offset here
is ``(0, PELVIS_HEIGHT - STANDING_TRANS_Y, 0)``, so with a standing BEAT2 ``trans`` the
feet land near ``y = 0``, and :meth:`Skeleton.rest_positions` (``trans = 0``) has the
pelvis at ``-0.331 m`` and the soles near ``-1.317 m``. Add ``(0, STANDING_TRANS_Y, 0)`` to
stand the rest pose on the floor.
``STANDING_TRANS_Y`` was measured on the real BEAT2 take ``2_scott_0_1_1`` with this
skeleton: it makes the median over frames of the lower ball-of-foot joint's height equal
its rest height (``FOOT_HEIGHT``, 0.02 m).

The skeleton is exactly left/right symmetric (a right joint's offset is its left twin's
with x negated, centre joints have x = 0), which makes :func:`mirror_poses` exact.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from egg_core import rotations as _rot

STATURE = 1.70
"""Stature (m) of the made-up adult the :data:`SMPLX` rest offsets are scaled to."""

PELVIS_HEIGHT = 0.580 * STATURE
"""Height of the pelvis joint above the floor in the rest pose (0.986 m)."""

STANDING_TRANS_Y = 1.317
"""BEAT2 ``trans[:, 1]`` of a person standing upright (m); see the module docstring."""

FOOT_HEIGHT = 0.012 * STATURE
"""Height of the SMPL-X ``foot`` joint (ball of the foot) above the floor in the rest pose."""

SMPLX_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw",
    "left_eye_smplhf", "right_eye_smplhf",
    "left_index1", "left_index2", "left_index3",
    "left_middle1", "left_middle2", "left_middle3",
    "left_pinky1", "left_pinky2", "left_pinky3",
    "left_ring1", "left_ring2", "left_ring3",
    "left_thumb1", "left_thumb2", "left_thumb3",
    "right_index1", "right_index2", "right_index3",
    "right_middle1", "right_middle2", "right_middle3",
    "right_pinky1", "right_pinky2", "right_pinky3",
    "right_ring1", "right_ring2", "right_ring3",
    "right_thumb1", "right_thumb2", "right_thumb3",
)  # fmt: skip

SMPLX_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    15, 15, 15, 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)  # fmt: skip


# --------------------------------------------------------------------------------------
# the type
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A kinematic tree with rest offsets, named joint subsets and a left/right twin table.

    ``offsets[j]`` is joint ``j``'s position relative to its parent in the rest pose
    (metres, Y up, +Z forward, +X the body's left); the root's offset is its rest position
    relative to the origin that the root translation moves. Parents must come before
    their children. ``mirror[j]`` is the index of ``j``'s left/right twin (``j`` itself for
    centre joints). Instances are immutable (``offsets`` is a read-only copy); compare by
    value with ``==``.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    mirror: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.joint_names)
        parents = tuple(int(p) for p in self.parents)
        n = len(names)
        offsets = np.array(self.offsets, dtype=np.float64, copy=True)
        mirror = tuple(int(m) for m in self.mirror) if len(self.mirror) else tuple(range(n))
        parts = {str(k): tuple(int(i) for i in v) for k, v in dict(self.parts).items()}
        if len(set(names)) != n:
            raise ValueError(f"skeleton {self.name!r}: joint names are not unique")
        if len(parents) != n or offsets.shape != (n, 3) or len(mirror) != n:
            raise ValueError(
                f"skeleton {self.name!r}: {n} joint names but {len(parents)} parents, "
                f"offsets of shape {offsets.shape} and {len(mirror)} mirror entries"
            )
        for j, p in enumerate(parents):
            if not -1 <= p < j:
                raise ValueError(f"skeleton {self.name!r}: joint {j} ({names[j]}) has parent {p}; "
                                 "parents must be -1 or an earlier joint")
        if -1 not in parents:
            raise ValueError(f"skeleton {self.name!r} has no root (parent -1)")
        for j, m in enumerate(mirror):
            if not 0 <= m < n or mirror[m] != j:
                raise ValueError(f"skeleton {self.name!r}: mirror table is not an involution at joint {j}")
        for part, idx in parts.items():
            if any(not 0 <= i < n for i in idx):
                raise ValueError(f"skeleton {self.name!r}: part {part!r} has a joint index out of range")
        if not np.all(np.isfinite(offsets)):
            raise ValueError(f"skeleton {self.name!r}: offsets must be finite")
        offsets.setflags(write=False)
        object.__setattr__(self, "joint_names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "mirror", mirror)
        object.__setattr__(self, "parts", parts)

    # value semantics (the generated __eq__ would compare numpy arrays element-wise)
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Skeleton):
            return NotImplemented
        return (
            self.name == other.name
            and self.joint_names == other.joint_names
            and self.parents == other.parents
            and self.mirror == other.mirror
            and self.parts == other.parts
            and np.array_equal(self.offsets, other.offsets)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.joint_names, self.parents, self.mirror, self.offsets.tobytes()))

    @property
    def num_joints(self) -> int:
        """Number of joints."""
        return len(self.joint_names)

    def index(self, name: str) -> int:
        """Index of the joint called ``name`` (ValueError naming the skeleton if absent)."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise ValueError(f"skeleton {self.name!r} has no joint called {name!r}") from None

    def rest_positions(self) -> np.ndarray:
        """Joint positions ``(J, 3)`` float64 of the rest pose with zero root translation."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] if p < 0 else pos[p] + self.offsets[j]
        return pos

    def subset_indices(self, part_names: str | Iterable[str]) -> tuple[int, ...]:
        """Sorted, de-duplicated joint indices of one part name or several (e.g. ``["upper", "hands"]``)."""
        if isinstance(part_names, str):
            part_names = [part_names]
        out: set[int] = set()
        for part in part_names:
            if part not in self.parts:
                raise ValueError(f"skeleton {self.name!r} has no part {part!r}; "
                                 f"known parts: {', '.join(sorted(self.parts))}")
            out.update(self.parts[part])
        return tuple(sorted(out))


# --------------------------------------------------------------------------------------
# the SMPL-X instance
# --------------------------------------------------------------------------------------


def _mirror_table(names: tuple[str, ...]) -> tuple[int, ...]:
    lookup = {n: i for i, n in enumerate(names)}
    table = []
    for n in names:
        if n.startswith("left_"):
            table.append(lookup["right_" + n[5:]])
        elif n.startswith("right_"):
            table.append(lookup["left_" + n[6:]])
        else:
            table.append(lookup[n])
    return tuple(table)


def _smplx_offsets() -> np.ndarray:
    """Parent-relative rest offsets (55, 3), built for the centre and left side, mirrored to the right."""
    H = STATURE
    L = 0.108 * H  # hand length
    left: dict[str, tuple[float, float, float]] = {}
    centre: dict[str, tuple[float, float, float]] = {}

    centre["pelvis"] = (0.0, PELVIS_HEIGHT - STANDING_TRANS_Y, 0.0)
    # legs: hip centres half the hip width apart, 0.05 H below the pelvis joint
    left["left_hip"] = (0.191 * H / 4.0, -0.050 * H, 0.0)
    left["left_knee"] = (0.0, -(0.530 - 0.285) * H, 0.0)
    left["left_ankle"] = (0.0, -(0.285 - 0.039) * H, 0.0)
    left["left_foot"] = (0.0, -(0.039 - 0.012) * H, 0.53 * 0.152 * H)
    # trunk: 0.580 H (pelvis) -> 0.830 H (neck)
    centre["spine1"] = (0.0, 0.060 * H, 0.0)
    centre["spine2"] = (0.0, 0.070 * H, 0.0)
    centre["spine3"] = (0.0, 0.030 * H, 0.0)  # at 0.740 H
    centre["neck"] = (0.0, 0.090 * H, 0.0)  # at 0.830 H
    centre["head"] = (0.0, 0.055 * H, 0.010 * H)  # at 0.885 H, just above the chin (0.870 H)
    centre["jaw"] = (0.0, -0.012 * H, 0.018 * H)
    left["left_eye_smplhf"] = (0.032, (0.936 - 0.885) * H, 0.045 * H)
    # arms: collar 0.04 H off the midline at 0.795 H; shoulder centre 0.02 H inside the acromion
    shoulder_x = 0.259 * H / 2.0 - 0.020 * H
    left["left_collar"] = (0.040 * H, (0.795 - 0.740) * H, 0.0)
    left["left_shoulder"] = (shoulder_x - 0.040 * H, (0.810 - 0.795) * H, 0.0)
    left["left_elbow"] = (0.186 * H, 0.0, 0.0)
    left["left_wrist"] = (0.146 * H, 0.0, 0.0)
    # fingers: knuckle position (fraction of L ahead, across), proximal and middle phalanx lengths
    fingers = {
        "index": (0.47, 0.110, 0.220, 0.135),
        "middle": (0.48, 0.035, 0.245, 0.155),
        "pinky": (0.42, -0.110, 0.180, 0.110),
        "ring": (0.46, -0.040, 0.230, 0.150),
    }
    for finger, (ahead, across, proximal, middle) in fingers.items():
        left[f"left_{finger}1"] = (ahead * L, 0.0, across * L)
        left[f"left_{finger}2"] = (proximal * L, 0.0, 0.0)
        left[f"left_{finger}3"] = (middle * L, 0.0, 0.0)
    thumb_dir = np.array([1.0, -0.3, 1.0]) / math.sqrt(2.09)
    left["left_thumb1"] = (0.12 * L, -0.05 * L, 0.12 * L)
    left["left_thumb2"] = tuple(0.25 * L * thumb_dir)
    left["left_thumb3"] = tuple(0.17 * L * thumb_dir)

    offsets = np.zeros((len(SMPLX_JOINT_NAMES), 3))
    for j, name in enumerate(SMPLX_JOINT_NAMES):
        if name in centre:
            offsets[j] = centre[name]
        elif name.startswith("left_"):
            offsets[j] = left[name]
        else:
            x, y, z = left["left_" + name[len("right_"):]]
            offsets[j] = (-x, y, z)
    return offsets


_UPPER = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
_HANDS = tuple(range(25, 55))

SMPLX = Skeleton(
    name="smplx",
    joint_names=SMPLX_JOINT_NAMES,
    parents=SMPLX_PARENTS,
    offsets=_smplx_offsets(),
    parts={
        "upper": _UPPER,
        "hands": _HANDS,
        "lower": (0, 1, 2, 4, 5, 7, 8, 10, 11),
        "face": (22,),
        "eyes": (23, 24),
        "gesture": _UPPER + _HANDS,
    },
    mirror=_mirror_table(SMPLX_JOINT_NAMES),
)
"""The 55 SMPL-X joints with the project's own adult T-pose (see the module docstring)."""


# --------------------------------------------------------------------------------------
# forward kinematics
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _fk_plan(parents: tuple[int, ...]) -> tuple[tuple[tuple[list[int], list[int]], ...], list[int]]:
    """Joints grouped by depth, each level with its parents' slots in the concatenated order.

    Processing a whole level per matrix product (11 levels for SMPL-X instead of 55
    joints) keeps FK fast in torch and numpy alike. Also returns the permutation from the
    level-by-level order back to joint order.
    """
    depth: list[int] = []
    for p in parents:
        depth.append(0 if p < 0 else depth[p] + 1)
    slot: dict[int, int] = {}
    levels = []
    for d in range(max(depth) + 1):
        joints = [j for j, dj in enumerate(depth) if dj == d]
        parent_slots = [slot[parents[j]] if parents[j] >= 0 else -1 for j in joints]
        for j in joints:
            slot[j] = len(slot)
        levels.append((joints, parent_slots))
    inverse = [slot[j] for j in range(len(parents))]
    return tuple(levels), inverse


def forward_kinematics(
    skeleton: Skeleton,
    local_rotmats: Any,
    root_translation: Any | None = None,
) -> tuple[Any, Any]:
    """Global joint positions ``(..., J, 3)`` and rotations ``(..., J, 3, 3)``.

    ``local_rotmats`` ``(..., J, 3, 3)`` are rotations relative to the parent (numpy or
    torch, any leading dims); ``root_translation`` ``(..., 3)`` is added to the root's rest
    offset (BEAT2 ``trans``). Returns the same kind, dtype and device as ``local_rotmats``.
    ``G_j = G_parent @ R_j`` and ``p_j = p_parent + G_parent @ offset_j``.
    """
    J = skeleton.num_joints
    if tuple(local_rotmats.shape[-3:]) != (J, 3, 3):
        raise ValueError(f"local rotations must have shape (..., {J}, 3, 3) for skeleton "
                         f"{skeleton.name!r}, got {tuple(local_rotmats.shape)}")
    torch_mode = _rot._is_torch(local_rotmats)
    local = local_rotmats if torch_mode else np.asarray(local_rotmats)
    local = _rot._as_float(local)
    offsets = _rot._like(skeleton.offsets, local)
    levels, inverse = _fk_plan(skeleton.parents)

    roots, _ = levels[0]
    g = local[..., roots, :, :]
    p = offsets[roots] + (0.0 * g[..., 0])  # broadcast the rest offset over the batch
    if root_translation is not None:
        trans = _rot._like(root_translation, local)
        if tuple(trans.shape[-1:]) != (3,):
            raise ValueError(f"root translation must have shape (..., 3), got {tuple(trans.shape)}")
        p = p + trans[..., None, :]
    for joints, parent_slots in levels[1:]:
        g_parent = g[..., parent_slots, :, :]
        g_new = g_parent @ local[..., joints, :, :]
        p_new = p[..., parent_slots, :] + (g_parent @ offsets[joints][..., None])[..., 0]
        g = _rot._cat([g, g_new], axis=-3)
        p = _rot._cat([p, p_new], axis=-2)
    positions = p[..., inverse, :]
    rotations = g[..., inverse, :, :]
    return positions, rotations


# --------------------------------------------------------------------------------------
# relaxed pose and mirroring
# --------------------------------------------------------------------------------------

_SHOULDER_DOWN_DEG = 72.0  # arm lowered from horizontal
_ELBOW_BEND_DEG = 15.0  # forearm bent forward
_FINGER_CURL_DEG = (12.0, 15.0, 10.0)  # joints 1, 2, 3 of each finger
_THUMB_CURL_DEG = (5.0, 8.0, 8.0)


def relaxed_pose(skeleton: Skeleton = SMPLX) -> np.ndarray:
    """Axis-angle ``(J, 3)`` float64 of a natural standing pose (not a T-pose).

    Arms hang about 72 degrees below horizontal (palms toward the thighs), elbows bend
    15 degrees forward, fingers curl slightly; every other joint is at rest. Used for the
    joints a model does not produce. Joints are matched by SMPL-X name, so a skeleton
    without them gets zeros there. The pose is its own mirror image.
    """
    pose = np.zeros((skeleton.num_joints, 3))
    names = {n: i for i, n in enumerate(skeleton.joint_names)}
    left: dict[str, np.ndarray] = {}
    # T-pose left arm points +X with the palm down (-Y): a rotation about -Z lowers it,
    # one about -Y bends the forearm toward +Z, one about -Z curls the fingers into the palm.
    left["left_shoulder"] = np.array([0.0, 0.0, -math.radians(_SHOULDER_DOWN_DEG)])
    left["left_elbow"] = np.array([0.0, -math.radians(_ELBOW_BEND_DEG), 0.0])
    for finger in ("index", "middle", "ring", "pinky"):
        for k, deg in enumerate(_FINGER_CURL_DEG, start=1):
            left[f"left_{finger}{k}"] = np.array([0.0, 0.0, -math.radians(deg)])
    if "left_thumb3" in names:
        direction = skeleton.offsets[names["left_thumb3"]]
    else:
        direction = np.array([1.0, -0.3, 1.0])
    axis = np.cross(direction, [0.0, -1.0, 0.0])
    axis = axis / np.linalg.norm(axis)
    for k, deg in enumerate(_THUMB_CURL_DEG, start=1):
        left[f"left_thumb{k}"] = axis * math.radians(deg)
    for name, aa in left.items():
        if name in names:
            pose[names[name]] = aa
        twin = "right_" + name[len("left_"):]
        if twin in names:
            pose[names[twin]] = aa * np.array([1.0, -1.0, -1.0])
    return pose


def mirror_poses(
    poses_aa: Any,
    trans: Any | None = None,
    skeleton: Skeleton = SMPLX,
) -> tuple[Any, Any | None]:
    """Reflect poses across the body's sagittal plane (x -> -x), swapping left and right.

    A reflection ``M = diag(-1, 1, 1)`` turns a rotation ``R`` into ``M R M``, whose
    axis-angle is ``(x, -y, -z)``; each joint takes its twin's reflected rotation and the
    translation's x flips. Exact for a left/right-symmetric skeleton. ``poses_aa`` is
    ``(..., J, 3)`` numpy or torch; ``trans`` ``(..., 3)`` or None (returned as None).
    """
    J = skeleton.num_joints
    poses = _rot._as_float(poses_aa)
    if tuple(poses.shape[-2:]) != (J, 3):
        raise ValueError(f"poses must have shape (..., {J}, 3) for skeleton {skeleton.name!r}, "
                         f"got {tuple(poses.shape)}")
    flip = _rot._like([1.0, -1.0, -1.0], poses)
    mirrored = poses[..., list(skeleton.mirror), :] * flip
    if trans is None:
        return mirrored, None
    t = _rot._as_float(trans)
    return mirrored, t * _rot._like([-1.0, 1.0, 1.0], t)


def is_symmetric(skeleton: Skeleton, atol: float = 0.0) -> bool:
    """True when every joint's offset is its twin's with x negated (centre joints: x = 0)."""
    flipped = skeleton.offsets[list(skeleton.mirror)] * np.array([-1.0, 1.0, 1.0])
    same_parents = all(
        (p < 0 and skeleton.parents[m] < 0) or (p >= 0 and skeleton.mirror[p] == skeleton.parents[m])
        for p, m in zip(skeleton.parents, skeleton.mirror, strict=True)
    )
    return same_parents and bool(np.allclose(skeleton.offsets, flipped, rtol=0.0, atol=atol))


__all__ = [
    "Skeleton",
    "SMPLX",
    "SMPLX_JOINT_NAMES",
    "SMPLX_PARENTS",
    "STATURE",
    "PELVIS_HEIGHT",
    "STANDING_TRANS_Y",
    "FOOT_HEIGHT",
    "forward_kinematics",
    "relaxed_pose",
    "mirror_poses",
    "is_symmetric",
]
