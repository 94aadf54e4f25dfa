"""BVH read/write: any skeleton, any Euler order, SMPL-X export, malformed files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from egg_core.errors import EggError, MotionFormatError
from egg_core.formats.bvh import bvh_to_motion, infer_mirror, motion_to_bvh, read_bvh, write_bvh
from egg_core.motion import Motion
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import SMPLX, Skeleton, forward_kinematics

# A small non-SMPL skeleton in centimetres: ZXY and XYZ joints, a two-channel joint, a
# non-root joint with position channels (as some Trinity exports have), End Sites.
SMALL_BVH = """\
HIERARCHY
ROOT Hips
{
\tOFFSET 0.0 90.0 0.0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Spine
\t{
\t\tOFFSET 0.0 10.0 1.0
\t\tCHANNELS 3 Xrotation Yrotation Zrotation
\t\tJOINT Head
\t\t{
\t\t\tOFFSET 0.0 40.0 0.0
\t\t\tCHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 0.0 15.0 0.0
\t\t\t}
\t\t}
\t\tJOINT LeftArm
\t\t{
\t\t\tOFFSET 15.0 35.0 0.0
\t\t\tCHANNELS 2 Xrotation Zrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 25.0 0.0 0.0
\t\t\t}
\t\t}
\t\tJOINT RightArm
\t\t{
\t\t\tOFFSET -15.0 35.0 0.0
\t\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET -25.0 0.0 0.0
\t\t\t}
\t\t}
\t}
}
MOTION
Frames: 2
Frame Time: 0.033333
1.0 90.0 -2.0 10.0 20.0 30.0 5.0 -15.0 25.0 0.5 40.0 0.2 12.0 -7.0 3.0 45.0 -30.0 80.0 -10.0 5.0
2.0 91.0 -3.0 -10.0 0.0 170.0 0.0 0.0 0.0 0.0 40.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0
"""


def _scipy(order: str, degrees) -> np.ndarray:
    """Independent reference: scipy's intrinsic rotations (upper-case order) = BVH convention."""
    return Rotation.from_euler(order, degrees, degrees=True).as_matrix()


def _random_rotmats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return Rotation.random(int(np.prod(shape)), random_state=rng).as_matrix().reshape(*shape, 3, 3)


def test_read_small_skeleton(tmp_path):
    path = tmp_path / "small.bvh"
    path.write_text(SMALL_BVH)
    bvh = read_bvh(path)
    skel = bvh.skeleton
    assert skel.joint_names == ("Hips", "Spine", "Head", "LeftArm", "RightArm")
    assert skel.parents == (-1, 0, 1, 1, 1)
    np.testing.assert_allclose(skel.offsets[0], [0.0, 0.9, 0.0])
    np.testing.assert_allclose(skel.offsets[3], [0.15, 0.35, 0.0])
    assert skel.mirror == (0, 1, 2, 4, 3)
    assert bvh.fps == 30.0 and bvh.num_frames == 2
    assert bvh.channel_orders == ("ZXY", "XYZ", "ZYX", "XZ", "ZXY")
    assert bvh.order == "ZXY"
    assert set(bvh.end_sites) == {2, 3, 4}
    np.testing.assert_allclose(bvh.end_sites[3], [0.25, 0.0, 0.0])

    np.testing.assert_allclose(bvh.root_positions, [[0.01, 0.9, -0.02], [0.02, 0.91, -0.03]])
    rot = bvh.local_rotmats
    assert rot.shape == (2, 5, 3, 3)
    np.testing.assert_allclose(rot[0, 0], _scipy("ZXY", [10, 20, 30]), atol=1e-12)
    np.testing.assert_allclose(rot[0, 1], _scipy("XYZ", [5, -15, 25]), atol=1e-12)
    np.testing.assert_allclose(rot[0, 2], _scipy("ZYX", [12, -7, 3]), atol=1e-12)
    np.testing.assert_allclose(rot[0, 3], _scipy("XZ", [45, -30]), atol=1e-12)
    np.testing.assert_allclose(rot[0, 4], _scipy("ZXY", [80, -10, 5]), atol=1e-12)
    np.testing.assert_allclose(rot[1, 1:], np.broadcast_to(np.eye(3), (4, 3, 3)), atol=1e-12)
    # The Head's position channels replace its offset; other joints keep theirs.
    np.testing.assert_allclose(bvh.local_translations[0, 2], [0.005, 0.4, 0.002])
    np.testing.assert_allclose(bvh.local_translations[:, 3], [[0.15, 0.35, 0.0]] * 2)


def test_units_are_explicit(tmp_path):
    path = tmp_path / "small.bvh"
    path.write_text(SMALL_BVH)
    metres = read_bvh(path, scale=1.0)
    np.testing.assert_allclose(metres.skeleton.offsets[0], [0.0, 90.0, 0.0])
    np.testing.assert_allclose(metres.root_positions[0], [1.0, 90.0, -2.0])
    with pytest.raises(MotionFormatError, match="scale"):
        read_bvh(path, scale=0.0)


@pytest.mark.parametrize("order", ["XYZ", "ZXY", "YZX"])
def test_small_skeleton_write_read_round_trip(tmp_path, order):
    source = tmp_path / "small.bvh"
    source.write_text(SMALL_BVH)
    bvh = read_bvh(source)
    rng = np.random.default_rng(1)
    rotmats = _random_rotmats(rng, (7, bvh.skeleton.num_joints))
    root = rng.normal(size=(7, 3))
    out = tmp_path / f"small_{order}.bvh"
    write_bvh(out, bvh.skeleton, rotmats, root, fps=25, order=order, end_sites=bvh.end_sites)
    back = read_bvh(out)
    assert back.skeleton == bvh.skeleton.__class__(
        name=out.stem, joint_names=bvh.skeleton.joint_names, parents=bvh.skeleton.parents,
        offsets=back.skeleton.offsets, parts=back.skeleton.parts, mirror=bvh.skeleton.mirror,
    )
    np.testing.assert_allclose(back.skeleton.offsets, bvh.skeleton.offsets, atol=1e-8)
    assert back.channel_orders == (order,) * 5
    assert back.fps == 25.0
    np.testing.assert_allclose(back.local_rotmats, rotmats, atol=1e-6)
    np.testing.assert_allclose(back.root_positions, root, atol=1e-7)
    for joint, site in bvh.end_sites.items():
        np.testing.assert_allclose(back.end_sites[joint], site, atol=1e-8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parent_choices=st.lists(st.floats(0.0, 0.999), min_size=0, max_size=12),
    order=st.sampled_from(["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]),
    seed=st.integers(0, 2**31 - 1),
    gimbal=st.booleans(),
)
def test_any_tree_round_trips(tmp_path, parent_choices, order, seed, gimbal):
    """Random trees (any branching, any Euler order, rotations at gimbal lock too) survive write->read."""
    parents = (-1,) + tuple(int(c * (j + 1)) for j, c in enumerate(parent_choices))
    rng = np.random.default_rng(seed)
    num = len(parents)
    skel = Skeleton("tree", tuple(f"joint{j}" for j in range(num)), parents, rng.normal(scale=0.2, size=(num, 3)))
    rotmats = _random_rotmats(rng, (3, num))
    if gimbal:  # middle Euler angle at exactly +90 degrees
        angles = rng.uniform(-180, 180, size=(3, num, 3))
        angles[..., 1] = 90.0
        rotmats = Rotation.from_euler(order, angles.reshape(-1, 3), degrees=True).as_matrix().reshape(3, num, 3, 3)
    root = rng.normal(size=(3, 3))
    path = tmp_path / "tree.bvh"
    write_bvh(path, skel, rotmats, root, fps=30, order=order, overwrite=True)
    back = read_bvh(path)
    take = [back.skeleton.index(name) for name in skel.joint_names]  # file order is depth-first
    assert tuple(take[p] if p >= 0 else -1 for p in skel.parents) == tuple(back.skeleton.parents[t] for t in take)
    np.testing.assert_allclose(back.skeleton.offsets[take], skel.offsets, atol=1e-8)
    np.testing.assert_allclose(back.local_rotmats[:, take], rotmats, atol=1e-6)
    np.testing.assert_allclose(back.root_positions, root, atol=1e-7)


def test_smplx_motion_bvh_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    rotvecs = Rotation.random(6 * 55, random_state=rng).as_rotvec().reshape(6, 55, 3)
    motion = Motion(poses=rotvecs, trans=rng.normal(scale=0.3, size=(6, 3)) + [0, 1, 0], fps=30)
    path = tmp_path / "smplx.bvh"
    motion_to_bvh(motion, path)
    bvh = read_bvh(path)
    assert sorted(bvh.skeleton.joint_names) == sorted(SMPLX.joint_names)
    assert bvh.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    assert all(len(chans) == 3 for chans in bvh.channels[1:])
    # Leaves (fingertips, head, eyes, jaw, feet) have End Sites, so no zero-length bones.
    leaves = set(range(55)) - {p for p in bvh.skeleton.parents if p >= 0}
    assert leaves and leaves <= set(bvh.end_sites)

    back = bvh_to_motion(bvh)
    assert back.fps == 30.0 and back.num_frames == 6
    np.testing.assert_allclose(
        axis_angle_to_matrix(back.poses.astype(np.float64)),
        axis_angle_to_matrix(motion.poses.astype(np.float64)),
        atol=1e-5,
    )
    np.testing.assert_allclose(back.trans, motion.trans, atol=1e-6)

    # Forward kinematics of the file's own skeleton puts every joint where SMPL-X FK does.
    take = [bvh.skeleton.index(name) for name in SMPLX.joint_names]
    pos_file, _ = forward_kinematics(bvh.skeleton, bvh.local_rotmats, bvh.root_positions - bvh.skeleton.offsets[0])
    pos_smplx, _ = forward_kinematics(
        SMPLX, axis_angle_to_matrix(motion.poses.astype(np.float64)), motion.trans.astype(np.float64)
    )
    np.testing.assert_allclose(pos_file[:, take], pos_smplx, atol=1e-5)
    assert tuple(take[m] for m in SMPLX.mirror) == tuple(bvh.skeleton.mirror[t] for t in take)


def test_real_take_to_bvh(beat2_take, tmp_path):
    from egg_core.formats.beat2 import read_beat2_npz

    motion = read_beat2_npz(beat2_take)
    short = Motion(poses=motion.poses[:120], trans=motion.trans[:120], fps=motion.fps)
    path = tmp_path / "take.bvh"
    motion_to_bvh(short, path)
    back = bvh_to_motion(read_bvh(path))
    np.testing.assert_allclose(
        axis_angle_to_matrix(back.poses.astype(np.float64)),
        axis_angle_to_matrix(short.poses.astype(np.float64)),
        atol=1e-5,
    )
    np.testing.assert_allclose(back.trans, short.trans, atol=1e-6)


def test_euler_curves_have_no_360_jumps(tmp_path):
    """A joint spinning steadily about Y is written as a continuous angle curve."""
    skel = Skeleton("spin", ("root", "child"), (-1, 0), np.array([[0, 0, 0], [0, 0.1, 0]]))
    angles = np.radians(np.arange(0, 720, 20.0))
    rot = np.broadcast_to(np.eye(3), (len(angles), 2, 3, 3)).copy()
    rot[:, 1] = Rotation.from_euler("Y", angles[:, None]).as_matrix()
    path = tmp_path / "spin.bvh"
    write_bvh(path, skel, rot, np.zeros((len(angles), 3)), fps=10, order="ZXY")
    lines = path.read_text().splitlines()
    values = np.array([line.split() for line in lines[lines.index("MOTION") + 3 :]], dtype=float)
    assert np.abs(np.diff(values, axis=0)).max() <= 20.0 + 1e-4
    np.testing.assert_allclose(read_bvh(path).local_rotmats, rot, atol=1e-6)


@pytest.mark.parametrize(
    ("frame_time", "fps"),
    [("0.033333", 30.0), ("0.0333333", 30.0), ("0.016667", 60.0), ("0.04", 25.0), ("0.0333667", 29.97),
     ("0.0417084", 23.976), ("0.0123456789", 1 / 0.0123456789)],
)
def test_frame_rate_from_frame_time(tmp_path, frame_time, fps):
    path = tmp_path / "t.bvh"
    path.write_text(SMALL_BVH.replace("Frame Time: 0.033333", f"Frame Time: {frame_time}"))
    assert read_bvh(path).fps == pytest.approx(fps, rel=1e-12)


def test_windows_line_endings(tmp_path):
    path = tmp_path / "crlf.bvh"
    path.write_bytes(SMALL_BVH.replace("\n", "\r\n").encode())
    assert read_bvh(path).num_frames == 2


def test_overwrite_protection(tmp_path):
    motion = Motion(poses=np.zeros((2, 55, 3)), trans=np.zeros((2, 3)), fps=30)
    path = tmp_path / "m.bvh"
    motion_to_bvh(motion, path)
    first = path.read_text()
    motion.poses[:, 16, 2] = 1.0
    with pytest.raises(EggError, match="overwrite=True") as info:
        motion_to_bvh(motion, path)
    assert isinstance(info.value, FileExistsError)
    assert path.read_text() == first
    motion_to_bvh(motion, path, overwrite=True)
    assert path.read_text() != first
    assert [p.name for p in tmp_path.iterdir()] == ["m.bvh"]


def test_write_rejects_bad_input(tmp_path):
    skel = Skeleton("two", ("a", "b"), (-1, 0), np.zeros((2, 3)))
    rot = np.broadcast_to(np.eye(3), (3, 2, 3, 3))
    with pytest.raises(MotionFormatError, match="local_rotmats"):
        write_bvh(tmp_path / "x.bvh", skel, rot[:, :1], np.zeros((3, 3)), 30)
    with pytest.raises(MotionFormatError, match="root_positions"):
        write_bvh(tmp_path / "x.bvh", skel, rot, np.zeros((2, 3)), 30)
    with pytest.raises(MotionFormatError, match="order"):
        write_bvh(tmp_path / "x.bvh", skel, rot, np.zeros((3, 3)), 30, order="ZZX")
    two_roots = Skeleton("forest", ("a", "b"), (-1, -1), np.zeros((2, 3)))
    with pytest.raises(MotionFormatError, match="one root"):
        write_bvh(tmp_path / "x.bvh", two_roots, rot, np.zeros((3, 3)), 30)
    spaced = Skeleton("spaced", ("a", "b c"), (-1, 0), np.zeros((2, 3)))
    with pytest.raises(MotionFormatError, match="b c"):
        write_bvh(tmp_path / "x.bvh", spaced, rot, np.zeros((3, 3)), 30)
    assert list(tmp_path.iterdir()) == []


def _broken(old: str, new: str) -> str:
    assert old in SMALL_BVH
    return SMALL_BVH.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "HIERARCHY"),
        (_broken("HIERARCHY", "HIERARCH"), 1, "HIERARCHY"),
        (_broken("ROOT Hips", "JOINT Hips"), 2, "ROOT"),
        (_broken("OFFSET 0.0 10.0 1.0", "OFFSET 0.0 ten 1.0"), 8, "ten"),
        (_broken("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 3 Xrotation Yrotation Wrotation"), 9, "Wrotation"),
        (_broken("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 3 Xrotation Xrotation Zrotation"), 9, "twice"),
        (_broken("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS many"), 9, "channel count"),
        (_broken("JOINT LeftArm", "BONE LeftArm"), 19, "BONE"),
        (_broken("JOINT RightArm", "JOINT Head"), 28, "used twice"),
        (_broken("Frames: 2", "Frames: two"), 40, "Frames"),
        (_broken("Frames: 2", "Frames: 3"), 43, "truncated"),
        (_broken("Frames: 2", "Frames: 1"), 43, "more frame lines"),
        (_broken("Frame Time: 0.033333", "Frame Time: 0"), 41, "positive"),
        (_broken("Frame Time: 0.033333", "FrameTime 0.03"), 41, "Frame Time"),
        (_broken("-10.0 5.0\n", "-10.0\n"), 42, "19 values"),
        (_broken("2.0 91.0", "2.0 abc"), 43, "'abc' is not a number"),
        (_broken("2.0 91.0", "2.0 nan"), 43, "NaN"),
        (SMALL_BVH[: SMALL_BVH.index("MOTION")], 38, "MOTION"),
        (SMALL_BVH[: SMALL_BVH.index("\tJOINT RightArm")], 28, "ends early"),
        (_broken("MOTION", "ROOT Other\n{\nOFFSET 0 0 0\n}\nMOTION"), 39, "more than one ROOT"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, text, line, message):
    path = tmp_path / "bad.bvh"
    path.write_text(text)
    with pytest.raises(MotionFormatError, match=message) as info:
        read_bvh(path)
    assert f"line {line}:" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(MotionFormatError, match="not found"):
        read_bvh(tmp_path / "nope.bvh")


def test_bvh_to_motion_needs_smplx_names(tmp_path):
    path = tmp_path / "small.bvh"
    path.write_text(SMALL_BVH)
    with pytest.raises(MotionFormatError, match="SMPL-X joint names"):
        bvh_to_motion(read_bvh(path))


def test_infer_mirror_from_common_naming_schemes():
    names = ("Hips", "LeftArm", "RightArm", "LHand", "RHand", "hip_l", "hip_r", "l_foot", "r_foot",
             "Spine", "mixamorig:LeftLeg", "mixamorig:RightLeg", "Lonely_L", "Root")
    assert infer_mirror(names) == (0, 2, 1, 4, 3, 6, 5, 8, 7, 9, 11, 10, 12, 13)
