"""Retargeting in egg_core (no bpy): bone names, detection, the solver, BVH targets.

The rigs are SMPL-X's own body rebuilt the ways real rigs differ (tests/retarget_rigs.py),
posed the way Blender poses an armature; a retarget is right when every mapped bone
points in the world where its SMPL-X bone points, frame by frame.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from retarget_rigs import MIXAMO, UNREAL, build_rig, evaluate

from egg_core.errors import EggError
from egg_core.formats.bvh import read_bvh, write_bvh
from egg_core.motion import Motion
from egg_core.retarget import (
    BoneMap,
    BoneMapError,
    bvh_to_smplx_motion,
    detect_bone_map,
    plan_retarget,
    prepare_bvh_target,
    read_bone_map,
    retarget_motion,
    rig_from_bvh,
    smplx_rig,
    write_retargeted_bvh,
)
from egg_core.retarget.names import is_helper, parse_name
from egg_core.retarget.solve import aim_part, aim_vector, smplx_bone_map
from egg_core.rotations import axis_angle_to_matrix, rotation_between
from egg_core.skeleton import SMPLX, STANDING_TRANS_Y, forward_kinematics

LIMBS = ("left_upper_arm", "left_forearm", "left_hand", "right_upper_arm", "right_forearm",
         "right_hand", "left_thigh", "left_shin", "right_thigh", "right_shin", "head",
         "left_index1", "right_thumb2", "left_shoulder", "left_foot")


def _motion(frames: int = 40, seed: int = 0, scale: float = 0.5) -> Motion:
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=scale, size=(frames, 55, 3))
    trans = rng.normal(scale=0.1, size=(frames, 3)) + [0.0, STANDING_TRANS_Y, 0.0]
    return Motion(poses=poses, trans=trans, fps=30.0)


def _source_direction(motion: Motion, part_name: str, aim: str | None) -> np.ndarray:
    _, glob = forward_kinematics(SMPLX, axis_angle_to_matrix(motion.poses.astype(np.float64)))
    j = SMPLX.index(smplx_bone_map().parts[part_name][0])
    return np.einsum("tij,j->ti", glob[:, j], aim_vector(smplx_rig(), smplx_bone_map(), part_name, aim))


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _errors(rig, bone_map, motion, parts=LIMBS) -> dict[str, float]:
    """Worst angle (degrees) over frames between each mapped part's posed target and source direction."""
    plan = plan_retarget(rig, bone_map)
    moved = retarget_motion(motion, plan)
    world, _ = evaluate(rig, moved.bones, moved.matrices)
    out = {}
    for name in parts:
        if name not in bone_map.parts:
            continue
        b = rig.index(bone_map.parts[name][0])
        aim = aim_part(bone_map, name)
        rest = plan.target.to_body.T @ aim_vector(plan.target, bone_map, name, aim) / rig.metres_per_unit
        posed = np.einsum("tij,jk,k->ti", world[:, b], rig.rest_rotations[b].T, rest)
        out[name] = float(_angle(posed @ plan.target.to_body.T, _source_direction(motion, name, aim)).max())
    return out


# --------------------------------------------------------------------------- the smallest rotation


@settings(max_examples=60, deadline=None)
@given(a=st.lists(st.floats(-1, 1), min_size=3, max_size=3), b=st.lists(st.floats(-1, 1), min_size=3, max_size=3))
def test_rotation_between_is_the_smallest_rotation_onto_the_target(a, b):
    a, b = np.array(a), np.array(b)
    if np.linalg.norm(a) < 1e-3 or np.linalg.norm(b) < 1e-3:
        return
    R = rotation_between(a, b)
    ua, ub = a / np.linalg.norm(a), b / np.linalg.norm(b)
    np.testing.assert_allclose(R @ ua, ub, atol=1e-9)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    angle = np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))
    assert angle == pytest.approx(_angle(ua, ub), abs=1e-6)  # no twist added about the bone


def test_rotation_between_opposite_zero_and_torch():
    torch = pytest.importorskip("torch")
    flip = rotation_between([0.0, 1.0, 0.0], [0.0, -1.0, 0.0])
    np.testing.assert_allclose(flip @ [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(rotation_between([0.0, 0.0, 0.0], [1.0, 0.0, 0.0]), np.eye(3))
    a, b = np.random.default_rng(0).normal(size=(2, 5, 3))
    ours = rotation_between(torch.tensor(a), torch.tensor(b))
    assert isinstance(ours, torch.Tensor)
    np.testing.assert_allclose(ours.numpy(), rotation_between(a, b), atol=1e-12)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name, side, base", [
    ("mixamorig:LeftHandIndex1", "left", "handindex1"), ("DEF-upper_arm.L", "left", "upperarm"),
    ("CC_Base_L_Upperarm", "left", "upperarm"), ("J_Bip_C_Hips", "", "hips"),
    ("J_Bip_R_LowerArm", "right", "lowerarm"), ("UpperArmL", "left", "upperarm"),
    ("Palm2R", "right", "palm2"), ("thigh_r", "right", "thigh"), ("spine_03", "", "spine03"),
    ("thumb.proximal.L", "left", "thumbproximal"), ("Bip01 R Forearm", "right", "forearm"),
    ("LHand", "left", "hand"), ("Ball", "", "ball"), ("lowerarm.l", "left", "lowerarm"),
])  # fmt: skip
def test_names_reduce_to_side_and_base(name, side, base):
    parsed = parse_name(name)
    assert (parsed.side, parsed.base) == (side, base)


@pytest.mark.parametrize("name", ["upperarm_twist_01_l", "DEF-forearm.L.001", "PoleTargetL",
                                  "MCH-spine.002", "upper_arm_fk.L", "HeadTop_End", "ik_foot_root"])
def test_helper_bones_are_recognised(name):
    assert is_helper(name) or parse_name(name).segment or "end" in parse_name(name).base


def test_character_creator_neck_is_not_a_twist_helper():
    assert not is_helper("CC_Base_NeckTwist01")


# --------------------------------------------------------------------------- detection


def test_detects_mixamo_with_prefix_and_all_fingers():
    rig = build_rig({k: f"mixamorig:{v}" for k, v in MIXAMO.items()},
                    spine=("mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2"))
    found = detect_bone_map(rig)
    assert found.convention == "mixamo" and found.missing() == ()
    assert found.parts["spine"] == ("mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2")
    assert found.parts["left_upper_arm"] == ("mixamorig:LeftArm",)
    assert found.parts["right_index3"] == ("mixamorig:RightHandIndex3",)
    assert found.count("finger") == 30


def test_detects_unreal_with_five_spine_bones_and_skips_twist_bones():
    rig = build_rig(UNREAL, spine=tuple(f"spine_0{k}" for k in range(1, 6)), twist=True)
    found = detect_bone_map(rig)
    assert found.missing() == () and found.convention == "unreal"
    assert found.parts["spine"] == tuple(f"spine_0{k}" for k in range(1, 6))
    assert found.parts["left_forearm"] == ("lowerarm_l",)  # not the upper arm's twist bone
    assert not any("twist" in b for b in found.bones())


def test_structure_maps_a_rig_whose_names_say_nothing():
    """Every bone called Bone.NNN: arms, legs, head, spine and neck come from the hierarchy."""
    blank = {k: f"Bone.{i:03d}" for i, k in enumerate(MIXAMO) if "thumb" not in k}
    rig = build_rig(blank, spine=("Bone.900", "Bone.901"), fingers=False)
    found = detect_bone_map(rig)
    assert found.missing() == (), found.to_json()
    assert found.parts["left_forearm"] == (blank["left_elbow"],)
    assert found.parts["right_shin"] == (blank["right_knee"],)
    assert found.parts["head"] == (blank["head"],)
    assert found.parts["spine"] == ("Bone.900", "Bone.901")
    errors = _errors(rig, found, _motion())
    assert max(errors.values()) < 1e-3, errors


def test_missing_required_bones_are_named():
    names = {k: v for k, v in MIXAMO.items() if k not in ("left_elbow", "right_knee")}
    found = detect_bone_map(build_rig(names))
    assert set(found.missing()) >= {"left_forearm", "right_shin"}
    with pytest.raises(BoneMapError, match=r"left_forearm.*right_shin|right_shin.*left_forearm"):
        found.require(rig_name="rig 'test'")


def test_ik_foot_under_the_root_is_not_the_foot():
    """An IK foot control named "LeftFoot" but parented to a floor bone (as in the Quaternius
    knight) must not be taken for the ankle; the real ankle below the shin is."""
    from egg_core.retarget.rig import Rig

    rig = build_rig({**MIXAMO, "left_ankle": "LeftAnkle"}, floor_root="Root")
    foot = rig.index("LeftAnkle")
    ik = Rig("ik", (*rig.bone_names, "LeftFoot"), (*rig.parents, rig.index("Root")),
             np.vstack([rig.heads, rig.heads[foot]]), np.vstack([rig.tails, rig.tails[foot]]),
             np.concatenate([rig.rest_rotations, rig.rest_rotations[foot:foot + 1]]),
             rig.to_body, rig.metres_per_unit)
    assert detect_bone_map(ik).parts["left_foot"] == ("LeftAnkle",)


# --------------------------------------------------------------------------- solver


@pytest.mark.parametrize("a_pose", [0.0, 45.0])
@pytest.mark.parametrize("spine", [("S1",), ("S1", "S2"), ("S1", "S2", "S3", "S4", "S5")])
def test_world_directions_match_for_any_rest_pose_and_spine(a_pose, spine):
    rig = build_rig(MIXAMO, spine=spine, a_pose_deg=a_pose, twist=True, units=0.01)
    found = detect_bone_map(rig)
    assert found.missing() == ()
    errors = _errors(rig, found, _motion(seed=len(spine)))
    assert max(errors.values()) < 1e-3, errors


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), a_pose=st.floats(0.0, 60.0), turn=st.sampled_from([0.0, 90.0, 180.0, 270.0]),
       z_up=st.booleans())
def test_directions_match_for_random_rolls_poses_and_facings(seed, a_pose, turn, z_up):
    rig = build_rig(MIXAMO, a_pose_deg=a_pose, roll_seed=seed, z_up=z_up, turn_deg=turn)
    errors = _errors(rig, detect_bone_map(rig), _motion(frames=6, seed=seed, scale=0.8))
    assert max(errors.values()) < 1e-3, errors


def test_spine_chain_follows_the_source_curve():
    """Five spine bones over SMPL-X's three: the chain from its first bone to the neck bends
    like SMPL-X's from spine1 to the neck, and so does every piece of it."""
    spine = ("S1", "S2", "S3", "S4", "S5")
    rig = build_rig(MIXAMO, spine=spine)
    found = detect_bone_map(rig)
    motion = _motion(seed=3, scale=0.3)
    plan = plan_retarget(rig, found)
    moved = retarget_motion(motion, plan)
    _, heads = evaluate(rig, moved.bones, moved.matrices)
    target = (heads[:, rig.index("Neck")] - heads[:, rig.index("S1")]) @ rig.to_body.T
    pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(motion.poses.astype(np.float64)))
    source = pos[:, SMPLX.index("neck")] - pos[:, SMPLX.index("spine1")]  # both chains' ends
    assert _angle(target, source).max() < 1.0


def test_identity_retarget_gives_back_the_smplx_rotations():
    rig = smplx_rig()
    motion = _motion()
    moved = retarget_motion(motion, plan_retarget(rig, detect_bone_map(rig)))
    local = axis_angle_to_matrix(motion.poses.astype(np.float64))
    for k, bone in enumerate(moved.bones):
        np.testing.assert_allclose(moved.matrices[:, k], local[:, SMPLX.index(bone)], atol=1e-9)


def test_missing_fingers_and_neck_are_tolerated():
    names = {k: v for k, v in MIXAMO.items() if k != "neck"}
    rig = build_rig(names, fingers=False)
    found = detect_bone_map(rig)
    assert "neck" not in found.parts and found.count("finger") == 0 and found.missing() == ()
    errors = _errors(rig, found, _motion())
    assert max(errors.values()) < 1e-3 and "head" in errors and "left_hand" in errors


def test_partial_parts_hold_the_rest_at_rest():
    rig = build_rig(MIXAMO)
    found = detect_bone_map(rig)
    moved = retarget_motion(_motion(), plan_retarget(rig, found), parts=["left_upper_arm", "left_forearm"])
    keyed = {b for k, b in enumerate(moved.bones) if not np.allclose(moved.matrices[:, k], np.eye(3))}
    assert keyed == {"LeftArm", "LeftForeArm"}


def test_root_motion_is_scaled_by_leg_length_and_can_stay_in_place():
    motion = _motion()
    small, big = build_rig(MIXAMO, units=1.0), build_rig(MIXAMO, units=0.01)
    found = detect_bone_map(small)
    a = retarget_motion(motion, plan_retarget(small, found))
    b = retarget_motion(motion, plan_retarget(big, found))
    np.testing.assert_allclose(a.location, b.location / 100.0, atol=1e-9)  # same metres
    assert a.root_bone == "Hips"
    _, heads = evaluate(small, a.bones, a.matrices, a.root_bone, a.location)
    moved = (heads[:, small.index("Hips")] - small.heads[small.index("Hips")]) @ small.to_body.T
    pelvis = motion.trans + SMPLX.offsets[0]
    expected = pelvis - np.array([pelvis[0, 0], 0.986, pelvis[0, 2]])
    np.testing.assert_allclose(moved, expected, atol=2e-3)  # this rig's legs are SMPL-X's
    still = retarget_motion(motion, plan_retarget(small, found), in_place=True)
    _, heads = evaluate(small, still.bones, still.matrices, still.root_bone, still.location)
    drift = heads[:, small.index("Hips")] - small.heads[small.index("Hips")]
    assert np.abs((drift @ small.to_body.T)[:, [0, 2]]).max() < 1e-9


def test_floor_level_root_carries_the_root_motion():
    """Legs hanging from a floor bone (Quaternius): translating the hips would leave them behind."""
    rig = build_rig(MIXAMO, floor_root="Root")
    plan = plan_retarget(rig, detect_bone_map(rig))
    assert plan.root_bone == "Root"


# --------------------------------------------------------------------------- bone map files


def test_bone_map_json_round_trip_and_errors(tmp_path):
    rig = build_rig(MIXAMO)
    found = detect_bone_map(rig)
    path = tmp_path / "map.json"
    path.write_text(found.to_json(), encoding="utf-8")
    assert read_bone_map(path) == found
    with pytest.raises(BoneMapError, match="not valid JSON"):
        BoneMap.from_json("{nope")
    with pytest.raises(BoneMapError, match="unknown body part 'elbow'"):
        BoneMap.from_json(json.dumps({"parts": {"elbow": "X"}}))
    with pytest.raises(BoneMapError, match="mapped to both"):
        BoneMap({"left_hand": "X", "right_hand": "X"})
    with pytest.raises(BoneMapError, match="not found"):
        read_bone_map(tmp_path / "missing.json")
    broken = BoneMap({**found.parts, "head": ("NoSuchBone",)})
    with pytest.raises(BoneMapError, match="NoSuchBone"):
        plan_retarget(rig, broken)
    assert issubclass(BoneMapError, EggError)


# --------------------------------------------------------------------------- BVH targets and sources


def _bvh_of(rig, path):
    """Write ``rig`` (Y-up, metres) as a one-frame BVH skeleton in centimetres."""
    from egg_core.skeleton import Skeleton

    heads = rig.heads @ rig.to_body.T
    offsets = np.array([heads[j] - (heads[p] if p >= 0 else 0.0) for j, p in enumerate(rig.parents)])
    skeleton = Skeleton("user", rig.bone_names, rig.parents, offsets, {}, ())
    write_bvh(path, skeleton, np.broadcast_to(np.eye(3), (1, rig.num_bones, 3, 3)),
              heads[None, 0], 30.0, order="ZYX", overwrite=True)


def test_bvh_export_onto_a_target_skeleton(tmp_path):
    rig = build_rig(MIXAMO, a_pose_deg=40.0, roll_seed=None, z_up=False)
    _bvh_of(rig, tmp_path / "theirs.bvh")
    target = prepare_bvh_target(tmp_path / "theirs.bvh")
    motion = _motion(frames=30)
    write_retargeted_bvh(motion, target, tmp_path / "out.bvh")
    theirs, out = read_bvh(tmp_path / "theirs.bvh"), read_bvh(tmp_path / "out.bvh")
    assert out.skeleton.joint_names == theirs.skeleton.joint_names and out.order == "ZYX"
    np.testing.assert_allclose(out.skeleton.offsets, theirs.skeleton.offsets, atol=1e-8)
    assert out.num_frames == 30 and out.fps == 30.0
    # read back as any user would, the file's world directions are SMPL-X's
    back = rig_from_bvh(out)
    world = np.empty_like(out.local_rotmats)
    for j in back.order:
        p = back.parents[j]
        world[:, j] = out.local_rotmats[:, j] if p < 0 else world[:, p] @ out.local_rotmats[:, j]
    for name in ("left_upper_arm", "left_forearm", "right_hand", "left_thigh", "head"):
        b = back.index(target.bone_map.parts[name][0])
        aim = aim_part(target.bone_map, name)
        rest = aim_vector(back, target.bone_map, name, aim)
        err = _angle(np.einsum("tij,j->ti", world[:, b], rest), _source_direction(motion, name, aim))
        assert err.max() < 1e-3, name


def test_bvh_target_without_arms_is_refused_before_any_work(tmp_path):
    rig = build_rig({k: v for k, v in MIXAMO.items() if "Arm" not in v}, z_up=False)
    _bvh_of(rig, tmp_path / "armless.bvh")
    with pytest.raises(BoneMapError, match="left_upper_arm"):
        prepare_bvh_target(tmp_path / "armless.bvh")


def test_mocap_bvh_in_a_pose_reads_as_smplx_directions(tmp_path):
    """The training reader: an A-pose mocap skeleton's arm motion lands on SMPL-X's T-pose arm."""
    rig = build_rig(MIXAMO, a_pose_deg=45.0, roll_seed=None, z_up=False)
    _bvh_of(rig, tmp_path / "apose.bvh")
    bvh = read_bvh(tmp_path / "apose.bvh")
    motion = bvh_to_smplx_motion(bvh)
    pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(motion.poses.astype(np.float64)))
    arm = pos[0, SMPLX.index("left_elbow")] - pos[0, SMPLX.index("left_shoulder")]
    rest_arm = rig.heads[rig.index("LeftForeArm")] - rig.heads[rig.index("LeftArm")]
    assert _angle(arm, rest_arm) < 1e-3  # the A-pose rest frame reads as arms down 45 degrees
    assert _angle(arm, np.array([1.0, 0.0, 0.0])) == pytest.approx(45.0, abs=1e-3)
