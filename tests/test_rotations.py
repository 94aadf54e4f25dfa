"""Property tests for egg_core.rotations: round trips, edge angles, Euler orders, slerp, torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from egg_core import rotations as R

ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
SETTINGS = settings(max_examples=100, deadline=None)


# ---------------------------------------------------------------- strategies and helpers

_unit = st.floats(-1.0, 1.0, allow_nan=False)


@st.composite
def axis_angles(draw: st.DrawFn) -> np.ndarray:
    """One axis-angle (3,) float64 with the angle drawn near 0, near pi, or anywhere in [0, pi)."""
    axis = np.array([draw(_unit), draw(_unit), draw(_unit)])
    n = np.linalg.norm(axis)
    if n < 1e-3:
        axis, n = np.array([0.0, 0.0, 1.0]), 1.0
    kind = draw(st.sampled_from(["zero", "tiny", "small", "any", "near_pi"]))
    if kind == "zero":
        angle = 0.0
    elif kind == "tiny":
        angle = draw(st.floats(1e-12, 1e-4))
    elif kind == "small":
        angle = draw(st.floats(1e-4, 1e-2))
    elif kind == "near_pi":
        angle = math.pi - draw(st.floats(0.0, 1e-4))
    else:
        angle = draw(st.floats(0.0, math.pi))
    return axis / n * angle


def _batch(rng: np.random.Generator, n: int = 256) -> np.ndarray:
    """Random axis-angles with a mix of ordinary, tiny and near-pi angles."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(0, math.pi, size=(n, 1))
    angle[: n // 8] = rng.uniform(0, 1e-5, size=(n // 8, 1))
    angle[n // 8 : n // 4] = math.pi - rng.uniform(0, 1e-4, size=(n // 4 - n // 8, 1))
    return axis * angle


def _equivalent_aa(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    """Axis-angles equal, or both within atol of pi and antipodal (the same rotation)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    direct = np.abs(a - b).max(-1) <= atol
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    ua = a / np.maximum(na, 1e-30)[..., None]
    ub = b / np.maximum(nb, 1e-30)[..., None]
    antipodal = (
        (np.abs(na - math.pi) < 10 * atol)
        & (np.abs(nb - math.pi) < 10 * atol)
        & (np.abs(ua + ub).max(-1) <= atol)
    )
    return bool(np.all(direct | antipodal))


def _backends(aa: np.ndarray):
    """The same data as numpy float64/float32 and torch float64/float32, with tolerances."""
    yield aa.astype(np.float64), 1e-9
    yield aa.astype(np.float32), 1e-5
    yield torch.tensor(aa, dtype=torch.float64), 1e-9
    yield torch.tensor(aa, dtype=torch.float32), 1e-5


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _assert_same_kind(out, inp) -> None:
    if isinstance(inp, torch.Tensor):
        assert isinstance(out, torch.Tensor) and out.dtype == inp.dtype and out.device == inp.device
    else:
        assert isinstance(out, np.ndarray) and out.dtype == inp.dtype


# ---------------------------------------------------------------- axis-angle / matrix


@SETTINGS
@given(axis_angles())
def test_axis_angle_to_matrix_matches_scipy(aa: np.ndarray) -> None:
    np.testing.assert_allclose(R.axis_angle_to_matrix(aa), Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)


@SETTINGS
@given(axis_angles())
def test_axis_angle_matrix_round_trip_all_backends(aa: np.ndarray) -> None:
    for x, tol in _backends(aa):
        mat = R.axis_angle_to_matrix(x)
        back = R.matrix_to_axis_angle(mat)
        _assert_same_kind(mat, x)
        _assert_same_kind(back, x)
        assert _equivalent_aa(_np(back), _np(x), tol)


def test_round_trip_batch_within_1e5_including_near_pi() -> None:
    aa = _batch(np.random.default_rng(0), 2048).reshape(16, 128, 3)
    for x, _ in _backends(aa):
        back = _np(R.matrix_to_axis_angle(R.axis_angle_to_matrix(x)))
        assert back.shape == aa.shape
        assert _equivalent_aa(back, _np(x), 1e-5)


def test_near_pi_keeps_the_axis_exactly_at_pi() -> None:
    rng = np.random.default_rng(1)
    axis = rng.normal(size=(500, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    for angle in (math.pi, math.pi - 1e-7, math.pi - 1e-5):
        back = R.matrix_to_axis_angle(R.axis_angle_to_matrix(axis * angle))
        assert _equivalent_aa(back, axis * angle, 1e-7)
        np.testing.assert_allclose(np.linalg.norm(back, axis=-1), angle, atol=1e-9)


def test_near_zero_is_exact_relative_to_the_angle() -> None:
    rng = np.random.default_rng(2)
    axis = rng.normal(size=(200, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    for angle in (1e-12, 1e-8, 3e-5, 1e-4, 2e-4):
        aa = axis * angle
        back = R.matrix_to_axis_angle(R.axis_angle_to_matrix(aa))
        np.testing.assert_allclose(back, aa, rtol=1e-6, atol=1e-18)
        q = R.axis_angle_to_quat(aa)
        np.testing.assert_allclose(R.quat_to_axis_angle(q), aa, rtol=1e-12, atol=1e-20)


def test_matrices_are_rotations() -> None:
    aa = _batch(np.random.default_rng(3), 512)
    mats = R.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(mats @ np.swapaxes(mats, -1, -2), np.broadcast_to(np.eye(3), mats.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(mats), 1.0, atol=1e-12)


# ---------------------------------------------------------------- 6D


@SETTINGS
@given(axis_angles())
def test_rot6d_round_trips(aa: np.ndarray) -> None:
    for x, tol in _backends(aa):
        tol = max(tol, 1e-9)
        mat = R.axis_angle_to_matrix(x)
        d6 = R.matrix_to_rot6d(mat)
        _assert_same_kind(d6, x)
        np.testing.assert_allclose(_np(d6), np.concatenate([_np(mat)[:, 0], _np(mat)[:, 1]]), atol=0)
        np.testing.assert_allclose(_np(R.rot6d_to_matrix(d6)), _np(mat), atol=tol * 10)
        assert _equivalent_aa(_np(R.rot6d_to_axis_angle(R.axis_angle_to_rot6d(x))), _np(x), 1e-5)


def test_rot6d_gram_schmidt_orthonormalises_any_input() -> None:
    d6 = np.random.default_rng(4).normal(size=(300, 6))
    mats = R.rot6d_to_matrix(d6)
    np.testing.assert_allclose(mats @ np.swapaxes(mats, -1, -2), np.broadcast_to(np.eye(3), mats.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(mats), 1.0, atol=1e-12)
    # first column is the normalised first vector; second lies in the span of the two
    np.testing.assert_allclose(mats[:, :, 0], d6[:, :3] / np.linalg.norm(d6[:, :3], axis=-1, keepdims=True), atol=1e-12)
    normal = np.cross(d6[:, :3], d6[:, 3:])
    np.testing.assert_allclose(np.einsum("ni,ni->n", mats[:, :, 1], normal), 0.0, atol=1e-9)


# ---------------------------------------------------------------- quaternions


@SETTINGS
@given(axis_angles())
def test_quaternion_round_trips(aa: np.ndarray) -> None:
    for x, tol in _backends(aa):
        q = R.axis_angle_to_quat(x)
        _assert_same_kind(q, x)
        np.testing.assert_allclose(np.linalg.norm(_np(q)), 1.0, atol=max(tol, 1e-12) * 10)
        assert _equivalent_aa(_np(R.quat_to_axis_angle(q)), _np(x), 1e-5)
        mat = R.axis_angle_to_matrix(x)
        np.testing.assert_allclose(_np(R.quat_to_matrix(q)), _np(mat), atol=max(tol, 1e-12) * 10)
        q2 = _np(R.matrix_to_quat(mat))
        assert q2[0] >= 0
        dist = min(np.abs(q2 - _np(q)).max(), np.abs(q2 + _np(q)).max())
        assert dist <= 1e-5


def test_matrix_to_quat_matches_scipy_and_is_canonical() -> None:
    aa = _batch(np.random.default_rng(5), 1000)
    ref = Rotation.from_rotvec(aa).as_quat()[:, [3, 0, 1, 2]]
    ref *= np.where(ref[:, :1] < 0, -1.0, 1.0)
    q = R.matrix_to_quat(Rotation.from_rotvec(aa).as_matrix())
    assert np.all(q[:, 0] >= 0)
    near_pi = np.abs(np.linalg.norm(aa, axis=-1) - math.pi) < 1e-3  # w ~ 0: either sign is canonical
    np.testing.assert_allclose(q[~near_pi], ref[~near_pi], atol=1e-12)
    np.testing.assert_allclose(np.abs(np.einsum("ni,ni->n", q, ref)), 1.0, atol=1e-12)


def test_quat_multiply_composes_like_matrices_and_conjugate_inverts() -> None:
    rng = np.random.default_rng(6)
    a, b = _batch(rng, 200), _batch(rng, 200)
    qa, qb = R.axis_angle_to_quat(a), R.axis_angle_to_quat(b)
    np.testing.assert_allclose(
        R.quat_to_matrix(R.quat_multiply(qa, qb)), R.axis_angle_to_matrix(a) @ R.axis_angle_to_matrix(b), atol=1e-12
    )
    ident = R.quat_multiply(qa, R.quat_conjugate(qa))
    np.testing.assert_allclose(ident, np.broadcast_to([1.0, 0, 0, 0], ident.shape), atol=1e-12)
    qt = R.quat_multiply(torch.tensor(qa), torch.tensor(qb))
    np.testing.assert_allclose(qt.numpy(), R.quat_multiply(qa, qb), atol=1e-15)


def test_quat_to_matrix_accepts_unnormalised_quaternions() -> None:
    q = np.random.default_rng(7).normal(size=(50, 4))
    np.testing.assert_allclose(R.quat_to_matrix(q * 3.7), R.quat_to_matrix(q), atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix(-q), R.quat_to_matrix(q), atol=1e-12)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(2, 40), st.integers(1, 4))
def test_quat_make_continuous(seed: int, frames: int, joints: int) -> None:
    rng = np.random.default_rng(seed)
    steps = rng.normal(scale=0.3, size=(frames, joints, 3))
    aa = np.cumsum(steps, axis=0)
    q = R.axis_angle_to_quat(aa)
    flipped = q * rng.choice([-1.0, 1.0], size=(frames, joints, 1))
    out = R.quat_make_continuous(flipped, axis=0)
    assert np.all(np.einsum("tji,tji->tj", out[1:], out[:-1]) >= 0)
    # same rotations, first frame untouched, each quaternion only changed by sign
    np.testing.assert_allclose(out[0], flipped[0])
    np.testing.assert_allclose(np.abs(np.einsum("tji,tji->tj", out, flipped)), 1.0, atol=1e-12)
    # time along another axis, and torch, give the same answer
    out_t = R.quat_make_continuous(torch.tensor(np.swapaxes(flipped, 0, 1)), axis=1)
    np.testing.assert_allclose(np.swapaxes(out_t.numpy(), 0, 1), out)
    out_neg = R.quat_make_continuous(np.swapaxes(flipped, 0, 1), axis=-2)
    np.testing.assert_allclose(np.swapaxes(out_neg, 0, 1), out)


def test_quat_make_continuous_rejects_the_quaternion_axis() -> None:
    with pytest.raises(ValueError, match="not a batch axis"):
        R.quat_make_continuous(np.ones((5, 4)), axis=-1)
    single = np.array([[0.0, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(R.quat_make_continuous(single), single)


@SETTINGS
@given(axis_angles(), axis_angles(), st.floats(0.0, 1.0))
def test_quat_slerp(a: np.ndarray, b: np.ndarray, t: float) -> None:
    q0, q1 = R.axis_angle_to_quat(a), R.axis_angle_to_quat(b)
    same = lambda x, y: min(np.abs(x - y).max(), np.abs(x + y).max())  # noqa: E731
    assert same(R.quat_slerp(q0, q1, 0.0), q0) < 1e-9
    assert same(R.quat_slerp(q0, q1, 1.0), q1) < 1e-9
    # shortest path: the sign of either end does not matter
    q = R.quat_slerp(q0, q1, t)
    assert same(R.quat_slerp(q0, -q1, t), q) < 1e-9
    # constant angular speed: the angle from q0 is t times the whole angle
    total = Rotation.from_quat(q1[[1, 2, 3, 0]]) * Rotation.from_quat(q0[[1, 2, 3, 0]]).inv()
    part = Rotation.from_quat(q[[1, 2, 3, 0]]) * Rotation.from_quat(q0[[1, 2, 3, 0]]).inv()
    assert abs(part.magnitude() - t * total.magnitude()) < 1e-6
    qt = R.quat_slerp(torch.tensor(q0), torch.tensor(q1), torch.tensor(t, dtype=torch.float64))
    np.testing.assert_allclose(qt.numpy(), q, atol=1e-12)


def test_slerp_midpoint_nearly_equal_and_broadcast_t() -> None:
    q0 = R.axis_angle_to_quat(np.array([0.0, 0.0, 0.0]))
    q1 = R.axis_angle_to_quat(np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(R.quat_slerp(q0, q1, 0.5), R.axis_angle_to_quat(np.array([0.0, 0.0, 0.5])), atol=1e-15)
    # nearly equal quaternions: finite, unit, on the segment
    a = np.array([0.3, -0.2, 0.9])
    for d in (0.0, 1e-12, 1e-8, 1e-5):
        qa, qb = R.axis_angle_to_quat(a), R.axis_angle_to_quat(a + d)
        for t in (0.0, 0.25, 0.5, 1.0):
            q = R.quat_slerp(qa, qb, t)
            assert np.all(np.isfinite(q))
            np.testing.assert_allclose(q, R.axis_angle_to_quat(a + t * d), atol=1e-12)
        qf = R.quat_slerp(torch.tensor(qa, dtype=torch.float32), torch.tensor(qb, dtype=torch.float32), 0.5)
        assert torch.isfinite(qf).all() and qf.dtype == torch.float32
    # t with its own shape broadcasts against the quaternions' leading dims
    ts = np.linspace(0, 1, 7)
    qs = R.quat_slerp(q0, q1, ts)
    assert qs.shape == (7, 4)
    np.testing.assert_allclose(R.quat_to_axis_angle(qs)[:, 2], ts, atol=1e-12)


# ---------------------------------------------------------------- Euler


@pytest.mark.parametrize("order", ORDERS)
def test_euler_to_matrix_is_intrinsic_in_channel_order(order: str) -> None:
    angles = np.random.default_rng(8).uniform(-math.pi, math.pi, size=(200, 3))
    # scipy: upper-case sequence = intrinsic rotations, first letter applied outermost
    np.testing.assert_allclose(R.euler_to_matrix(angles, order), Rotation.from_euler(order, angles).as_matrix(), atol=1e-12)
    manual = np.eye(3)
    for axis_name, a in zip(order, angles[0], strict=True):
        manual = manual @ Rotation.from_rotvec(np.eye(3)["XYZ".index(axis_name)] * a).as_matrix()
    np.testing.assert_allclose(R.euler_to_matrix(angles[0], order), manual, atol=1e-12)
    np.testing.assert_allclose(R.euler_to_matrix(np.degrees(angles), order.lower(), degrees=True),
                               R.euler_to_matrix(angles, order), atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
@settings(max_examples=40, deadline=None)
@given(aa=axis_angles())
def test_euler_round_trip_every_order(order: str, aa: np.ndarray) -> None:
    for x, tol in _backends(aa):
        mat = R.axis_angle_to_matrix(x)
        angles = R.matrix_to_euler(mat, order)
        _assert_same_kind(angles, x)
        a = _np(angles)
        assert abs(a[1]) <= math.pi / 2 + 1e-6 and np.all(np.abs(a) <= math.pi + 1e-6)
        np.testing.assert_allclose(_np(R.euler_to_matrix(angles, order)), _np(mat), atol=max(tol, 1e-12) * 100)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_angles_recovered_and_gimbal_lock(order: str) -> None:
    rng = np.random.default_rng(9)
    angles = np.stack([rng.uniform(-3.1, 3.1, 300), rng.uniform(-1.5, 1.5, 300), rng.uniform(-3.1, 3.1, 300)], -1)
    np.testing.assert_allclose(R.matrix_to_euler(R.euler_to_matrix(angles, order), order), angles, atol=1e-9)
    deg = R.matrix_to_euler(R.euler_to_matrix(angles, order), order, degrees=True)
    np.testing.assert_allclose(deg, np.degrees(angles), atol=1e-7)
    locked = angles.copy()
    locked[:, 1] = rng.choice([-math.pi / 2, math.pi / 2], 300)
    mats = R.euler_to_matrix(locked, order)
    back = R.matrix_to_euler(mats, order)
    assert np.all(np.isfinite(back))
    np.testing.assert_allclose(R.euler_to_matrix(back, order), mats, atol=1e-9)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_near_gimbal_lock_in_float32_and_torch(order: str) -> None:
    rng = np.random.default_rng(12)
    angles = rng.uniform(-3.0, 3.0, size=(400, 3))
    delta = rng.choice([1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 0.0], size=400)
    angles[:, 1] = np.where(rng.random(400) < 0.5, -1.0, 1.0) * (math.pi / 2 - delta)
    for x, tol in _backends(angles):
        mats = R.euler_to_matrix(x, order)
        back = R.matrix_to_euler(mats, order)
        assert np.all(np.isfinite(_np(back)))
        np.testing.assert_allclose(_np(R.euler_to_matrix(back, order)), _np(mats), atol=max(tol, 1e-12) * 30)


def test_euler_rejects_proper_euler_orders() -> None:
    with pytest.raises(ValueError, match="Tait-Bryan"):
        R.euler_to_matrix(np.zeros(3), "ZXZ")


# ---------------------------------------------------------------- torch specifics


def test_torch_gradients_finite_at_zero_rotation() -> None:
    for dtype in (torch.float32, torch.float64):
        aa = torch.zeros(4, 3, dtype=dtype, requires_grad=True)
        (R.axis_angle_to_matrix(aa) * torch.arange(9, dtype=dtype).reshape(3, 3)).sum().backward()
        assert torch.isfinite(aa.grad).all()
        # d(R)/d(aa) at 0 is the cross-product matrix: d R[2,1] / d aa_x = 1
        aa2 = torch.zeros(3, dtype=dtype, requires_grad=True)
        R.axis_angle_to_matrix(aa2)[2, 1].backward()
        np.testing.assert_allclose(aa2.grad.numpy(), [1.0, 0.0, 0.0], atol=1e-6)
        for fn in (R.axis_angle_to_quat, R.axis_angle_to_rot6d,
                   lambda x: R.matrix_to_axis_angle(R.axis_angle_to_matrix(x))):
            a = torch.zeros(2, 3, dtype=dtype, requires_grad=True)
            fn(a).sum().backward()
            assert torch.isfinite(a.grad).all()
        q = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=dtype, requires_grad=True)
        R.quat_to_axis_angle(q).sum().backward()
        assert torch.isfinite(q.grad).all()


def test_torch_gradcheck() -> None:
    rng = np.random.default_rng(10)
    aa = torch.tensor(np.concatenate([_batch(rng, 8), [[1e-6, 0.0, 0.0]]]), requires_grad=True)
    assert torch.autograd.gradcheck(R.axis_angle_to_matrix, (aa,))
    assert torch.autograd.gradcheck(R.axis_angle_to_quat, (aa,))
    d6 = torch.tensor(rng.normal(size=(6, 6)), requires_grad=True)
    assert torch.autograd.gradcheck(R.rot6d_to_matrix, (d6,))
    mild = torch.tensor(rng.normal(scale=0.5, size=(6, 3)))
    mats = R.axis_angle_to_matrix(mild).requires_grad_(True)
    assert torch.autograd.gradcheck(R.matrix_to_axis_angle, (mats,))


def test_torch_matches_numpy_and_keeps_dtype() -> None:
    aa = _batch(np.random.default_rng(11), 64)
    for fn in (R.axis_angle_to_matrix, R.axis_angle_to_quat, R.axis_angle_to_rot6d):
        ref = fn(aa)
        for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
            out = fn(torch.tensor(aa, dtype=dtype))
            assert out.dtype == dtype
            np.testing.assert_allclose(out.numpy(), ref, atol=tol)


def test_inputs_of_other_kinds_and_bad_shapes() -> None:
    out = R.axis_angle_to_matrix([[0, 0, 0]])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out[0], np.eye(3))
    assert R.axis_angle_to_matrix(torch.zeros(3, dtype=torch.int64)).dtype == torch.get_default_dtype()
    assert R.axis_angle_to_matrix(np.zeros((2, 5, 3), np.float32)).shape == (2, 5, 3, 3)
    with pytest.raises(ValueError, match="axis-angle"):
        R.axis_angle_to_matrix(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="rotation matrix"):
        R.matrix_to_quat(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="6D"):
        R.rot6d_to_matrix(np.zeros(5))


def test_torch_device_is_kept() -> None:
    """Meta tensors carry no data, so any constant made on the wrong device would raise here."""
    aa = torch.zeros(5, 2, 3, device="meta")
    mats = R.axis_angle_to_matrix(aa)
    q = R.axis_angle_to_quat(aa)
    outs = [mats, q, R.matrix_to_axis_angle(mats), R.matrix_to_quat(mats), R.rot6d_to_matrix(R.matrix_to_rot6d(mats)),
            R.matrix_to_euler(mats, "ZYX"), R.euler_to_matrix(aa, "XYZ"), R.quat_slerp(q, q, 0.5),
            R.quat_make_continuous(q), R.quat_multiply(q, R.quat_conjugate(q)), R.quat_to_axis_angle(q)]
    assert all(o.device.type == "meta" for o in outs)


def test_matrix_builder_accepts_plain_python_floats() -> None:
    """A matrix whose entries are all Python floats (constant rotations) builds as float64."""
    from egg_core.rotations import _matrix3

    m = _matrix3([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert m.dtype == np.float64 and np.array_equal(m, np.eye(3))


# ---------------------------------------------------------------- rotation average


@SETTINGS
@given(axis_angles(), st.lists(st.booleans(), min_size=1, max_size=6))
def test_quat_average_of_one_rotation_is_that_rotation_whatever_the_signs(aa: np.ndarray,
                                                                           flips: list[bool]) -> None:
    q = np.asarray(R.axis_angle_to_quat(aa))
    qs = np.stack([-q if f else q for f in flips])
    mean = R.quat_average(R.quat_outer_sum(qs))
    assert abs(abs(float(mean @ q)) - 1.0) < 1e-9 and mean[0] >= 0


@SETTINGS
@given(st.floats(0.0, 1.4), st.floats(-1.0, 1.0), st.floats(-1.0, 1.0))
def test_quat_average_of_a_symmetric_pair_is_their_midpoint(half: float, ax: float, ay: float) -> None:
    """Rotations by +-a about one axis, composed with a base rotation, average to the base."""
    axis = np.array([ax, ay, 1.0]) / np.linalg.norm([ax, ay, 1.0])
    base = np.asarray(R.axis_angle_to_quat(np.array([0.3, -0.2, 0.5])))
    pair = [np.asarray(R.quat_multiply(base, R.axis_angle_to_quat(s * half * axis))) for s in (1, -1)]
    mean = R.quat_average(R.quat_outer_sum(np.stack(pair)))
    assert abs(abs(float(mean @ base)) - 1.0) < 1e-9


def test_quat_average_is_additive_over_batches() -> None:
    rng = np.random.default_rng(3)
    q = np.asarray(R.axis_angle_to_quat(rng.normal(scale=0.4, size=(200, 5, 3))))
    whole = R.quat_average(R.quat_outer_sum(q))
    parts = R.quat_average(R.quat_outer_sum(q[:70]) + R.quat_outer_sum(q[70:]))
    np.testing.assert_allclose(whole, parts, atol=1e-12)
    assert whole.shape == (5, 4)
    with pytest.raises(ValueError, match="4, 4"):
        R.quat_average(np.zeros((3, 3)))
