"""The SMPL-X body model: exact skeleton, mesh data, file lookup and errors.

The model files are licence-gated, so every test uses a synthetic model written by
``tests/smplx_fixture.py`` (same array names, shapes and dtypes as the real npz). The
central check: ``smplx``'s own forward pass and egg_core's forward kinematics on the
body-model skeleton agree on the 55 joint positions within 1e-5 m.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from egg_core import body_model
from egg_core.body_model import (
    ENV_VAR,
    BodyModelError,
    find_model_file,
    load_body_model,
    model_file_names,
    skeleton_for_motion,
)
from egg_core.errors import EggError
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import SMPLX, forward_kinematics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smplx_fixture import (  # noqa: E402
    SMPLX_JOINT_NAMES,
    SMPLX_PARENTS,
    synthetic_smplx_arrays,
    write_synthetic_smplx,
)

try:
    import smplx
    import torch
except ImportError:  # the optional extra is missing: only the comparisons with smplx skip
    smplx = torch = None

needs_smplx = pytest.mark.skipif(smplx is None, reason="the optional 'smplx' package is not installed")

TOL = 1e-5  # metres


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A folder with a full-size synthetic 2020-layout neutral model (300 shape + 100 expr)."""
    folder = tmp_path_factory.mktemp("smplx_models")
    write_synthetic_smplx(folder / "SMPLX_NEUTRAL_2020.npz", seed=3)
    return folder


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory) -> Path:
    """A v1.0-layout male model (10 shape + 10 expression columns) in a smplx/ sub-folder."""
    folder = tmp_path_factory.mktemp("smplx_legacy")
    write_synthetic_smplx(folder / "smplx" / "SMPLX_MALE.npz", seed=5, num_shape=10, num_expression=10)
    return folder


def _write_small(path: Path, **changes: np.ndarray) -> Path:
    """A small (200-vertex) model npz for loader tests that do not need smplx itself."""
    arrays = synthetic_smplx_arrays(seed=1, num_vertices=200, num_faces=300, smplx_compatible=False)
    arrays.update(changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def _smplx_joints(module, poses: np.ndarray, trans: np.ndarray, betas: np.ndarray,
                  expressions: np.ndarray | None = None):
    """Run smplx's forward pass; poses (B, 55, 3) split into its named parameters."""
    dtype = module.shapedirs.dtype
    batch = poses.shape[0]
    p = torch.as_tensor(poses.reshape(batch, 165), dtype=dtype)
    n_expr = module.num_expression_coeffs
    expr = np.zeros((batch, n_expr)) if expressions is None else expressions
    out = module(
        betas=torch.as_tensor(np.tile(betas, (batch, 1)), dtype=dtype),
        expression=torch.as_tensor(expr, dtype=dtype),
        global_orient=p[:, 0:3],
        body_pose=p[:, 3:66],
        jaw_pose=p[:, 66:69],
        leye_pose=p[:, 69:72],
        reye_pose=p[:, 72:75],
        left_hand_pose=p[:, 75:120],
        right_hand_pose=p[:, 120:165],
        transl=torch.as_tensor(trans, dtype=dtype),
        return_verts=True,
    )
    return out.joints.detach().numpy().astype(np.float64), out.vertices.detach().numpy().astype(np.float64)


def _random_motion(rng: np.random.Generator, batch: int, num_betas: int = 300):
    poses = rng.normal(scale=0.5, size=(batch, 55, 3))
    trans = rng.normal(scale=0.5, size=(batch, 3))
    betas = rng.normal(scale=1.0, size=num_betas)
    return poses, trans, betas


def _egg_fk(skeleton, poses: np.ndarray, trans: np.ndarray) -> np.ndarray:
    positions, _ = forward_kinematics(skeleton, axis_angle_to_matrix(poses), trans)
    return np.asarray(positions)


# ------------------------------------------------------------------ exactness against smplx


@needs_smplx
def test_lbs_regresses_joints_before_pose_correctives():
    """Read smplx.lbs: joints come from the regressor on the shaped rest mesh, pose blend
    shapes touch only the vertices (that is what makes a rest skeleton + FK exact)."""
    import inspect

    source = inspect.getsource(smplx.lbs.lbs)
    regress = source.index("vertices2joints(J_regressor, v_shaped)")
    assert regress < source.index("v_posed = pose_offsets + v_shaped")
    assert regress < source.index("batch_rigid_transform(rot_mats, J, parents")


@needs_smplx
def test_fk_on_body_skeleton_matches_smplx_joints(model_dir):
    rng = np.random.default_rng(0)
    model = load_body_model(model_dir)
    assert (model.num_betas, model.num_expressions) == (300, 100)
    module = model.smplx_module(batch_size=8)  # float32, as smplx is normally used
    for _ in range(3):  # three random shapes, eight random poses each
        poses, trans, betas = _random_motion(rng, batch=8)
        joints, _ = _smplx_joints(module, poses, trans, betas)
        ours = _egg_fk(model.skeleton(betas), poses, trans)
        assert ours.shape == (8, 55, 3)
        assert np.abs(ours - joints[:, :55]).max() < TOL
    # the comparison is not vacuous: the default skeleton is far off, and so is a zero shape
    assert np.abs(_egg_fk(SMPLX, poses, trans) - joints[:, :55]).max() > 0.01
    assert np.abs(_egg_fk(model.skeleton(), poses, trans) - joints[:, :55]).max() > 1e-3


@needs_smplx
def test_fewer_betas_truncate_the_beat2_shape(model_dir):
    """num_betas=10: the 300 BEAT2-style coefficients are cut to the first 10, as smplx does."""
    rng = np.random.default_rng(7)
    model = load_body_model(model_dir, num_betas=10, num_expressions=10)
    assert model.shapedirs.shape == (model.num_vertices, 3, 10)
    poses, trans, betas = _random_motion(rng, batch=4)
    module = model.smplx_module(batch_size=4, dtype=torch.float64)
    joints, _ = _smplx_joints(module, poses, trans, betas[:10])
    assert np.abs(_egg_fk(model.skeleton(betas), poses, trans) - joints[:, :55]).max() < TOL
    np.testing.assert_array_equal(model.fit_betas(betas), betas[:10])
    np.testing.assert_array_equal(model.fit_betas(betas[:4]), np.r_[betas[:4], np.zeros(6)])


@needs_smplx
def test_hands_mean_convention(model_dir):
    """smplx's default flat_hand_mean=False equals egg FK after adding the model's hand mean."""
    rng = np.random.default_rng(11)
    model = load_body_model(model_dir)
    poses, trans, betas = _random_motion(rng, batch=3)
    module = model.smplx_module(batch_size=3, flat_hand_mean=False)
    joints, _ = _smplx_joints(module, poses, trans, betas)
    with_mean = model.full_pose(poses, add_hands_mean=True)
    assert np.abs(_egg_fk(model.skeleton(betas), with_mean, trans) - joints[:, :55]).max() < TOL
    assert np.abs(_egg_fk(model.skeleton(betas), poses, trans) - joints[:, :55]).max() > 1e-3


@needs_smplx
def test_numpy_forward_matches_smplx_vertices_and_joints(model_dir):
    """BodyModel.forward (numpy, for Blender without torch) reproduces smplx, expressions included."""
    rng = np.random.default_rng(5)
    model = load_body_model(model_dir)
    poses, trans, betas = _random_motion(rng, batch=3)
    expressions = rng.normal(size=(3, 100))
    module = model.smplx_module(batch_size=3, dtype=torch.float64)
    joints, vertices = _smplx_joints(module, poses, trans, betas, expressions)
    ours_v, ours_j = model.forward(poses, trans, betas, expressions)
    assert np.abs(ours_v - vertices).max() < TOL
    assert np.abs(ours_j - joints[:, :55]).max() < TOL
    # expressions are part of the shape vector, so they move the regressed joints a little
    moved = model.rest_joints(betas, expressions) - model.rest_joints(betas)
    assert np.abs(moved).max() > 1e-4
    # at the rest pose the mesh is the shaped mesh, moved by the translation
    rest_v, rest_j = model.forward(np.zeros((1, 55, 3)), trans[:1], betas, expressions[:1])
    np.testing.assert_allclose(rest_v[0], model.shaped_vertices(betas, expressions[0]) + trans[0], atol=1e-12)
    np.testing.assert_allclose(rest_j[0], model.rest_joints(betas, expressions[0]) + trans[0], atol=1e-12)
    # pose correctives matter on a posed frame, and only on the vertices
    plain_v, plain_j = model.forward(poses, trans, betas, expressions, pose_correctives=False)
    assert np.abs(plain_v - ours_v).max() > 1e-3
    np.testing.assert_array_equal(plain_j, ours_j)


@needs_smplx
def test_real_beat2_shape_and_poses(model_dir, beat2_take):
    """A real BEAT2 take (300 betas, real poses) on the synthetic body: FK == smplx."""
    with np.load(beat2_take) as take:
        poses = take["poses"][::400].reshape(-1, 55, 3).astype(np.float64)
        trans = take["trans"][::400].astype(np.float64)
        betas = take["betas"].astype(np.float64)

    class Take:  # just the attributes skeleton_for_motion reads
        pass

    motion = Take()
    motion.betas, motion.gender = betas, "neutral"
    skeleton = skeleton_for_motion(motion, model_dir)
    module = load_body_model(model_dir).smplx_module(batch_size=len(poses))
    joints, _ = _smplx_joints(module, poses, trans, betas)
    assert np.abs(_egg_fk(skeleton, poses, trans) - joints[:, :55]).max() < TOL


@needs_smplx
def test_legacy_ten_beta_files(legacy_dir):
    """v1.0 files (10 + 10 columns) in a smplx/ sub-folder; 300 betas truncate to 10."""
    model = load_body_model(legacy_dir, gender="male")
    assert (model.num_betas, model.num_expressions) == (10, 10)
    assert model.path.parent.name == "smplx"
    rng = np.random.default_rng(2)
    poses, trans, betas = _random_motion(rng, batch=2)
    module = model.smplx_module(batch_size=2)
    joints, _ = _smplx_joints(module, poses, trans, betas[:10])
    assert np.abs(_egg_fk(model.skeleton(betas), poses, trans) - joints[:, :55]).max() < TOL


# ------------------------------------------------------------------ mesh data and skeleton


def test_fixture_is_a_valid_smplx_file():
    """The synthetic file has the real keys, shapes and dtypes, with valid values."""
    a = synthetic_smplx_arrays(seed=2, num_vertices=300, num_faces=400, smplx_compatible=False)
    expected = {
        "v_template": ((300, 3), np.float64), "f": ((400, 3), np.uint32),
        "J_regressor": ((55, 300), np.float64), "kintree_table": ((2, 55), np.int64),
        "weights": ((300, 55), np.float64), "shapedirs": ((300, 3, 400), np.float64),
        "posedirs": ((300, 3, 486), np.float64), "hands_componentsl": ((45, 45), np.float64),
        "hands_meanr": ((45,), np.float64), "lmk_faces_idx": ((51,), np.int64),
        "lmk_bary_coords": ((51, 3), np.float64), "dynamic_lmk_faces_idx": ((79, 17), np.int64),
        "dynamic_lmk_bary_coords": ((79, 17, 3), np.float64),
    }
    for key, (shape, dtype) in expected.items():
        assert a[key].shape == shape and a[key].dtype == dtype, key
    np.testing.assert_allclose(a["J_regressor"].sum(axis=1), 1.0)
    assert a["J_regressor"].min() >= 0 and a["weights"].min() >= 0
    np.testing.assert_allclose(a["weights"].sum(axis=1), 1.0)
    assert tuple(a["kintree_table"][0, 1:]) == SMPLX_PARENTS[1:] and a["kintree_table"][0, 0] == 2**32 - 1
    np.testing.assert_allclose(a["hands_componentsl"] @ a["hands_componentsl"].T, np.eye(45), atol=1e-12)
    np.testing.assert_allclose(a["dynamic_lmk_bary_coords"].sum(axis=-1), 1.0)
    assert a["f"].max() < 300 and a["lmk_faces_idx"].max() < 400
    assert a["joint2num"].item()["right_thumb3"] == 54
    with pytest.raises(ValueError, match="9930"):
        synthetic_smplx_arrays(num_vertices=500)


def test_mesh_data_for_blender(model_dir):
    model = load_body_model(model_dir)
    with np.load(model_dir / "SMPLX_NEUTRAL_2020.npz") as npz:
        raw = {k: npz[k] for k in ("v_template", "shapedirs", "J_regressor")}
    betas = np.random.default_rng(0).normal(size=300)
    expected = raw["v_template"] + np.einsum("vkl,l->vk", raw["shapedirs"][:, :, :300], betas)
    np.testing.assert_allclose(model.shaped_vertices(betas), expected, atol=1e-12)
    assert model.faces.shape == (20908, 3) and model.faces.dtype == np.int64
    assert model.faces.max() < model.num_vertices
    assert model.lbs_weights.shape == (10475, 55)
    np.testing.assert_allclose(model.lbs_weights.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.expression_dirs, raw["shapedirs"][:, :, 300:400])
    assert model.posedirs.shape == (10475, 3, 486)
    assert model.hands_mean.shape == (30, 3)
    assert not model.v_template.flags.writeable  # shared through the cache: read-only
    np.testing.assert_allclose(
        model.rest_joints(betas), raw["J_regressor"] @ expected, atol=1e-12
    )


def test_skeleton_keeps_smplx_topology(model_dir):
    model = load_body_model(model_dir)
    betas = np.linspace(-1, 1, 300)
    skel = model.skeleton(betas)
    assert skel.joint_names == SMPLX.joint_names == SMPLX_JOINT_NAMES
    assert tuple(skel.parents) == tuple(SMPLX.parents) == SMPLX_PARENTS
    assert skel.parts == SMPLX.parts and skel.mirror == SMPLX.mirror
    assert skel.offsets.shape == (55, 3) and skel.offsets.dtype == np.float64
    np.testing.assert_allclose(skel.rest_positions(), model.rest_joints(betas), atol=1e-12)
    assert "SMPLX_NEUTRAL_2020" in skel.name


# ------------------------------------------------------------------ where the files are


def test_env_var_and_argument(model_dir, tmp_path, monkeypatch):
    expected = model_dir / "SMPLX_NEUTRAL_2020.npz"
    with pytest.raises(BodyModelError, match=ENV_VAR):
        find_model_file()
    monkeypatch.setenv(ENV_VAR, str(model_dir))
    assert find_model_file() == expected
    assert load_body_model() is load_body_model(model_dir)  # cached
    # an argument wins over the variable; a file path works too
    _write_small(tmp_path / "SMPLX_NEUTRAL.npz")
    assert find_model_file(tmp_path) == tmp_path / "SMPLX_NEUTRAL.npz"
    assert find_model_file(expected) == expected


def test_2020_file_preferred_and_names_are_case_insensitive(tmp_path):
    _write_small(tmp_path / "smplx_neutral.npz")
    assert find_model_file(tmp_path).name == "smplx_neutral.npz"
    _write_small(tmp_path / "SMPLX_NEUTRAL_2020.npz")
    assert find_model_file(tmp_path).name == "SMPLX_NEUTRAL_2020.npz"
    assert model_file_names("Female") == ("SMPLX_FEMALE_2020.npz", "SMPLX_FEMALE.npz")


def test_empty_folder_names_the_expected_files(tmp_path):
    with pytest.raises(BodyModelError) as err:
        load_body_model(tmp_path)
    message = str(err.value)
    assert "SMPLX_NEUTRAL_2020.npz" in message and "SMPLX_NEUTRAL.npz" in message
    assert str(tmp_path) in message and "no SMPLX_* file" in message
    assert isinstance(err.value, EggError)
    with pytest.raises(BodyModelError, match="does not exist"):
        load_body_model(tmp_path / "missing")
    with pytest.raises(BodyModelError, match="SMPLX_MALE.npz"):
        load_body_model(tmp_path, gender="male")
    with pytest.raises(BodyModelError, match="neutral, male, female"):
        load_body_model(tmp_path, gender="robot")


def test_wrong_files_are_refused_with_reasons(tmp_path):
    (tmp_path / "SMPLX_NEUTRAL.pkl").write_bytes(b"not used")
    with pytest.raises(BodyModelError, match=r"\.pkl model files are not supported"):
        find_model_file(tmp_path)
    with pytest.raises(BodyModelError, match="not an SMPL-X .npz"):
        find_model_file(tmp_path / "SMPLX_NEUTRAL.pkl")

    broken = tmp_path / "broken" / "SMPLX_NEUTRAL.npz"
    broken.parent.mkdir()
    broken.write_bytes(b"PK\x03\x04 this is no zip archive")
    with pytest.raises(BodyModelError, match="Could not read"):
        load_body_model(broken.parent)

    smpl_like = tmp_path / "smpl" / "SMPLX_NEUTRAL.npz"
    smpl_like.parent.mkdir()
    np.savez(smpl_like, v_template=np.zeros((6890, 3)), f=np.zeros((10, 3), np.uint32))
    with pytest.raises(BodyModelError, match="lacks J_regressor, kintree_table, weights"):
        load_body_model(smpl_like.parent)

    kintree = np.stack([np.array(SMPLX_PARENTS), np.arange(55)])
    kintree[0, 40] = 20  # not the SMPL-X tree
    wrong_tree = _write_small(tmp_path / "tree" / "SMPLX_NEUTRAL.npz", kintree_table=kintree)
    with pytest.raises(BodyModelError, match="not the SMPL-X joint tree"):
        load_body_model(wrong_tree)

    bad_faces = _write_small(tmp_path / "f" / "SMPLX_NEUTRAL.npz", f=np.full((4, 3), 500, np.uint32))
    with pytest.raises(BodyModelError, match="f refers to vertices outside 0..199"):
        load_body_model(bad_faces)

    bad_weights = _write_small(tmp_path / "w" / "SMPLX_NEUTRAL.npz", weights=np.ones((200, 54)))
    with pytest.raises(BodyModelError, match=r"weights has shape \(200, 54\), expected \(200, 55\)"):
        load_body_model(bad_weights)


def test_root_stored_as_minus_one_is_accepted(tmp_path):
    kintree = np.stack([np.array(SMPLX_PARENTS), np.arange(55)]).astype(np.int32)
    path = _write_small(tmp_path / "SMPLX_NEUTRAL.npz", kintree_table=kintree)
    assert load_body_model(path).parents == SMPLX_PARENTS


# ------------------------------------------------------------------ skeleton_for_motion


class _Motion:
    def __init__(self, betas=None, gender="neutral"):
        self.betas = np.zeros(300, np.float32) if betas is None else betas
        self.gender = gender


def test_skeleton_for_motion_without_files_is_the_default():
    assert skeleton_for_motion(_Motion()) is SMPLX


def test_skeleton_for_motion_uses_env_and_betas(model_dir, monkeypatch):
    betas = np.random.default_rng(4).normal(size=300).astype(np.float32)
    monkeypatch.setenv(ENV_VAR, str(model_dir))
    skel = skeleton_for_motion(_Motion(betas))
    np.testing.assert_allclose(skel.offsets, load_body_model(model_dir).skeleton(betas).offsets)
    # a motion of another gender falls back to the neutral file; an explicit gender does not
    male = skeleton_for_motion(_Motion(betas, gender="male"))
    np.testing.assert_array_equal(male.offsets, skel.offsets)
    with pytest.raises(BodyModelError, match="SMPLX_FEMALE"):
        skeleton_for_motion(_Motion(betas), gender="female")
    ten = skeleton_for_motion(_Motion(betas), num_betas=10)
    np.testing.assert_allclose(ten.offsets, load_body_model(model_dir).skeleton(np.r_[betas[:10], np.zeros(290)]).offsets, atol=1e-12)


def test_skeleton_for_motion_with_real_motion_type(tmp_path):
    from egg_core.motion import Motion

    _write_small(tmp_path / "SMPLX_NEUTRAL.npz")
    motion = Motion(poses=np.zeros((2, 55, 3), np.float32), trans=np.zeros((2, 3), np.float32), fps=30.0)
    skel = skeleton_for_motion(motion, tmp_path)
    np.testing.assert_allclose(skel.rest_positions(), load_body_model(tmp_path).rest_joints(), atol=1e-12)


def test_works_without_smplx_package(tmp_path, monkeypatch):
    path = _write_small(tmp_path / "SMPLX_NEUTRAL.npz")
    monkeypatch.setitem(sys.modules, "smplx", None)  # makes "import smplx" fail
    model = body_model.load_body_model(path, num_betas=5)
    assert model.skeleton(np.ones(300)).offsets.shape == (55, 3)
    with pytest.raises(BodyModelError, match="eggesture\\[smplx\\]"):
        model.smplx_module()


def test_bvh_export_carries_the_exact_skeleton(tmp_path):
    """motion_to_bvh with the body-model skeleton writes its offsets; FK of the file agrees."""
    from egg_core.formats.bvh import motion_to_bvh, read_bvh
    from egg_core.motion import Motion

    _write_small(tmp_path / "SMPLX_NEUTRAL.npz")
    rng = np.random.default_rng(0)
    motion = Motion(
        poses=rng.normal(scale=0.4, size=(5, 55, 3)).astype(np.float32),
        trans=rng.normal(size=(5, 3)).astype(np.float32),
        fps=30.0,
        betas=rng.normal(size=300).astype(np.float32),
    )
    skel = skeleton_for_motion(motion, tmp_path)
    motion_to_bvh(motion, tmp_path / "take.bvh", skeleton=skel)
    bvh = read_bvh(tmp_path / "take.bvh")
    order = [bvh.skeleton.index(name) for name in skel.joint_names]
    np.testing.assert_allclose(bvh.skeleton.offsets[order], skel.offsets, atol=1e-6)
    from_file, _ = forward_kinematics(
        bvh.skeleton, bvh.local_rotmats, bvh.root_positions - bvh.skeleton.offsets[0]
    )
    expected = _egg_fk(skel, motion.poses.astype(np.float64), motion.trans)
    np.testing.assert_allclose(np.asarray(from_file)[:, order], expected, atol=1e-5)
