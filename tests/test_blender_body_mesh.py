"""The real SMPL-X body in the bpy wheel: armature at the model's joints, mesh posed as smplx.

Uses the synthetic full-size model file from ``tests/smplx_fixture.py`` (no licensed
data). The central check: after keying a random pose, translation and expressions for
one frame, the evaluated mesh (shape keys + Armature modifier) equals the vertices of
``smplx``'s own forward pass within 1e-4 m, after the Y-up -> Z-up change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
pytestmark = pytest.mark.blender

from egg_core.body_model import ENV_VAR, BodyModelError, load_body_model  # noqa: E402
from eggesture_blender import body_mesh  # noqa: E402
from eggesture_blender.armature import standing_offset  # noqa: E402
from eggesture_blender.axes import Y_UP_TO_Z_UP  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smplx_fixture import SMPLX_JOINT_NAMES, write_synthetic_smplx  # noqa: E402

TOL = 1e-4  # metres, the bound for the skinned mesh
ALL_JOINTS = list(range(55))


def _evaluated_world_vertices(obj: bpy.types.Object) -> np.ndarray:
    """World-space vertex positions of ``obj`` after shape keys and modifiers."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
    finally:
        evaluated.to_mesh_clear()
    world = np.array(evaluated.matrix_world)
    co = co.reshape(-1, 3).astype(np.float64)
    return co @ world[:3, :3].T + world[:3, 3]


def _random_take(rng: np.random.Generator, num_expressions: int):
    poses = rng.normal(scale=0.35, size=(1, 55, 3))
    trans = np.array([[0.1, 1.2, -0.3]]) + rng.normal(scale=0.05, size=(1, 3))
    expressions = rng.normal(scale=0.8, size=(1, num_expressions))
    return poses, trans, expressions


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("smplx_body")
    return write_synthetic_smplx(folder / "SMPLX_NEUTRAL_2020.npz", seed=11)


@pytest.fixture(scope="module")
def betas() -> np.ndarray:
    return np.random.default_rng(4).normal(size=300)


@pytest.fixture(scope="module")
def body(model_file, betas):
    """A fresh scene with the body armature + full mesh (486 correctives, 100 expressions)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    model = load_body_model(model_file.parent)
    obj = body_mesh.create_armature(bpy.context.scene.collection, "Body", with_mesh=True,
                                    model_dir=str(model_file.parent), betas=betas)
    return model, obj


def test_bone_heads_are_the_models_rest_joints(body, betas):
    model, obj = body
    assert body_mesh.is_body_armature(obj)
    joints = model.rest_joints(betas)
    expected = (joints + standing_offset()) @ Y_UP_TO_Z_UP.T
    heads = np.array([obj.data.bones[name].head_local for name in SMPLX_JOINT_NAMES])
    np.testing.assert_allclose(heads, expected, atol=1e-6)
    # Every SMPL-X bone keeps the rest frame in which SMPL-X axis-angle is the pose quaternion.
    for name in SMPLX_JOINT_NAMES:
        rest = np.array(obj.data.bones[name].matrix_local.to_3x3())
        np.testing.assert_allclose(rest, Y_UP_TO_Z_UP, atol=1e-6)


def test_mesh_has_weights_groups_and_shape_keys(body):
    model, obj = body
    mesh_obj = body_mesh.body_mesh_of(obj)
    assert mesh_obj is not None and mesh_obj.parent is obj
    assert len(mesh_obj.data.vertices) == model.num_vertices
    assert len(mesh_obj.data.polygons) == len(model.faces)
    assert [g.name for g in mesh_obj.vertex_groups] == list(SMPLX_JOINT_NAMES)
    modifier = mesh_obj.modifiers["Armature"]
    assert modifier.object is obj and not modifier.use_bone_envelopes
    names = mesh_obj.data.shape_keys.key_blocks.keys()
    assert len(names) == 1 + 486 + model.num_expressions
    assert names[1] == "pose.left_hip.00" and names[486] == "pose.right_thumb3.22"
    assert names[-1] == "Exp099"
    # Weights of one vertex as Blender stores them are the model's LBS row.
    v = 1234
    stored = np.zeros(55)
    for g in mesh_obj.data.vertices[v].groups:
        stored[g.group] = g.weight
    np.testing.assert_allclose(stored, model.lbs_weights[v], atol=1e-6)


def test_posed_mesh_matches_smplx_forward_pass(body, model_file, betas):
    smplx = pytest.importorskip("smplx", reason="the optional 'smplx' package is not installed")
    torch = pytest.importorskip("torch")
    model, obj = body
    rng = np.random.default_rng(7)
    poses, trans, expressions = _random_take(rng, model.num_expressions)
    frame = 3
    action = body_mesh.apply_body_take(obj, poses, trans, np.array([float(frame)]), ALL_JOINTS,
                                       expressions=expressions, base_name="check")
    assert action.name == "check take 1"
    mesh_obj = body_mesh.body_mesh_of(obj)
    key_action = mesh_obj.data.shape_keys.animation_data.action
    assert key_action.name == "check shapes take 1"
    bpy.context.scene.frame_set(frame)
    blender = _evaluated_world_vertices(mesh_obj)

    torch.set_num_threads(1)
    layer = smplx.create(str(model_file), model_type="smplx", gender="neutral", ext="npz",
                         num_betas=300, num_expression_coeffs=100, use_pca=False,
                         flat_hand_mean=True, dtype=torch.float64)
    p = torch.from_numpy(poses[0])
    with torch.no_grad():
        out = layer(
            betas=torch.from_numpy(betas)[None], expression=torch.from_numpy(expressions),
            global_orient=p[None, 0], body_pose=p[None, 1:22].reshape(1, -1),
            jaw_pose=p[None, 22], leye_pose=p[None, 23], reye_pose=p[None, 24],
            left_hand_pose=p[None, 25:40].reshape(1, -1),
            right_hand_pose=p[None, 40:55].reshape(1, -1), transl=torch.from_numpy(trans),
        )
    expected = out.vertices[0].numpy() @ Y_UP_TO_Z_UP.T
    error = np.abs(blender - expected).max()
    assert error < TOL, f"max vertex error {error:.2e} m"
    # The pose moved the body a lot compared with the bound (the check is not trivial).
    rest = model.shaped_vertices(betas) + standing_offset()
    assert np.abs(expected - rest @ Y_UP_TO_Z_UP.T).max() > 100 * TOL


def test_without_correctives_the_mesh_is_plain_lbs(model_file, betas):
    """No shape keys: the armature modifier alone is smplx's LBS without pose correctives."""
    model = load_body_model(model_file.parent)
    obj = body_mesh.create_body_armature(bpy.context.scene.collection, model, betas, "Plain",
                                         pose_correctives=False, expressions=False)
    mesh_obj = body_mesh.body_mesh_of(obj)
    assert mesh_obj.data.shape_keys is None
    poses, trans, _ = _random_take(np.random.default_rng(9), model.num_expressions)
    body_mesh.apply_body_take(obj, poses, trans, np.array([1.0]), ALL_JOINTS)
    bpy.context.scene.frame_set(1)
    blender = _evaluated_world_vertices(mesh_obj)
    verts, _ = model.forward(poses[0], trans[0], betas, pose_correctives=False)
    np.testing.assert_allclose(blender, verts @ Y_UP_TO_Z_UP.T, atol=TOL)


def test_without_model_files_the_default_armature_is_built():
    obj = body_mesh.create_armature(bpy.context.scene.collection, "Default", with_mesh=True,
                                    model_dir="")
    assert obj.type == "ARMATURE" and not body_mesh.is_body_armature(obj)
    assert body_mesh.body_mesh_of(obj) is None
    assert "not set" in body_mesh.describe_body_model("")


def test_folder_without_model_names_the_expected_files(tmp_path):
    with pytest.raises(BodyModelError, match="SMPLX_NEUTRAL_2020.npz"):
        body_mesh.create_armature(bpy.context.scene.collection, model_dir=str(tmp_path))
    assert "SMPLX_NEUTRAL_2020.npz" in body_mesh.describe_body_model(tmp_path)


def test_motion_with_expressions_is_keyed_on_scene_frames(body, betas, tmp_path):
    """A BEAT2 motion (15 fps) on a 30 fps scene: frames map, and each keyed frame is exact."""
    from egg_core.formats.beat2 import write_beat2_npz
    from egg_core.motion import Motion

    model, obj = body
    rng = np.random.default_rng(21)
    motion = Motion(poses=rng.normal(scale=0.3, size=(3, 55, 3)),
                    trans=rng.normal(scale=0.1, size=(3, 3)) + [0.0, 1.0, 0.0], fps=15.0,
                    betas=betas, expressions=rng.normal(scale=0.5, size=(3, 100)))
    path = tmp_path / "take.npz"
    write_beat2_npz(motion, path)
    shape, gender = body_mesh.shape_from_motion_file(path)
    np.testing.assert_allclose(shape, betas, atol=1e-6)  # float32 in the file
    assert gender == "neutral"

    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 30, 1.0
    body_mesh.apply_motion_to_body(obj, motion, frame_start=10, base_name="beat2")
    mesh_obj = body_mesh.body_mesh_of(obj)
    curves = list(body_mesh.compat.iter_fcurves(mesh_obj.data.shape_keys.animation_data.action))
    assert len(curves) == 486 + 100
    np.testing.assert_allclose([k.co[0] for k in curves[0].keyframe_points], [10, 12, 14])
    bpy.context.scene.frame_set(14)
    blender = _evaluated_world_vertices(mesh_obj)
    verts, _ = model.forward(motion.poses[2], motion.trans[2], betas, motion.expressions[2])
    np.testing.assert_allclose(blender, verts @ Y_UP_TO_Z_UP.T, atol=TOL)
