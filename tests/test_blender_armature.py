"""SMPL-X armatures and the bulk keyframe writer on the real bpy wheel.

The key check: Blender's own evaluation of the keyed armature puts every joint where
egg_core's forward kinematics does, after the Y-up -> Z-up change (x, y, z) -> (x, -z, y).
"""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
pytestmark = pytest.mark.blender

from mathutils import Matrix  # noqa: E402

from egg_core.rotations import axis_angle_to_matrix  # noqa: E402
from egg_core.skeleton import SMPLX, STANDING_TRANS_Y, forward_kinematics  # noqa: E402
from eggesture_blender import armature, compat, keyframes  # noqa: E402

Z_UP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def _random_take(frames: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=0.6, size=(frames, SMPLX.num_joints, 3))
    poses[1] = poses[0] * -1.0  # a sign-flip-prone jump
    trans = rng.normal(scale=0.2, size=(frames, 3)) + [0.0, STANDING_TRANS_Y, 0.0]
    return poses, trans


def _evaluated_heads(obj, frame: int) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    world = evaluated.matrix_world
    return np.array([world @ evaluated.pose.bones[n].head for n in _bone_names(obj)])


def _bone_names(obj) -> list[str]:
    bone_map = armature.map_bones(obj)
    return [bone_map.bones[j] for j in range(SMPLX.num_joints)]


def _check_fk(obj, poses, trans, frames=(1, 2, 4)):
    expected, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(poses), trans)
    for f in frames:
        heads = _evaluated_heads(obj, f)
        np.testing.assert_allclose(heads, expected[f - 1] @ Z_UP.T, atol=1e-4)


def test_created_armature_has_smplx_bones_and_rest_frames(scene):
    obj = armature.create_smplx_armature(scene.collection, "SMPL-X", with_mesh=True)
    names = [b.name for b in obj.data.bones]
    assert len(names) == 56 and set(names) == {armature.ROOT_BONE, *SMPLX.joint_names}
    assert obj.data.bones["pelvis"].parent.name == armature.ROOT_BONE
    assert all(obj.data.bones[SMPLX.joint_names[j]].parent.name == SMPLX.joint_names[p]
               for j, p in enumerate(SMPLX.parents) if p >= 0)
    for bone in obj.data.bones:
        np.testing.assert_allclose(np.array(bone.matrix_local.to_3x3()), Z_UP, atol=1e-6)
    assert all(pb.rotation_mode == "QUATERNION" for pb in obj.pose.bones)
    rest = (SMPLX.rest_positions() + [0, STANDING_TRANS_Y, 0]) @ Z_UP.T
    np.testing.assert_allclose([obj.data.bones[n].head_local for n in SMPLX.joint_names], rest, atol=1e-6)
    foot = min(obj.data.bones["left_foot"].head_local.z, obj.data.bones["right_foot"].head_local.z)
    assert 0.0 <= foot < 0.05  # stands on the floor, upright (head above pelvis)
    assert obj.data.bones["head"].head_local.z > obj.data.bones["pelvis"].head_local.z + 0.4
    body = next(o for o in obj.children if o.type == "MESH")
    assert body.modifiers["Armature"].object == obj
    assert {g.name for g in body.vertex_groups} <= set(names)
    assert len(body.data.vertices) > 500


def test_evaluated_heads_match_egg_core_fk(scene):
    obj = armature.create_smplx_armature(scene.collection, with_mesh=False)
    poses, trans = _random_take(5)
    channels = armature.pose_channels(obj, poses, trans, range(SMPLX.num_joints), translate=True)
    keyframes.write_take(obj, "fk", channels, np.arange(1, 6))
    _check_fk(obj, poses, trans)


def _foreign_armature(scene, name: str):
    """An armature like an FBX import: object rotated to Z-up, Y-up bones pointing at their child,
    arbitrary rolls, Meshcapade eye names and no root bone."""
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    scene.collection.objects.link(obj)
    obj.rotation_euler = (np.pi / 2, 0, 0)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    rest = SMPLX.rest_positions()
    for j, joint in enumerate(SMPLX.joint_names):
        bone = arm.edit_bones.new(joint.replace("_smplhf", ""))
        bone.head = rest[j].tolist()
        kids = [k for k, p in enumerate(SMPLX.parents) if p == j]
        direction = rest[kids[0]] - rest[j] if kids else np.array([0.0, 0.05, 0.0])
        bone.tail = (rest[j] + direction).tolist()
        bone.roll = 0.3 * j
        if SMPLX.parents[j] >= 0:
            bone.parent = arm.edit_bones[SMPLX.joint_names[SMPLX.parents[j]].replace("_smplhf", "")]
    bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj


def test_foreign_rest_frames_get_a_basis_change(scene):
    obj = _foreign_armature(scene, "imported")
    bone_map = armature.map_bones(obj)
    assert not bone_map.missing and bone_map.bones[23] == "left_eye"
    poses, trans = _random_take(4, seed=1)
    channels = armature.pose_channels(obj, poses, trans, range(SMPLX.num_joints), translate=True)
    keyframes.write_take(obj, "foreign", channels, np.arange(1, 5))
    # heads in SMPL-X space: the object maps Y-up to Z-up itself, so compare in world space
    _check_fk(obj, poses, trans, frames=(1, 3))
    assert obj.matrix_world.to_3x3() != Matrix.Identity(3)


def test_quaternion_signs_are_made_continuous_and_takes_numbered(scene):
    obj = armature.create_smplx_armature(scene.collection, with_mesh=False)
    q = np.tile([0.0, 1.0, 0.0, 0.0], (6, 1)) * np.array([1, -1, 1, -1, -1, 1])[:, None]
    channels = {"left_elbow": keyframes.BoneChannels(rotation=q)}
    first = keyframes.write_take(obj, "clip", channels, np.arange(1, 7))
    second = keyframes.write_take(obj, "clip", channels, np.arange(1, 7))
    assert (first.name, second.name) == ("clip take 1", "clip take 2")
    curve = next(fc for fc in compat.iter_fcurves(second)
                 if fc.data_path.endswith("rotation_quaternion") and fc.array_index == 1)
    values = [kp.co[1] for kp in curve.keyframe_points]
    assert values == [1.0] * 6  # every flip undone
    assert obj.animation_data.nla_tracks[0].strips[0].action == first and first.use_fake_user


def test_writer_rejects_mismatched_lengths_without_leaving_an_action(scene):
    obj = armature.create_smplx_armature(scene.collection, with_mesh=False)
    before = len(bpy.data.actions)
    with pytest.raises(ValueError, match="rotation shape"):
        keyframes.write_take(obj, "bad", {"neck": keyframes.BoneChannels(rotation=np.ones((3, 4)))},
                             np.arange(5))
    assert len(bpy.data.actions) == before and obj.animation_data is None
