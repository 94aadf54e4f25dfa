"""Real characters in Blender for the retargeting tests and bench/retarget.py.

Loads the rigs of ``../shared/data/rigs`` the way a user brings them in (glTF import, BVH
import, opening the .blend), generates a Rigify rig, and reads what a keyed take really
does: Blender's evaluated pose bones, compared with SMPL-X's world directions.
Needs bpy; callers skip when it or the shared folder is missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from egg_core.motion import Motion
from egg_core.retarget import BoneMap
from egg_core.retarget.fidelity import MEASURED_PARTS, angles_deg, segments, source_directions
from egg_core.retarget.presets import rigify_deform_bones

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
RIGS_DIR = SHARED / "data" / "rigs"
BEAT2_TAKE = SHARED / "data" / "real" / "beat2" / "2_scott_0_1_1.npz"

#: rig folder -> (file, finger bones the README of the folder lists)
RIG_FILES = {
    "quaternius_casual_female": ("modular_women_Casual.glb", 30),
    "quaternius_knight": ("single_knight_pack_KnightCharacter.glb", 8),
    "robot_expressive": ("RobotExpressive.glb", 16),
    "gdquest_mannequiny": ("mannequiny-0.3.0.glb", 24),
    "vrm_names_tpose_blend": ("basic_armature.blend", 30),
    "vrm_names_apose_blend": ("rest_a_pose_t_position_rest.blend", 30),
    "mixamo_skeleton_bvh": ("test_freebvh.bvh", 30),
    "simple_bvh": ("bvhio_example.bvh", 0),
}


def rig_path(name: str) -> Path:
    return RIGS_DIR / name / RIG_FILES[name][0]


def load_rig(name: str) -> bpy.types.Object:
    """A fresh scene holding the rig ``name`` as a user would import it; returns its armature."""
    path = rig_path(name)
    if path.suffix == ".blend":
        bpy.ops.wm.open_mainfile(filepath=str(path))
    else:
        bpy.ops.wm.read_homefile(use_empty=True)
        if path.suffix == ".glb":
            bpy.ops.import_scene.gltf(filepath=str(path))
        else:
            bpy.ops.import_anim.bvh(filepath=str(path))
    return next(o for o in bpy.data.objects if o.type == "ARMATURE")


def save_generated_rigify(path: Path) -> Path:
    """Generate Rigify's human rig from its metarig (as a user does) and save it to ``path``."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    bpy.data.objects.remove(bpy.data.objects["metarig"])
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def generate_rigify_file(path: Path) -> Path:
    """:func:`save_generated_rigify` in a separate Python process.

    The Blender 4.2 wheel crashes when its interpreter exits after Rigify has generated a
    rig (the rig itself is fine, and opening the saved file is fine), so the generation runs
    where that crash harms nothing; the file it leaves behind is what counts.
    """
    code = ("import sys, bpy; bpy.ops.wm.read_homefile(use_empty=True); "
            "bpy.ops.preferences.addon_enable(module='rigify'); bpy.ops.object.armature_human_metarig_add(); "
            "bpy.ops.pose.rigify_generate(); bpy.data.objects.remove(bpy.data.objects['metarig']); "
            "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1]); print('SAVED')")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=600)
    if "SAVED" not in proc.stdout or not path.is_file():
        raise RuntimeError(f"Rigify generation failed: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return path


def load_rigify(path: Path) -> bpy.types.Object:
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return bpy.data.objects["rig"]


def ensure_user_action(obj: bpy.types.Object) -> bpy.types.Action:
    """The rig's current action; a small one of the user's own (two keys) when it has none."""
    adt = obj.animation_data
    if adt is not None and adt.action is not None:
        return adt.action
    bone = obj.pose.bones[0]
    bone.rotation_mode = "QUATERNION"
    bone.keyframe_insert("rotation_quaternion", frame=1)
    bone.rotation_quaternion = (0.9, 0.1, 0.0, 0.0)
    bone.keyframe_insert("rotation_quaternion", frame=10)
    return obj.animation_data.action


def action_fingerprint(action: bpy.types.Action) -> list[tuple[str, int, tuple[float, ...]]]:
    from eggesture_blender import compat

    out = []
    for fc in compat.iter_fcurves(action):
        co = np.zeros(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out.append((fc.data_path, fc.array_index, tuple(np.round(co, 5))))
    return sorted(out)


def measurement_map(obj: bpy.types.Object, keyed_map: BoneMap) -> BoneMap:
    """What to measure: the keyed bones, except on Rigify the deform bones the controls drive."""
    if keyed_map.convention == "rigify_fk":
        present = set(obj.data.bones.keys())
        parts = {p: b for p, b in rigify_deform_bones(keyed_map.parts).items() if all(x in present for x in b)}
        return BoneMap(parts)
    return keyed_map


def evaluated_errors(obj: bpy.types.Object, measure: BoneMap, to_body: np.ndarray, motion: Motion,
                     first_frame: int = 1, step: int = 1) -> dict[str, np.ndarray]:
    """Per measured part, the angle (degrees) on each evaluated frame between the part's
    direction in Blender's evaluated pose and SMPL-X's, both in the rig's body frame.

    ``to_body`` is the rig-space -> body-frame rotation the retarget used (its plan's
    ``target.to_body``); frame ``first_frame + k`` shows motion frame ``k``.
    """
    from eggesture_blender.retarget import rig_from_armature

    rig = rig_from_armature(obj)
    segs = segments(rig, measure, MEASURED_PARTS)
    source = source_directions(motion, measure, MEASURED_PARTS)
    rest_inv = {b.name: b.matrix_local.inverted() for b in obj.data.bones}
    out: dict[str, list[float]] = {s.part: [] for s in segs}
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for k in range(0, motion.num_frames, step):
        bpy.context.scene.frame_set(first_frame + k)
        pose = obj.evaluated_get(depsgraph).pose.bones
        for s in segs:
            end = pose[s.end_bone].matrix @ rest_inv[s.end_bone] @ Vector(s.end)
            start = pose[s.start_bone].matrix @ rest_inv[s.start_bone] @ Vector(s.start)
            direction = to_body @ np.array(end - start)
            out[s.part].append(float(angles_deg(direction[None], source[s.part][k][None])[0]))
    return {p: np.array(v) for p, v in out.items()}
