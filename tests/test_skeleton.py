"""Tests for egg_core.skeleton: the SMPL-X instance, FK against a plain loop, mirroring, relaxed pose."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import (
    SMPLX,
    STANDING_TRANS_Y,
    Skeleton,
    forward_kinematics,
    is_symmetric,
    mirror_poses,
    relaxed_pose,
)

J = 55
SETTINGS = settings(max_examples=100, deadline=None)

# From ../shared/reference/smplx_beat2_metrics.md (kintree_table[0] of the SMPL-X model).
REFERENCE_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
                     15, 15, 15, 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
                     21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53]


def _random_poses(seed: int, shape: tuple[int, ...], scale: float = 0.6) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=shape + (J, 3))


def _loop_fk(skeleton: Skeleton, poses_aa: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent FK for one frame: a plain per-joint loop with scipy's rotation matrices."""
    pos = np.zeros((skeleton.num_joints, 3))
    glob = np.zeros((skeleton.num_joints, 3, 3))
    for j, parent in enumerate(skeleton.parents):
        local = Rotation.from_rotvec(poses_aa[j]).as_matrix()
        if parent < 0:
            glob[j] = local
            pos[j] = skeleton.offsets[j] + trans
        else:
            glob[j] = glob[parent] @ local
            pos[j] = pos[parent] + glob[parent] @ skeleton.offsets[j]
    return pos, glob


# ---------------------------------------------------------------- the SMPL-X instance


def test_smplx_names_and_parents_match_the_reference() -> None:
    assert SMPLX.num_joints == J
    assert list(SMPLX.parents) == REFERENCE_PARENTS
    assert SMPLX.joint_names[:3] == ("pelvis", "left_hip", "right_hip")
    assert SMPLX.joint_names[22:25] == ("jaw", "left_eye_smplhf", "right_eye_smplhf")
    assert SMPLX.joint_names[25] == "left_index1" and SMPLX.joint_names[54] == "right_thumb3"
    smplx_names = pytest.importorskip("smplx.joint_names")
    assert list(SMPLX.joint_names) == list(smplx_names.JOINT_NAMES[:J])


def test_parts_and_lookup() -> None:
    upper = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
    assert SMPLX.parts["upper"] == upper
    assert SMPLX.parts["hands"] == tuple(range(25, 55))
    assert SMPLX.parts["lower"] == (0, 1, 2, 4, 5, 7, 8, 10, 11)
    assert SMPLX.parts["face"] == (22,) and SMPLX.parts["eyes"] == (23, 24)
    assert len(SMPLX.parts["gesture"]) == 43
    assert SMPLX.subset_indices("gesture") == SMPLX.subset_indices(["upper", "hands"])
    everything = SMPLX.subset_indices(["upper", "hands", "lower", "face", "eyes"])
    assert everything == tuple(range(J))
    assert SMPLX.index("left_wrist") == 20 and SMPLX.index("right_thumb3") == 54
    with pytest.raises(ValueError, match="no part 'arms'.*known parts"):
        SMPLX.subset_indices("arms")
    with pytest.raises(ValueError, match="no joint called 'tail'"):
        SMPLX.index("tail")


def test_mirror_table_swaps_left_and_right_names() -> None:
    for j, m in enumerate(SMPLX.mirror):
        name, twin = SMPLX.joint_names[j], SMPLX.joint_names[m]
        if name.startswith("left_"):
            assert twin == "right_" + name[5:]
        elif name.startswith("right_"):
            assert twin == "left_" + name[6:]
        else:
            assert m == j


def test_rest_skeleton_is_exactly_symmetric() -> None:
    assert is_symmetric(SMPLX)  # atol = 0: bit-exact
    offsets = SMPLX.offsets
    for j, m in enumerate(SMPLX.mirror):
        assert offsets[m][0] == -offsets[j][0] and offsets[m][1] == offsets[j][1] and offsets[m][2] == offsets[j][2]
        if m == j:
            assert offsets[j][0] == 0.0
    lopsided = offsets.copy()
    lopsided[SMPLX.index("left_elbow"), 0] += 0.01
    assert not is_symmetric(dataclasses.replace(SMPLX, offsets=lopsided))


def test_rest_skeleton_is_a_plausible_adult_in_t_pose() -> None:
    pos = SMPLX.rest_positions() + np.array([0.0, STANDING_TRANS_Y, 0.0])
    at = lambda name: pos[SMPLX.index(name)]  # noqa: E731
    sole = min(at("left_foot")[1], at("left_ankle")[1]) - 0.02  # foot joint sits ~2 cm above the sole
    assert abs(sole) < 0.01  # a standing BEAT2 trans puts the feet on the floor
    eye_height = at("left_eye_smplhf")[1] - sole
    stature = eye_height / 0.936  # Drillis & Contini: eyes at 0.936 H
    assert 1.6 < stature < 1.8
    assert 0.95 <= at("pelvis")[1] - sole <= 1.0
    # T-pose: arms horizontal, left arm toward +X; facing +Z; head above the shoulders
    for side, sign in (("left", 1.0), ("right", -1.0)):
        chain = [at(f"{side}_{n}") for n in ("shoulder", "elbow", "wrist", "middle1", "middle3")]
        assert all(abs(p[1] - chain[0][1]) < 1e-12 for p in chain)
        assert all(sign * (b[0] - a[0]) > 0 for a, b in zip(chain, chain[1:], strict=False))
    arm = np.linalg.norm(at("left_wrist") - at("left_shoulder"))
    assert 0.5 < arm < 0.65
    assert at("left_foot")[2] > at("left_ankle")[2] + 0.08
    assert at("left_eye_smplhf")[2] > at("head")[2] and at("left_thumb3")[2] > at("left_wrist")[2]
    assert at("head")[1] > at("left_shoulder")[1] > at("pelvis")[1] > at("left_knee")[1] > at("left_ankle")[1]
    assert 0.03 < at("left_hip")[0] < 0.12 and 0.15 < at("left_shoulder")[0] < 0.23


def test_skeleton_is_immutable_and_validated() -> None:
    with pytest.raises(ValueError):
        SMPLX.offsets[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        SMPLX.name = "other"  # type: ignore[misc]
    copy = dataclasses.replace(SMPLX)
    assert copy == SMPLX and hash(copy) == hash(SMPLX) and copy is not SMPLX
    assert dataclasses.replace(SMPLX, name="other") != SMPLX
    with pytest.raises(ValueError, match="parents must be"):
        Skeleton("bad", ("a", "b"), (1, -1), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="involution"):
        Skeleton("bad", ("a", "b", "c"), (-1, 0, 0), np.zeros((3, 3)), mirror=(1, 2, 0))
    with pytest.raises(ValueError, match="offsets of shape"):
        Skeleton("bad", ("a", "b"), (-1, 0), np.zeros((3, 3)))
    tiny = Skeleton("tiny", ("root", "tip"), (-1, 0), [[0, 0, 0], [0, 1, 0]])
    assert tiny.mirror == (0, 1) and tiny.num_joints == 2
    np.testing.assert_array_equal(tiny.rest_positions(), [[0, 0, 0], [0, 1, 0]])


# ---------------------------------------------------------------- forward kinematics


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 3.0))
def test_fk_matches_an_independent_per_joint_loop(seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    poses = _random_poses(seed, (3,), scale)
    trans = rng.normal(size=(3, 3))
    pos, glob = forward_kinematics(SMPLX, axis_angle_to_matrix(poses), trans)
    assert pos.shape == (3, J, 3) and glob.shape == (3, J, 3, 3)
    for t in range(3):
        ref_pos, ref_glob = _loop_fk(SMPLX, poses[t], trans[t])
        np.testing.assert_allclose(pos[t], ref_pos, atol=1e-12)
        np.testing.assert_allclose(glob[t], ref_glob, atol=1e-12)


def test_fk_torch_batches_and_gradients() -> None:
    poses = _random_poses(1, (2, 4))
    trans = np.random.default_rng(2).normal(size=(2, 4, 3))
    ref_pos, ref_glob = forward_kinematics(SMPLX, axis_angle_to_matrix(poses), trans)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        pos, glob = forward_kinematics(SMPLX, axis_angle_to_matrix(torch.tensor(poses, dtype=dtype)),
                                       torch.tensor(trans, dtype=dtype))
        assert isinstance(pos, torch.Tensor) and pos.dtype == dtype and glob.shape == (2, 4, J, 3, 3)
        np.testing.assert_allclose(pos.numpy(), ref_pos, atol=tol)
        np.testing.assert_allclose(glob.numpy(), ref_glob, atol=tol)
    aa = torch.zeros(5, J, 3, dtype=torch.float64, requires_grad=True)
    pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(aa))
    pos[:, SMPLX.index("left_wrist")].sum().backward()
    assert torch.isfinite(aa.grad).all() and aa.grad.abs().sum() > 0
    # a single translation broadcasts over a batch; None means zero translation
    pos_b, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(poses), np.array([1.0, 2.0, 3.0]))
    pos_0, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(poses))
    np.testing.assert_allclose(pos_b - pos_0, np.broadcast_to([1.0, 2.0, 3.0], pos_0.shape), atol=1e-12)


def test_fk_of_identity_is_the_rest_pose_and_rejects_bad_shapes() -> None:
    pos, glob = forward_kinematics(SMPLX, np.broadcast_to(np.eye(3), (J, 3, 3)))
    np.testing.assert_allclose(pos, SMPLX.rest_positions(), atol=1e-15)
    np.testing.assert_allclose(glob, np.broadcast_to(np.eye(3), (J, 3, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 55, 3, 3\)"):
        forward_kinematics(SMPLX, np.zeros((4, 52, 3, 3)))
    with pytest.raises(ValueError, match="root translation"):
        forward_kinematics(SMPLX, np.zeros((4, J, 3, 3)), np.zeros((4, 2)))


# ---------------------------------------------------------------- mirroring


@SETTINGS
@given(st.integers(0, 2**31 - 1))
def test_mirror_is_an_involution_and_reflects_fk(seed: int) -> None:
    poses = _random_poses(seed, (2,), 1.0)
    trans = np.random.default_rng(seed + 1).normal(size=(2, 3))
    m_poses, m_trans = mirror_poses(poses, trans)
    mm_poses, mm_trans = mirror_poses(m_poses, m_trans)
    np.testing.assert_array_equal(mm_poses, poses)
    np.testing.assert_array_equal(mm_trans, trans)
    pos, glob = forward_kinematics(SMPLX, axis_angle_to_matrix(poses), trans)
    m_pos, m_glob = forward_kinematics(SMPLX, axis_angle_to_matrix(m_poses), m_trans)
    reflect = np.diag([-1.0, 1.0, 1.0])
    mirror = list(SMPLX.mirror)
    np.testing.assert_allclose(m_pos, pos[:, mirror] @ reflect, atol=1e-12)
    np.testing.assert_allclose(m_glob, reflect @ glob[:, mirror] @ reflect, atol=1e-12)


def test_mirror_torch_and_without_translation() -> None:
    poses = _random_poses(3, (4,))
    m_np, none = mirror_poses(poses)
    assert none is None
    m_t, t_t = mirror_poses(torch.tensor(poses, dtype=torch.float32), torch.ones(4, 3))
    assert m_t.dtype == torch.float32 and t_t.dtype == torch.float32
    np.testing.assert_allclose(m_t.numpy(), m_np, atol=1e-6)
    np.testing.assert_array_equal(t_t[:, 0].numpy(), -1.0)
    np.testing.assert_array_equal(mirror_poses(m_t)[0].numpy(), torch.tensor(poses, dtype=torch.float32).numpy())
    # the left wrist's rotation becomes the right wrist's, reflected
    np.testing.assert_array_equal(m_np[:, 21], poses[:, 20] * [1.0, -1.0, -1.0])
    with pytest.raises(ValueError, match="poses must have shape"):
        mirror_poses(np.zeros((4, 54, 3)))


# ---------------------------------------------------------------- relaxed pose


def test_relaxed_pose_hangs_the_arms_and_is_its_own_mirror() -> None:
    pose = relaxed_pose()
    assert pose.shape == (J, 3)
    np.testing.assert_array_equal(mirror_poses(pose)[0], pose)
    pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(pose))
    at = lambda name: pos[SMPLX.index(name)]  # noqa: E731
    for side in ("left", "right"):
        shoulder, elbow, wrist = at(f"{side}_shoulder"), at(f"{side}_elbow"), at(f"{side}_wrist")
        assert wrist[1] < elbow[1] < shoulder[1]
        assert shoulder[1] - wrist[1] > 0.4  # arms hang, not a T-pose
        upper_arm = elbow - shoulder
        below_horizontal = math.degrees(math.asin(-upper_arm[1] / np.linalg.norm(upper_arm)))
        assert 70.0 <= below_horizontal <= 75.0
        assert wrist[2] > elbow[2]  # forearm bent forward
        assert abs(wrist[0]) < abs(shoulder[0]) + 0.25  # hands at the sides
        assert at(f"{side}_index3")[1] < wrist[1]
    moved = {SMPLX.joint_names[j] for j in np.flatnonzero(np.abs(pose).sum(-1) > 0)}
    assert all(any(k in name for k in ("shoulder", "elbow", "index", "middle", "ring", "pinky", "thumb"))
               for name in moved)
    assert "left_shoulder" in moved and "right_thumb2" in moved


# ---------------------------------------------------------------- the real BEAT2 take


def test_real_take_fk_is_plausible(beat2_take) -> None:
    data = np.load(beat2_take)
    poses = data["poses"].reshape(-1, J, 3)
    trans = data["trans"]
    pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(poses), trans)
    head = pos[:, SMPLX.index("head"), 1]
    shoulders = pos[:, [SMPLX.index("left_shoulder"), SMPLX.index("right_shoulder")], 1].max(1)
    assert np.all(head > shoulders)

    def travel(j: int) -> float:
        return float(np.linalg.norm(np.diff(pos[:, j], axis=0), axis=-1).sum())

    pelvis = travel(SMPLX.index("pelvis"))
    for wrist in ("left_wrist", "right_wrist"):
        assert travel(SMPLX.index(wrist)) > 2.0 * pelvis
    feet = pos[:, [SMPLX.index(n) for n in ("left_foot", "right_foot")], 1].min(1)
    assert -0.05 < np.median(feet) < 0.08  # standing on the floor
    # mirrored take: FK reflects exactly
    m_poses, m_trans = mirror_poses(poses, trans)
    m_pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(m_poses), m_trans)
    np.testing.assert_allclose(m_pos, pos[:, list(SMPLX.mirror)] * [-1.0, 1.0, 1.0], atol=1e-5)
