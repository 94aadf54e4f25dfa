"""Retargeting: SMPL-X motion onto any humanoid rig, and any mocap skeleton onto SMPL-X.

numpy only (no bpy, no torch), so the Blender add-on, the generation CLI and the training
data reader share one implementation. The pieces, in the order they are used:

- :mod:`.names` -- bone names reduced to side + base (prefixes, separators, case, L/R);
- :mod:`.parts` -- the body parts a map speaks of and their SMPL-X joints;
- :mod:`.presets` -- naming conventions (Mixamo, Rigify, VRM/VRoid, Unreal, Character
  Creator, MakeHuman, Quaternius, mocap BVH, SMPL-X) and finger names;
- :mod:`.rig` -- a rig's rest pose in a program-neutral form;
- :mod:`.bonemap` / :mod:`.detect` -- the part -> bone map, found from names and structure;
- :mod:`.solve` -- world-space rotation deltas with rest-pose correction, chains spread by
  position, root motion scaled by leg length;
- :mod:`.bvh_rig` -- BVH skeletons as targets (``--target-skeleton``) and as sources.

See docs/RETARGET.md for the method and its measured fidelity.
"""

from __future__ import annotations

from egg_core.retarget.bonemap import BoneMap, BoneMapError, read_bone_map
from egg_core.retarget.bvh_rig import (
    BvhTarget,
    bvh_to_smplx_motion,
    prepare_bvh_target,
    rig_from_bvh,
    write_retargeted_bvh,
)
from egg_core.retarget.detect import CONVENTION_CHOICES, detect_bone_map, detect_convention
from egg_core.retarget.parts import PART_NAMES, PARTS, REQUIRED_PARTS, parts_for_joints
from egg_core.retarget.presets import CONVENTION_LABELS
from egg_core.retarget.rig import Rig, RigError, rig_from_skeleton, smplx_rig
from egg_core.retarget.solve import (
    Retargeted,
    RetargetPlan,
    aim_part,
    aim_vector,
    pelvis_displacement,
    plan_retarget,
    retarget_motion,
    smplx_bone_map,
)

__all__ = [
    "BoneMap",
    "BoneMapError",
    "BvhTarget",
    "CONVENTION_CHOICES",
    "CONVENTION_LABELS",
    "PARTS",
    "PART_NAMES",
    "REQUIRED_PARTS",
    "RetargetPlan",
    "Retargeted",
    "Rig",
    "RigError",
    "aim_part",
    "aim_vector",
    "bvh_to_smplx_motion",
    "detect_bone_map",
    "detect_convention",
    "parts_for_joints",
    "pelvis_displacement",
    "plan_retarget",
    "prepare_bvh_target",
    "read_bone_map",
    "retarget_motion",
    "rig_from_bvh",
    "rig_from_skeleton",
    "smplx_bone_map",
    "smplx_rig",
    "write_retargeted_bvh",
]
