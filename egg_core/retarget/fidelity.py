"""How closely a retargeted rig follows the SMPL-X source: world directions of mapped limbs.

A *segment* is what is compared, on both rigs alike: from a point on one bone to a point
on another (or the same) bone, both carried rigidly by their bones. For a one-bone part it
runs from the bone's head to where the part points (the next part's head, else its tail);
for the spine and neck it runs from the chain's first head to its end (the neck's, the
head's head), so a two-bone spine is compared with SMPL-X's three as a whole. The target
side is evaluated by whoever poses the rig (Blender's depsgraph in the add-on tests, the
file's own forward kinematics for BVH); this module says which points to evaluate and
computes the source side and the angles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egg_core.motion import Motion
from egg_core.retarget.bonemap import BoneMap
from egg_core.retarget.rig import Rig, smplx_rig
from egg_core.retarget.solve import _aim_point, aim_part, smplx_bone_map
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import SMPLX, forward_kinematics

__all__ = ["MEASURED_PARTS", "Segment", "angles_deg", "segments", "source_directions"]

#: The limb bones whose directions the fidelity figures report (both sides).
MEASURED_PARTS = ("spine", "neck", "head") + tuple(
    f"{s}_{p}" for s in ("left", "right") for p in ("upper_arm", "forearm", "hand", "thigh", "shin"))


@dataclass(frozen=True)
class Segment:
    """From ``start`` (rig space) on bone ``start_bone`` to ``end`` on bone ``end_bone``."""

    part: str
    start_bone: str
    start: np.ndarray
    end_bone: str
    end: np.ndarray


def _segment(rig: Rig, bone_map: BoneMap, name: str, aim: str | None) -> Segment:
    bones = bone_map.parts[name]
    first, last = rig.index(bones[0]), rig.index(bones[-1])
    end_body = _aim_point(rig, bone_map, name, last, aim)
    to_rig = rig.to_body.T / rig.metres_per_unit
    return Segment(name, bones[0], rig.heads[first].copy(), bones[-1], end_body @ to_rig.T)


def segments(rig: Rig, bone_map: BoneMap, parts: tuple[str, ...] = MEASURED_PARTS) -> list[Segment]:
    """The target rig's segments for the mapped ``parts`` (in rig space)."""
    return [_segment(rig, bone_map, p, aim_part(bone_map, p)) for p in parts if p in bone_map.parts]


def source_directions(motion: Motion, target_map: BoneMap, parts: tuple[str, ...] = MEASURED_PARTS
                      ) -> dict[str, np.ndarray]:
    """SMPL-X's direction ``(T, 3)`` (body frame) of every segment the target has mapped."""
    src, smap = smplx_rig(), smplx_bone_map()
    positions, rotations = forward_kinematics(SMPLX, axis_angle_to_matrix(motion.poses.astype(np.float64)))

    def carried(bone: str, point: np.ndarray) -> np.ndarray:
        j = SMPLX.index(bone)
        return positions[:, j] + np.einsum("tij,j->ti", rotations[:, j], point - src.heads[j])

    out = {}
    for name in parts:
        if name not in target_map.parts:
            continue
        seg = _segment(src, smap, name, aim_part(target_map, name))
        if name == "spine" and "neck" not in target_map.parts:  # the target's spine reaches the head,
            seg = Segment(name, seg.start_bone, seg.start, "neck", src.heads[SMPLX.index("head")])  # on the neck
        out[name] = carried(seg.end_bone, seg.end) - carried(seg.start_bone, seg.start)
    return out


def angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between matching rows of two ``(T, 3)`` direction arrays."""
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
