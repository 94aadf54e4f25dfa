"""Whole-body takes in Blender: jaw, eyes, legs and root on the armature, expressions on the mesh.

The first tests apply a generated result (as the worker returns it) through the add-on's own
``apply_result``, so they need no torch and also run under the Blender 4.2 wheel
(``scripts/test_blender42.sh``): the shape-key action of 4.2 (legacy ``Action.fcurves``) and of
4.4+ (a KEY slot) are both exercised. The last test runs the whole operator on the bpy 5.0
wheel with a tiny whole-body checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
pytestmark = pytest.mark.blender

from egg_core.rotations import axis_angle_to_quat  # noqa: E402
from eggesture_blender import armature as arm  # noqa: E402
from eggesture_blender import body_mesh, compat, keyframes, operators  # noqa: E402
from eggesture_blender.worker import GenerationRequest, GenerationResult  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smplx_fixture import write_synthetic_smplx  # noqa: E402

FPS = 30.0
N = 45


def _result(seed: int = 0) -> GenerationResult:
    """A whole-body result: every joint, the root and the face move."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / FPS
    poses = 0.05 * rng.standard_normal((N, 55, 3))
    poses[:, 22] = 0.0
    poses[:, 22, 0] = 0.15 * (1 + np.sin(2 * np.pi * 3 * t))  # the jaw opens and closes
    trans = np.stack([0.1 * np.sin(t), 1.3 + 0.01 * np.cos(3 * t), 0.05 * t], axis=1)
    expressions = 0.3 * rng.standard_normal((N, 100))
    return GenerationResult(poses.astype(np.float32), trans.astype(np.float32), FPS, "test", [],
                            expressions.astype(np.float32))


def _plan(obj, parts: set[str]) -> operators.RunPlan:
    joints = operators._joint_indices(parts)
    request = GenerationRequest(audio_path="unused.wav", fps=FPS)
    return operators.RunPlan(request, obj.name, joints, "ROOT" in parts, 1.0, 1.0, float("inf"),
                             "speech", FPS)


def _curves(action) -> dict[tuple[str, int], np.ndarray]:
    out = {}
    for fc in compat.iter_fcurves(action):
        co = np.zeros(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.reshape(-1, 2)[:, 1]
    return out


@pytest.fixture
def smplx_scene():
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 30, 1.0
    return arm.create_smplx_armature(bpy.context.scene.collection, "SMPLX")


def test_jaw_legs_and_root_are_keyed_on_the_armature(smplx_scene) -> None:
    obj = smplx_scene
    res = _result()
    action = operators.apply_result(bpy.context, _plan(obj, {"UPPER", "HANDS", "LOWER", "HEAD", "ROOT"}), res)
    curves = _curves(action)
    jaw = np.stack([curves[('pose.bones["jaw"].rotation_quaternion', i)] for i in range(4)], axis=1)
    expected = np.asarray(axis_angle_to_quat(res.poses[:, 22].astype(np.float64)))
    np.testing.assert_allclose(np.abs(np.sum(jaw * expected, axis=1)), 1.0, atol=1e-5)
    assert np.ptp(jaw[:, 1]) > 0.1  # it opens and closes
    for leg in ("left_hip", "right_knee", "left_ankle", "left_eye_smplhf"):
        assert (f'pose.bones["{leg}"].rotation_quaternion', 0) in curves, leg
    loc = np.stack([curves[('pose.bones["pelvis"].location', i)] for i in range(3)], axis=1)
    np.testing.assert_allclose(loc - loc[0], res.trans - res.trans[0], atol=1e-5)


def test_without_face_and_root_the_jaw_and_pelvis_location_are_not_keyed(smplx_scene) -> None:
    obj = smplx_scene
    action = operators.apply_result(bpy.context, _plan(obj, {"UPPER", "HANDS", "LOWER"}), _result())
    paths = {p for p, _ in _curves(action)}
    assert 'pose.bones["jaw"].rotation_quaternion' not in paths
    assert 'pose.bones["pelvis"].location' not in paths
    assert 'pose.bones["left_knee"].rotation_quaternion' in paths


def test_expressions_are_keyed_on_the_body_mesh_as_a_new_take(tmp_path) -> None:
    """Face on: the 100 expression shape keys carry the generated coefficients; an earlier
    shape-key action and the armature's earlier action are kept (fake users, NLA)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 30, 1.0
    model_file = write_synthetic_smplx(tmp_path / "SMPLX_NEUTRAL_2020.npz", seed=3)
    obj = body_mesh.create_armature(bpy.context.scene.collection, "Body", with_mesh=True,
                                    model_dir=str(model_file.parent), pose_correctives=False)
    mesh = body_mesh.body_mesh_of(obj)
    parts = {"UPPER", "HANDS", "LOWER", "HEAD", "ROOT"}
    first = operators.apply_result(bpy.context, _plan(obj, parts), _result(1))
    first_keys = mesh.data.shape_keys.animation_data.action
    res = _result(2)
    second = operators.apply_result(bpy.context, _plan(obj, parts), res)
    keys_action = mesh.data.shape_keys.animation_data.action
    assert keys_action is not first_keys and first_keys.use_fake_user and first_keys.name in bpy.data.actions
    assert obj.animation_data.action is second and first.name in bpy.data.actions
    assert first.name in [t.name for t in obj.animation_data.nla_tracks]
    curves = _curves(keys_action)
    for e in (0, 17, 99):
        path = f'key_blocks["{body_mesh.expression_key_name(e)}"].value'
        np.testing.assert_allclose(curves[(path, 0)], res.expressions[:, e], atol=1e-6)
    # without the face the expression keys are left alone
    before = len([a for a in bpy.data.actions])
    operators.apply_result(bpy.context, _plan(obj, {"UPPER", "HANDS"}), _result(3))
    assert mesh.data.shape_keys.animation_data.action is keys_action
    assert len([a for a in bpy.data.actions]) == before + 1  # the armature's take only


def test_generate_with_a_whole_body_model_keys_face_legs_and_root(tmp_path) -> None:
    """The operator end to end with a tiny whole-body checkpoint (bpy 5.0 with torch)."""
    torch = pytest.importorskip("torch")
    import addon_utils

    from egg_core.checkpoint import save_checkpoint
    from egg_core.model.hip import HIPConfig, HIPGesture

    torch.manual_seed(0)
    model = HIPGesture(HIPConfig.tiny(text_encoder="hashed", phase=True))
    model.set_normalisation(torch.zeros(model.config.motion_dim), torch.full((model.config.motion_dim,), 0.3))
    ckpt = save_checkpoint(model, tmp_path / "hip.safetensors")
    wav = tmp_path / "speech.wav"
    import soundfile

    sr = 16000
    t = np.arange(int(3.2 * sr)) / sr
    soundfile.write(wav, (0.3 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32), sr)
    addon_utils.enable("eggesture_blender", default_set=True)
    try:
        prefs = bpy.context.preferences.addons["eggesture_blender"].preferences
        prefs.checkpoint_path = str(ckpt)
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = 30, 1.0
        assert bpy.ops.eggesture.create_armature() == {"FINISHED"}
        settings = scene.eggesture
        settings.audio_source, settings.audio_file = "FILE", str(wav)
        assert settings.parts == {"UPPER", "HANDS", "LOWER", "HEAD", "ROOT"}  # the default: everything
        action = operators.generate_sync(bpy.context)
        curves = _curves(action)
        for path in ('pose.bones["jaw"].rotation_quaternion', 'pose.bones["left_knee"].rotation_quaternion',
                     'pose.bones["pelvis"].location'):
            assert np.ptp(curves[(path, 1)]) > 0, path
        assert keyframes.next_take_name("speech").endswith("take 2")
    finally:
        addon_utils.disable("eggesture_blender", default_set=True)
