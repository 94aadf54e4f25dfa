"""The retarget target through the add-on's front ends: the Generate operator and batch.py.

Uses a tiny untrained checkpoint (tests/addon_fixtures.py): these tests check the plumbing
(Target choice, bone map on the armature, one undo step, the user's action kept, batch's
--armature/--bone-map); tests/test_blender_retarget.py checks the poses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.blender

import addon_fixtures  # noqa: E402
import blender_rigs  # noqa: E402

from eggesture_blender import batch, compat, retarget  # noqa: E402

tiny_checkpoint = addon_fixtures.tiny_checkpoint
addon = addon_fixtures.addon

WAV = blender_rigs.SHARED / "data" / "real" / "speech" / "talkshow_1st-page.wav"


@pytest.fixture
def wav() -> Path:
    if not WAV.exists() or not blender_rigs.RIGS_DIR.is_dir():
        pytest.skip(f"reference audio or rigs not found under {blender_rigs.SHARED} (put the project's "
                    "shared/ folder beside the repository)")
    return WAV


def _window_override():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "WINDOW")
    return bpy.context.temp_override(window=window, area=area, region=region)


def _snapshot(obj) -> dict:
    adt = obj.animation_data
    return {"actions": sorted(a.name for a in bpy.data.actions),
            "active": adt.action.name if adt and adt.action else None,
            "map": [(i.part, i.bone) for i in obj.eggesture_rig.bones]}


def test_generate_onto_a_character_is_one_undo_step_and_keeps_the_users_action(addon, wav):
    obj = blender_rigs.load_rig("quaternius_casual_female")
    name, mine = obj.name, blender_rigs.ensure_user_action(obj).name
    scene = bpy.context.scene
    settings = scene.eggesture
    settings.audio_source, settings.audio_file, settings.audio_start_frame = "FILE", str(wav), 1
    settings.armature, settings.target_mode = obj, "CHARACTER"
    settings.parts = {"UPPER", "HANDS", "LOWER", "ROOT"}
    with _window_override():
        bpy.ops.ed.undo_push(message="before gestures")
        before = _snapshot(bpy.data.objects[name])
        assert before["map"] == []  # never detected: Generate detects and keeps the map
        assert bpy.ops.eggesture.generate() == {"FINISHED"}
        bpy.ops.ed.undo_push(message="Generate Gestures")
        obj = bpy.data.objects[name]
        after = _snapshot(obj)
        assert after["active"] == "talkshow_1st-page take 1" and mine in after["actions"]
        assert ("left_upper_arm", "UpperArm.L") in after["map"]
        keys = {fc.data_path for fc in compat.iter_fcurves(obj.animation_data.action)}
        assert 'pose.bones["UpperArm.L"].rotation_quaternion' in keys
        assert 'pose.bones["Index2.R"].rotation_quaternion' in keys
        assert not any(pb.constraints for pb in obj.pose.bones)
        bpy.ops.ed.undo()  # one step back: no take, no stored map
        assert _snapshot(bpy.data.objects[name]) == before
        bpy.ops.ed.redo()
        assert _snapshot(bpy.data.objects[name])["active"] == "talkshow_1st-page take 1"


def test_generate_refuses_a_character_without_arms_naming_them(addon, wav):
    obj = blender_rigs.load_rig("simple_bvh")
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for name in ("RightHand", "RightLowArm", "RightUpArm"):
        obj.data.edit_bones.remove(obj.data.edit_bones[name])
    bpy.ops.object.mode_set(mode="OBJECT")
    settings = bpy.context.scene.eggesture
    settings.audio_source, settings.audio_file = "FILE", str(wav)
    settings.armature, settings.target_mode = obj, "CHARACTER"
    settings.parts = {"UPPER"}
    with pytest.raises(RuntimeError, match="right_upper_arm, right_forearm, right_hand"):
        bpy.ops.eggesture.generate()  # bpy.ops raises the operator's ERROR report
    assert obj.animation_data.action.name == "bvhio_example"  # untouched


def test_batch_animates_any_rig_with_a_bone_map_file(addon, wav, tiny_checkpoint, tmp_path):
    obj = blender_rigs.load_rig("mixamo_skeleton_bvh")
    name = obj.name
    scene_file = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene_file))
    # the user's own map: detected, then the fingers dropped by hand
    bone_map = json.loads(retarget.detect(obj).to_json())
    bone_map["parts"] = {k: v for k, v in bone_map["parts"].items()
                         if not any(f in k for f in ("thumb", "index", "middle", "ring", "pinky"))}
    map_file = tmp_path / "map.json"
    map_file.write_text(json.dumps(bone_map), encoding="utf-8")
    out = tmp_path / "out.blend"
    written = batch.run(["--blend", str(scene_file), "--audio", str(wav), "--armature", name,
                         "--bone-map", str(map_file), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                         "--parts", "UPPER,HANDS,ROOT", "--in-place"])
    assert written == ["talkshow_1st-page take 1"] and out.is_file()
    bpy.ops.wm.open_mainfile(filepath=str(out))
    obj = bpy.data.objects[name]
    action = obj.animation_data.action
    keyed = {fc.data_path.split('"')[1] for fc in compat.iter_fcurves(action)}
    assert "mixamorig:LeftForeArm" in keyed and "mixamorig:LeftHandIndex1" not in keyed
    assert [t.strips[0].action.name for t in obj.animation_data.nla_tracks] == ["test_freebvh"]
    hips_x = next(fc for fc in compat.iter_fcurves(action)
                  if fc.data_path == 'pose.bones["mixamorig:Hips"].location' and fc.array_index == 0)
    co = np.zeros(2 * len(hips_x.keyframe_points), np.float32)
    hips_x.keyframe_points.foreach_get("co", co)
    assert np.abs(co[1::2]).max() < 1e-6  # --in-place

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"parts": {"hips": "NoSuchBone"}}), encoding="utf-8")
    with pytest.raises(batch._sub("operators").EggError, match="NoSuchBone"):
        batch.run(["--blend", str(scene_file), "--audio", str(wav), "--armature", name,
                   "--bone-map", str(bad), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "x.blend")])
    assert not (tmp_path / "x.blend").exists()
