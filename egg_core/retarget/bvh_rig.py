"""BVH skeletons as retarget targets and sources.

Two uses, one module: ``python -m egg_core.generate ... --bvh out.bvh --target-skeleton
their.bvh`` writes the generated motion on the user's own skeleton (their joint names,
offsets, channel order, end sites and units) for Unity, Unreal or MotionBuilder, and the
training data reader turns a mocap BVH of any naming into SMPL-X poses. Both go through
the same bone detection and solver as the Blender add-on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egg_core.formats.bvh import BvhMotion, read_bvh, write_bvh
from egg_core.motion import Motion
from egg_core.retarget.bonemap import BoneMap, BoneMapError
from egg_core.retarget.detect import detect_bone_map
from egg_core.retarget.rig import Rig, rig_from_skeleton, smplx_rig
from egg_core.retarget.solve import (
    RetargetPlan,
    plan_retarget,
    retarget_motion,
    smplx_bone_map,
)
from egg_core.rotations import matrix_to_axis_angle
from egg_core.skeleton import SMPLX

__all__ = [
    "BvhTarget",
    "UPPER_BODY_PARTS",
    "bvh_to_smplx_motion",
    "prepare_bvh_target",
    "rig_from_bvh",
    "write_retargeted_bvh",
]

#: What a mocap BVH must have for its motion to be read as SMPL-X (legs may be missing).
UPPER_BODY_PARTS = ("hips", "head", "left_upper_arm", "left_forearm", "left_hand",
                    "right_upper_arm", "right_forearm", "right_hand")


def rig_from_bvh(bvh: BvhMotion) -> Rig:
    """The BVH skeleton as a :class:`Rig` (metres, as read; identity rest orientations)."""
    return rig_from_skeleton(bvh.skeleton, bvh.end_sites)


def _floor_lift(bvh: BvhMotion) -> float:
    """How far the rest pose must rise for its lowest point to stand on ``y = 0``."""
    rest = bvh.skeleton.rest_positions()
    points = [rest] + [rest[j] + site for j, site in bvh.end_sites.items()]
    return max(0.0, -float(np.vstack(points)[:, 1].min()))


@dataclass(frozen=True)
class BvhTarget:
    """A user's BVH skeleton, read and mapped, ready for :func:`write_retargeted_bvh`."""

    path: Path
    bvh: BvhMotion
    bone_map: BoneMap
    plan: RetargetPlan


def prepare_bvh_target(path: str | os.PathLike[str], bone_map: BoneMap | None = None) -> BvhTarget:
    """Read ``path``, find (or check) its bone map and plan the retarget -- every check that
    can fail, done before any motion is generated."""
    bvh = read_bvh(path)
    rig = rig_from_bvh(bvh)
    mapping = bone_map if bone_map is not None else detect_bone_map(rig)
    mapping.check_bones(rig.bone_names, f"the target skeleton {Path(path).name}")
    mapping.require(rig_name=f"The target skeleton {Path(path).name}")
    root = rig.bone_names[[j for j, p in enumerate(rig.parents) if p < 0][0]]
    plan = plan_retarget(rig, mapping, root_bone=root)  # BVH carries positions on its root only
    return BvhTarget(Path(path), bvh, mapping, plan)


def write_retargeted_bvh(motion: Motion, target: BvhTarget, out_path: str | os.PathLike[str],
                         overwrite: bool = False, in_place: bool = False) -> None:
    """Write ``motion`` as BVH on ``target``'s skeleton: its joint names, offsets, rest pose,
    channel order, end sites and units. Unmapped joints keep their rest rotation."""
    bvh, plan = target.bvh, target.plan
    moved = retarget_motion(motion, plan, in_place=in_place)
    n = bvh.skeleton.num_joints
    local = np.broadcast_to(np.eye(3), (motion.num_frames, n, 3, 3)).copy()
    for k, bone in enumerate(moved.bones):
        local[:, bvh.skeleton.index(bone)] = moved.matrices[:, k]
    root = np.asarray(bvh.skeleton.offsets[0], dtype=np.float64) + np.array([0.0, _floor_lift(bvh), 0.0])
    positions = root + (moved.location if moved.location is not None else 0.0)
    write_bvh(out_path, bvh.skeleton, local, np.broadcast_to(positions, (motion.num_frames, 3)),
              motion.fps, order=bvh.order or "ZXY", overwrite=overwrite, scale=bvh.scale,
              end_sites=bvh.end_sites)


def _bvh_world(bvh: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations ``(T, J, 3, 3)`` and positions ``(T, J, 3)`` of every BVH joint."""
    parents = bvh.skeleton.parents
    rot = np.asarray(bvh.local_rotmats, dtype=np.float64)
    trans = np.asarray(bvh.local_translations, dtype=np.float64)
    g = np.empty_like(rot)
    p = np.empty_like(trans)
    for j, parent in enumerate(parents):  # BVH joints are stored parents first
        if parent < 0:
            g[:, j], p[:, j] = rot[:, j], trans[:, j]
        else:
            g[:, j] = g[:, parent] @ rot[:, j]
            p[:, j] = p[:, parent] + np.einsum("tij,tj->ti", g[:, parent], trans[:, j])
    return g, p


def bvh_to_smplx_motion(bvh: BvhMotion, bone_map: BoneMap | None = None) -> Motion:
    """Read a mocap BVH of any joint naming as an SMPL-X :class:`Motion`.

    Joints are matched by :func:`detect_bone_map` (or ``bone_map``); each matched SMPL-X
    joint gets the world direction of its BVH bone with both rest poses corrected, chains of
    other lengths (four spine joints, two necks) are spread over SMPL-X's, unmatched SMPL-X
    joints keep their rest rotation. The pelvis position is scaled by the ratio of leg
    lengths (the floor of the file at ``y = 0`` stays the floor).
    """
    rig = rig_from_bvh(bvh)
    mapping = bone_map if bone_map is not None else detect_bone_map(rig)
    mapping.check_bones(rig.bone_names, f"BVH skeleton {bvh.skeleton.name!r}")
    missing = mapping.missing(UPPER_BODY_PARTS)
    if missing:
        raise BoneMapError(
            f"BVH skeleton {bvh.skeleton.name!r}: no joint found for {', '.join(missing)} "
            f"(joints: {', '.join(rig.bone_names[:12])}{' ...' if rig.num_bones > 12 else ''}); "
            "rename the joints or export SMPL-X joint names"
        )
    target_map = smplx_bone_map().restricted(mapping.parts)
    plan = plan_retarget(smplx_rig(), target_map, source=rig, source_map=mapping)
    world, positions = _bvh_world(bvh)
    u = plan.source.to_body
    deltas = plan.world_deltas(np.einsum("ij,tkjl,ml->tkim", u, world, u))
    local = plan.local_rotations(deltas)
    rotmats = np.broadcast_to(np.eye(3), (bvh.num_frames, SMPLX.num_joints, 3, 3)).copy()
    for k, joint in enumerate(plan.bones):
        rotmats[:, SMPLX.index(joint)] = local[:, k]
    hips = rig.index(mapping.parts["hips"][0])
    pelvis = plan.root_scale * (positions[:, hips] @ u.T)
    trans = pelvis - SMPLX.offsets[0]
    poses = np.asarray(matrix_to_axis_angle(rotmats), dtype=np.float32)
    return Motion(poses=poses, trans=trans.astype(np.float32), fps=float(bvh.fps))
