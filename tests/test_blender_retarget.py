"""Gestures on a user's own character, on the real bpy wheel.

Each rig of ``../shared/data/rigs`` (Mixamo, Quaternius, VRM T- and A-pose, Unreal-like,
plain BVH) and a Rigify rig generated here is imported as a user would, Detect runs
(the operator), 20 s of a real BEAT2 take are retargeted and keyed by the add-on, and
Blender's own evaluation of every frame is compared with SMPL-X: each mapped limb must
point within 5 degrees of its SMPL-X bone. The user's existing action must survive.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
pytestmark = pytest.mark.blender

import addon_utils  # noqa: E402  (ships with bpy)
import blender_rigs  # noqa: E402

from egg_core.formats.beat2 import read_beat2_npz  # noqa: E402
from egg_core.motion import Motion  # noqa: E402
from egg_core.retarget import plan_retarget  # noqa: E402
from eggesture_blender import compat, retarget  # noqa: E402

SECONDS = 20.0
ALL_JOINTS = range(55)


@pytest.fixture(scope="module")
def addon():
    """The add-on enabled as Blender enables it (no model needed: nothing is generated here)."""
    addon_utils.enable("eggesture_blender", default_set=True)
    yield
    addon_utils.disable("eggesture_blender", default_set=True)


@pytest.fixture(scope="module")
def motion() -> Motion:
    if not blender_rigs.BEAT2_TAKE.exists():
        pytest.skip(f"the BEAT2 take is not at {blender_rigs.BEAT2_TAKE} (put the project's shared/ folder "
                    "beside the repository)")
    take = read_beat2_npz(blender_rigs.BEAT2_TAKE)
    n = int(SECONDS * take.fps)
    return Motion(poses=take.poses[:n], trans=take.trans[:n], fps=take.fps)


def _require_rigs() -> None:
    if not blender_rigs.RIGS_DIR.is_dir():
        pytest.skip(f"the rigs folder {blender_rigs.RIGS_DIR} is missing (put the project's shared/ folder "
                    "beside the repository to run the real-rig tests)")


@pytest.fixture(scope="module")
def rigify_file(addon, tmp_path_factory) -> Path:
    return blender_rigs.generate_rigify_file(tmp_path_factory.mktemp("rigify") / "rigify.blend")


def _detect(obj) -> object:
    bpy.context.scene.eggesture.armature = obj
    bpy.context.scene.eggesture.target_mode = "CHARACTER"
    assert bpy.ops.eggesture.detect_bones() == {"FINISHED"}
    return retarget.stored_bone_map(obj)


def _retarget_and_check(obj, motion: Motion) -> dict[str, np.ndarray]:
    """Detect, key a take over the user's action, check the action survived; the fidelity per part."""
    previous = blender_rigs.ensure_user_action(obj)
    before = blender_rigs.action_fingerprint(previous)
    constraints = sum(len(pb.constraints) for pb in obj.pose.bones)
    bone_map = _detect(obj)
    assert bone_map.missing() == (), f"{obj.name}: Detect left {bone_map.missing()} unmapped"
    frames = 1.0 + np.arange(motion.num_frames)
    action = retarget.apply_take(obj, motion.poses, motion.trans, frames, ALL_JOINTS, base_name="speech",
                                 fps=motion.fps)
    assert obj.animation_data.action == action and action.name == "speech take 1"
    assert bpy.data.actions.get(previous.name) is previous and previous.use_fake_user
    assert blender_rigs.action_fingerprint(previous) == before  # not a key of it changed
    assert any(t.strips and t.strips[0].action == previous and t.mute for t in obj.animation_data.nla_tracks)
    assert sum(len(pb.constraints) for pb in obj.pose.bones) == constraints  # nothing left behind
    plan = plan_retarget(retarget.rig_from_armature(obj), bone_map)
    return blender_rigs.evaluated_errors(obj, blender_rigs.measurement_map(obj, bone_map),
                                         plan.target.to_body, motion)


@pytest.mark.parametrize("name", sorted(blender_rigs.RIG_FILES))
def test_real_rig_follows_smplx_within_5_degrees(addon, motion, name):
    _require_rigs()
    obj = blender_rigs.load_rig(name)
    errors = _retarget_and_check(obj, motion)
    assert set(errors) >= {"head", "left_upper_arm", "right_forearm", "left_hand", "left_thigh", "right_shin"}
    worst = {part: float(e.max()) for part, e in errors.items()}
    print(f"{name}: worst {max(worst.values()):.3f} deg", worst)
    assert max(worst.values()) < 5.0, worst
    bone_map = retarget.stored_bone_map(obj)
    assert bone_map.count("finger") == blender_rigs.RIG_FILES[name][1]


def test_generated_rigify_keys_fk_controls_and_switches_to_fk(addon, motion, rigify_file):
    obj = blender_rigs.load_rigify(rigify_file)
    errors = _retarget_and_check(obj, motion)  # measured on the DEF bones the mesh follows
    worst = {part: float(e.max()) for part, e in errors.items()}
    print("rigify: worst", worst)
    assert max(worst.values()) < 5.0, worst
    bone_map = retarget.stored_bone_map(obj)
    assert bone_map.convention == "rigify_fk" and bone_map.parts["left_upper_arm"] == ("upper_arm_fk.L",)
    keyed = {fc.data_path.split('"')[1] for fc in compat.iter_fcurves(obj.animation_data.action)}
    assert {"upper_arm_fk.L", "forearm_fk.R", "hand_fk.L", "torso", "thigh_fk.L", "f_index.02.L"} <= keyed
    assert not keyed & {"upper_arm_ik.L", "hand_ik.L", "DEF-upper_arm.L"}
    bpy.context.scene.frame_set(100)
    assert obj.pose.bones["upper_arm_parent.L"]["IK_FK"] == 1.0  # FK for the take
    assert obj.pose.bones["thigh_parent.R"]["IK_FK"] == 1.0


def test_missing_required_bones_are_named(addon):
    """A character without a left forearm and hand: Detect warns, Generate refuses, naming them."""
    _require_rigs()
    obj = blender_rigs.load_rig("simple_bvh")
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for name in ("LeftHand", "LeftLowArm"):
        obj.data.edit_bones.remove(obj.data.edit_bones[name])
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.context.scene.eggesture.armature = obj
    assert bpy.ops.eggesture.detect_bones() == {"FINISHED"}
    assert {"left_forearm", "left_hand"} <= set(retarget.stored_bone_map(obj).missing())
    with pytest.raises(retarget.RetargetError, match="left_forearm, left_hand") as info:
        retarget.bone_map_for(obj, ALL_JOINTS, True)
    assert "Bone Map" in str(info.value)
    lower_only = [0, 1, 2, 4, 5, 7, 8, 10, 11]
    assert retarget.bone_map_for(obj, lower_only, True).parts["left_thigh"] == ("LeftUpLeg",)  # legs suffice


def test_edited_bone_map_is_kept_on_the_armature(addon, tmp_path):
    _require_rigs()
    obj = blender_rigs.load_rig("mixamo_skeleton_bvh")
    _detect(obj)
    rows = obj.eggesture_rig.bones
    row = next(r for r in rows if r.part == "left_eye")
    rows.remove(list(rows).index(row))  # the user drops the eye from the map
    name = obj.name
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "mine.blend"))
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "mine.blend"))
    again = retarget.stored_bone_map(bpy.data.objects[name])
    assert "left_eye" not in again.parts and again.parts["left_hand"] == ("mixamorig:LeftHand",)


def test_in_place_and_partial_parts(addon, motion):
    _require_rigs()
    obj = blender_rigs.load_rig("quaternius_casual_female")
    _detect(obj)
    frames = 1.0 + np.arange(motion.num_frames)
    upper = [j for j in range(55) if j not in (0, 1, 2, 4, 5, 7, 8, 10, 11)]
    action = retarget.apply_take(obj, motion.poses, motion.trans, frames, upper, translate=True,
                                 in_place=True, base_name="speech", fps=motion.fps)
    curves = {(fc.data_path, fc.array_index): fc for fc in compat.iter_fcurves(action)}
    root = retarget.stored_bone_map(obj).root or "Root"
    x = curves[(f'pose.bones["{root}"].location', 0)]
    values = np.zeros(2 * len(x.keyframe_points), np.float32)
    x.keyframe_points.foreach_get("co", values)
    assert np.abs(values[1::2]).max() < 1e-6  # in place: no travel
    thigh = curves[('pose.bones["UpperLeg.L"].rotation_quaternion', 0)]
    assert len(thigh.keyframe_points) == 2  # the legs are held at rest, not animated


class _Layout:
    """Stands in for UILayout in a draw call; records what is drawn and checks every reference."""

    def __init__(self, log: list):
        self.log = log
        self.active = self.enabled = True
        self.use_property_split = self.use_property_decorate = False
        self.scale_y = 1.0

    def _child(self, *args, **kwargs):
        return _Layout(self.log)

    column = row = box = grid_flow = _child

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, name
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kwargs):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties
        self.log.append(("prop_search", name, getattr(data, name)))

    def operator(self, idname, **kwargs):
        category, name = idname.split(".")
        assert getattr(getattr(bpy.ops, category), name).idname() == f"{category.upper()}_OT_{name}"
        self.log.append(("operator", idname))
        return type("Props", (), {})()

    def template_list(self, list_type, list_id, data, prop, active_data, active_prop, **kwargs):
        assert hasattr(bpy.types, list_type) and prop in data.bl_rna.properties
        assert active_prop in active_data.bl_rna.properties
        self.log.append(("list", list_type, len(getattr(data, prop))))

    def progress(self, **kwargs):
        self.log.append(("progress",))

    def label(self, text="", icon="NONE"):
        self.log.append(("label", text))

    def separator(self, **kwargs):
        pass


def test_panel_shows_the_target_choice_and_the_bone_map(addon):
    from types import SimpleNamespace

    from eggesture_blender import panel

    _require_rigs()
    obj = blender_rigs.load_rig("mixamo_skeleton_bvh")
    settings = bpy.context.scene.eggesture
    settings.armature, settings.target_mode = obj, "CHARACTER"
    log: list = []
    panel.EGGESTURE_PT_main.draw(SimpleNamespace(layout=_Layout(log)), bpy.context)
    assert ("prop", "target_mode") in log and ("operator", "eggesture.detect_bones") in log
    assert ("label", "Not detected yet (Generate detects it too)") in log
    assert ("operator", "eggesture.create_armature") not in log
    _detect(obj)
    log.clear()
    panel.EGGESTURE_PT_main.draw(SimpleNamespace(layout=_Layout(log)), bpy.context)
    rows = len(obj.eggesture_rig.bones)
    assert ("list", "EGGESTURE_UL_bone_map", rows) in log and rows == 54
    assert ("label", "54 bones mapped, 30 finger bones (Mixamo)") in log
    item = obj.eggesture_rig.bones[0]
    log.clear()
    panel.EGGESTURE_UL_bone_map.draw_item(None, bpy.context, _Layout(log), obj.eggesture_rig, item, 0, None, "")
    assert log == [("label", "hips"), ("prop_search", "bone", "mixamorig:Hips")]
    settings.target_mode = "SMPLX"
    log.clear()
    panel.EGGESTURE_PT_main.draw(SimpleNamespace(layout=_Layout(log)), bpy.context)
    assert ("operator", "eggesture.create_armature") in log and ("operator", "eggesture.detect_bones") not in log


def test_bone_map_rows_can_be_added_and_removed(addon):
    _require_rigs()
    obj = blender_rigs.load_rig("simple_bvh")
    _detect(obj)
    rows = obj.eggesture_rig.bones
    count = len(rows)
    assert bpy.ops.eggesture.bone_map_add(part="left_toe") == {"FINISHED"}
    assert len(rows) == count + 1 and rows[-1].part == "left_toe" and rows[-1].bone == ""
    rows[-1].bone = "LeftFoot"  # picked in the list: but the foot is already mapped -> inconsistent
    with pytest.raises(retarget.RetargetError, match="LeftFoot"):
        retarget.stored_bone_map(obj)
    assert bpy.ops.eggesture.bone_map_remove() == {"FINISHED"}
    assert len(rows) == count and retarget.stored_bone_map(obj).parts["left_foot"] == ("LeftFoot",)
