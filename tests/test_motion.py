"""Motion type validation and time-based frame-rate conversion."""

from __future__ import annotations

import numpy as np
import pytest

from egg_core.errors import MotionFormatError
from egg_core.motion import Motion, resample_count, resample_motion
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import SMPLX, forward_kinematics


def _random_motion(num_frames: int, fps: float = 30.0, seed: int = 0) -> Motion:
    rng = np.random.default_rng(seed)
    # A smooth random walk so neighbouring frames are close, as in real motion.
    poses = np.cumsum(rng.normal(scale=0.02, size=(num_frames, 55, 3)), axis=0)
    trans = np.cumsum(rng.normal(scale=0.005, size=(num_frames, 3)), axis=0) + [0.0, 1.0, 0.0]
    expressions = rng.normal(size=(num_frames, 100))
    return Motion(poses=poses, trans=trans, fps=fps, expressions=expressions)


def _angle_deg(aa1: np.ndarray, aa2: np.ndarray) -> np.ndarray:
    """Geodesic angle between the rotations of two axis-angle arrays, in degrees."""
    r1 = axis_angle_to_matrix(np.asarray(aa1, dtype=np.float64))
    r2 = axis_angle_to_matrix(np.asarray(aa2, dtype=np.float64))
    cos = (np.einsum("...ij,...ij->...", r1, r2) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


# --- the Motion type -------------------------------------------------------------------


def test_motion_accepts_flat_poses_and_fills_defaults():
    motion = Motion(poses=np.zeros((10, 165)), trans=np.zeros((10, 3)), fps=30)
    assert motion.poses.shape == (10, 55, 3) and motion.poses.dtype == np.float32
    assert motion.trans.dtype == np.float32
    assert motion.betas.shape == (300,) and motion.betas.dtype == np.float32
    assert motion.expressions.shape == (10, 100) and motion.expressions.dtype == np.float32
    assert not motion.betas.any() and not motion.expressions.any()
    assert motion.fps == 30.0 and isinstance(motion.fps, float)
    assert motion.num_frames == 10
    assert motion.duration == pytest.approx(10 / 30)
    assert (motion.gender, motion.model) == ("neutral", "smplx2020")


def test_motion_copy_is_deep():
    motion = _random_motion(5)
    clone = motion.copy()
    clone.poses[0, 0, 0] += 1.0
    clone.trans[0, 0] += 1.0
    clone.expressions[0, 0] += 1.0
    clone.betas[0] += 1.0
    assert clone.poses[0, 0, 0] != motion.poses[0, 0, 0]
    assert clone.trans[0, 0] != motion.trans[0, 0]
    assert clone.expressions[0, 0] != motion.expressions[0, 0]
    assert clone.betas[0] != motion.betas[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"poses": np.zeros((4, 54, 3))}, "poses"),
        ({"poses": np.zeros((4, 164))}, "poses"),
        ({"poses": np.zeros((0, 55, 3)), "trans": np.zeros((0, 3))}, "no frames"),
        ({"poses": np.array([["a"] * 165] * 4)}, "poses"),
        ({"trans": np.zeros((3, 3))}, "trans"),
        ({"trans": np.full((4, 3), np.nan)}, "NaN"),
        ({"fps": 0}, "fps"),
        ({"fps": float("inf")}, "fps"),
        ({"fps": "fast"}, "fps"),
        ({"betas": np.zeros(10)}, "betas"),
        ({"expressions": np.zeros((4, 50))}, "expressions"),
        ({"gender": 3}, "gender"),
    ],
)
def test_motion_rejects_bad_fields(kwargs, message):
    fields = {"poses": np.zeros((4, 55, 3)), "trans": np.zeros((4, 3)), "fps": 30.0}
    fields.update(kwargs)
    with pytest.raises(MotionFormatError, match=message):
        Motion(**fields)


# --- resampling ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [(15, 30), (24, 48), (25, 50), (30, 60), (60, 120), (29.97, 60), (12.5, 25)],
)
def test_resample_frame_counts(target, expected):
    motion = _random_motion(60)  # exactly 2 s at 30 fps
    out = resample_motion(motion, target)
    assert out.num_frames == expected == resample_count(60, 30, target)
    assert out.fps == float(target)
    assert out.poses.dtype == np.float32 and out.trans.dtype == np.float32
    assert out.expressions.shape == (expected, 100)
    assert abs(out.duration - motion.duration) <= 0.5 / target + 1e-9


def test_resample_count_rounds_duration():
    assert resample_count(1906, 30, 15) == 953
    assert resample_count(1907, 30, 15) == 954  # 63.57 s -> 953.5 frames, rounded up
    assert resample_count(1, 30, 15) == 1  # never empty
    assert resample_count(100, 30, 24) == 80


def test_downsampling_by_two_keeps_every_other_frame_exactly():
    motion = _random_motion(61)
    half = resample_motion(motion, 15)
    assert half.num_frames == 31
    np.testing.assert_array_equal(half.poses, motion.poses[::2])
    np.testing.assert_array_equal(half.trans, motion.trans[::2])
    np.testing.assert_array_equal(half.expressions, motion.expressions[::2])
    np.testing.assert_array_equal(half.betas, motion.betas)


def test_upsample_then_downsample_is_identity():
    motion = _random_motion(40)
    back = resample_motion(resample_motion(motion, 60), 30)
    assert back.num_frames == motion.num_frames
    np.testing.assert_array_equal(back.poses, motion.poses)
    np.testing.assert_array_equal(back.trans, motion.trans)


def test_constant_axis_rotation_is_interpolated_linearly_in_angle():
    """Slerp of a rotation about a fixed axis at constant speed is exact at any rate."""
    t = np.arange(90) / 30.0
    axis = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    poses = np.zeros((90, 55, 3))
    poses[:, 16] = (0.2 + 1.3 * t)[:, None] * axis  # up to ~4 rad: crosses pi on the way
    trans = np.stack([t, 2 * t, -t], axis=1)
    motion = Motion(poses=poses, trans=trans, fps=30)
    out = resample_motion(motion, 24)
    t_out = np.arange(out.num_frames) / 24.0
    t_out = np.minimum(t_out, t[-1])  # times past the last frame hold it
    expected = (0.2 + 1.3 * t_out)[:, None] * axis
    assert _angle_deg(out.poses[:, 16], expected).max() < 1e-3
    np.testing.assert_allclose(out.trans, np.stack([t_out, 2 * t_out, -t_out], axis=1), atol=1e-5)
    assert _angle_deg(out.poses[:, 0], np.zeros((out.num_frames, 3))).max() == 0.0


def test_slerp_takes_the_short_way_across_pi():
    """+3.1 rad and -3.1 rad about z are 0.08 rad apart; the midpoint is a half turn, not zero."""
    poses = np.zeros((2, 55, 3))
    poses[0, 5] = [0.0, 0.0, 3.1]
    poses[1, 5] = [0.0, 0.0, -3.1]
    motion = Motion(poses=poses, trans=np.zeros((2, 3)), fps=1.0)
    mid = resample_motion(motion, 2.0).poses[1, 5]
    assert _angle_deg(mid, [0.0, 0.0, np.pi]) < 1e-3


def test_single_frame_motion_resamples():
    motion = _random_motion(1)
    out = resample_motion(motion, 60)
    assert out.num_frames == 2
    np.testing.assert_array_equal(out.poses[1], motion.poses[0])


def test_resample_rejects_bad_rate():
    with pytest.raises(MotionFormatError, match="frame rate"):
        resample_motion(_random_motion(3), 0)


def test_resample_to_same_rate_copies():
    motion = _random_motion(5)
    out = resample_motion(motion, 30)
    assert out is not motion and out.poses is not motion.poses
    np.testing.assert_array_equal(out.poses, motion.poses)


def test_real_take_30_15_30_small_error(beat2_take):
    from egg_core.formats.beat2 import read_beat2_npz

    motion = read_beat2_npz(beat2_take)
    back = resample_motion(resample_motion(motion, 15), 30)
    assert back.num_frames == motion.num_frames  # 1906 frames: an even count survives

    angles = _angle_deg(motion.poses, back.poses)
    assert angles[::2].max() < 1e-4  # frames kept by the downsampling are untouched
    assert angles.mean() < 0.5, f"mean joint-angle error {angles.mean():.3f} deg"

    rot_a = axis_angle_to_matrix(motion.poses.astype(np.float64))
    rot_b = axis_angle_to_matrix(back.poses.astype(np.float64))
    pos_a, _ = forward_kinematics(SMPLX, rot_a, motion.trans.astype(np.float64))
    pos_b, _ = forward_kinematics(SMPLX, rot_b, back.trans.astype(np.float64))
    error = np.linalg.norm(pos_a - pos_b, axis=-1)
    assert error.mean() < 0.003, f"mean FK position error {1000 * error.mean():.2f} mm"
    # Interpolated frames: the error is small compared to how far joints move per frame.
    step = np.linalg.norm(np.diff(pos_a, axis=0), axis=-1).mean()
    assert error[1::2].mean() < step
