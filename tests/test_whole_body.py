"""The whole-body model: part features, root and feet, the cascade, training and generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from egg_core.checkpoint import load_checkpoint, save_checkpoint
from egg_core.formats.beat2 import read_beat2_npz
from egg_core.inference import GestureGenerator
from egg_core.model.hip import GUIDES, HIPConfig, HIPGesture
from egg_core.model.parts import (
    BODY_PARTS,
    LAYOUTS,
    feature_dim,
    features_to_whole_body,
    foot_contacts,
    integrate_root,
    part_slices,
    plant_feet,
    whole_body_features,
)
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import SMPLX, forward_kinematics
from training.metrics import face_errors, foot_skating, jaw_loudness_correlation


def _tiny(**kw) -> HIPGesture:
    torch.manual_seed(0)
    return HIPGesture(HIPConfig.tiny(text_encoder="hashed", **kw)).eval()


# --------------------------------------------------------------------------- representation


def test_layouts_follow_the_emage_masks() -> None:
    assert LAYOUTS["face"].dim == 6 + 100
    assert LAYOUTS["upper"].joints == SMPLX.subset_indices(["upper"]) and LAYOUTS["upper"].dim == 78
    assert LAYOUTS["hands"].dim == 180
    assert LAYOUTS["lower"].dim == 9 * 6 + 5  # + velocity x/z, height, two contacts
    slices = part_slices(BODY_PARTS)
    assert [slices[p].start for p in BODY_PARTS] == [0, 106, 184, 243]
    assert feature_dim(BODY_PARTS) == 423


def test_real_take_round_trips_through_the_part_features(beat2_take: Path) -> None:
    """Every joint, the expressions and the root come back from the features of a real take."""
    m = read_beat2_npz(beat2_take)
    poses, trans, expr = m.poses[:600], m.trans[:600], m.expressions[:600]
    feats = whole_body_features(poses, trans, expr, m.fps)
    assert feats.shape == (600, 423) and np.isfinite(feats).all()
    body = features_to_whole_body(feats, BODY_PARTS, m.fps, base_pose=np.zeros((55, 3)), feet=False)
    generated = sorted(j for p in BODY_PARTS for j in LAYOUTS[p].joints)
    rot = axis_angle_to_matrix(body.poses[:, generated].astype(np.float64))
    ref = axis_angle_to_matrix(poses[:, generated].astype(np.float64))
    assert np.abs(rot - ref).max() < 1e-4
    np.testing.assert_allclose(body.expressions, expr, atol=1e-6)
    # the root: height exact, horizontal path from the integrated velocity (with its slow leak)
    np.testing.assert_allclose(body.trans[:, 1], trans[:, 1], atol=1e-6)
    start = trans[0, [0, 2]]
    drift = np.abs((body.trans[:, [0, 2]] + start) - trans[:, [0, 2]]).max()
    assert drift < 0.5 * np.ptp(trans[:, [0, 2]], axis=0).max()
    # the eyes are not part of any body part: they keep the base pose
    np.testing.assert_array_equal(body.poses[:, 23:25], 0.0)


def test_each_part_round_trips_on_its_own(beat2_take: Path) -> None:
    m = read_beat2_npz(beat2_take)
    for part in BODY_PARTS:
        feats = whole_body_features(m.poses[:200], m.trans[:200], m.expressions[:200], m.fps, (part,))
        assert feats.shape == (200, LAYOUTS[part].dim)
        body = features_to_whole_body(feats, (part,), m.fps, base_pose=np.zeros((55, 3)), feet=False)
        joints = list(LAYOUTS[part].joints)
        np.testing.assert_allclose(axis_angle_to_matrix(body.poses[:, joints].astype(np.float64)),
                                   axis_angle_to_matrix(m.poses[:200, joints].astype(np.float64)), atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5), st.floats(2.0, 30.0))
def test_integrated_root_follows_a_constant_velocity_and_comes_back(vx: float, vz: float, fps: float) -> None:
    """With no leak a constant velocity is a straight line; with the leak the position stays bounded."""
    n = int(fps * 4)
    vel = np.tile([vx, vz], (n, 1))
    straight = integrate_root(vel, np.full(n, 1.0), fps, leak_s=1e9)
    np.testing.assert_allclose(straight[-1, [0, 2]], np.array([vx, vz]) * (n - 1) / fps, rtol=1e-5, atol=1e-6)
    long = integrate_root(np.tile([vx, vz], (int(fps * 120), 1)), np.ones(int(fps * 120)), fps, leak_s=8.0)
    assert np.abs(long[:, [0, 2]]).max() <= 8.0 * max(abs(vx), abs(vz)) * 1.2 + 1e-6


def test_contacts_follow_the_emage_speed_rule() -> None:
    n, fps = 60, 15.0
    poses = np.zeros((n, 55, 3))
    sliding = np.zeros((n, 3))
    sliding[:, 0] = np.linspace(0.0, 3.0, n)  # 76 cm/s, faster than the 30 cm/s contact rule
    assert foot_contacts(poses, sliding, fps).sum() == 0
    assert foot_contacts(poses, np.zeros((n, 3)), fps).min() == 1
    assert foot_skating(poses, sliding, fps) is None  # nothing in contact


def test_planted_feet_stay_put_while_the_pelvis_sways_and_the_legs_swing() -> None:
    """Contacts on: every ankle and toe stays where its contact began (IK on hip and knee, the
    ankle's world orientation held), while the pelvis keeps its generated sway; frames without
    contact are left exactly as generated."""
    n, fps = 90, 15.0
    t = np.arange(n) / fps
    rng = np.random.default_rng(3)
    poses = np.zeros((n, 55, 3))
    poses[:, 1, 0] = 0.15 * np.sin(2 * t)  # the left thigh swings
    poses[:, 4, 0] = 0.5  # the left knee is bent: slack for the pelvis to move
    poses[:, 5, 0] = 0.5 + 0.1 * np.sin(3 * t)  # the right knee bends and stretches
    poses[:, 0, 1] = 0.1 * np.sin(t)  # the pelvis turns
    poses += 0.01 * rng.standard_normal(poses.shape)
    trans = np.stack([0.04 * np.sin(1.5 * t), 1.3 - 0.01 * (1 - np.cos(t)), 0.03 * np.cos(t)], axis=1)
    contacts = np.ones((n, 2))
    contacts[60:70, 0] = 0  # the left foot lifts and touches down again
    planted = plant_feet(poses, trans, contacts, blend=1)
    feet, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(planted.astype(np.float64)), trans)
    for ankle, toe in ((7, 10), (8, 11)):
        for run in ((slice(0, 60), slice(70, n)) if ankle == 7 else (slice(0, n),)):
            for j in (ankle, toe):
                assert np.abs(feet[run, j] - feet[run.start, j]).max() < 1e-3, (j, run)
    np.testing.assert_allclose(planted[60:70, [1, 4, 7]], poses[60:70, [1, 4, 7]], atol=1e-6)
    unplanted, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(poses), trans)
    assert np.abs(np.diff(unplanted[:60, 7], axis=0)).max() > 5e-3  # there was sliding to remove
    np.testing.assert_array_equal(planted[:, 0], poses[:, 0].astype(np.float32))  # the sway stays


# --------------------------------------------------------------------------- metrics


def test_jaw_loudness_correlation_of_a_jaw_that_opens_with_the_voice() -> None:
    sr, fps, n = 16000, 32.0, 320  # 500 samples per frame
    rng = np.random.default_rng(0)
    envelope = (np.sin(np.arange(n) / 7.0) > 0).astype(float)
    wave = (rng.standard_normal(n * 500) * np.repeat(envelope, 500)).astype(np.float32)
    poses = np.zeros((n, 55, 3))
    poses[:, 22, 0] = 0.2 * envelope
    assert jaw_loudness_correlation(poses, wave, sr, fps) > 0.9
    poses[:, 22, 0] = 0.2 * (1 - envelope)
    assert jaw_loudness_correlation(poses, wave, sr, fps) < -0.9
    assert jaw_loudness_correlation(np.zeros((n, 55, 3)), wave, sr, fps) is None


def test_face_errors_of_the_real_take_against_itself_and_a_still_face(beat2_take: Path) -> None:
    m = read_beat2_npz(beat2_take)
    same = face_errors(m.poses, m.expressions, m.poses, m.expressions)
    assert same == {"expression_mse": 0.0, "jaw_mse": 0.0}
    still = face_errors(np.zeros_like(m.poses), np.zeros_like(m.expressions), m.poses, m.expressions)
    assert still["expression_mse"] == pytest.approx(float(np.mean(m.expressions.astype(np.float64) ** 2)))
    assert 0.0 < still["jaw_mse"] < 0.01


def test_real_takes_stand_within_the_skating_target(beat2_take: Path) -> None:
    m = read_beat2_npz(beat2_take)
    assert 0.5 < foot_skating(m.poses, m.trans, m.fps) < 2.5


# --------------------------------------------------------------------------- model


def test_cascade_hands_logits_follow_the_upper_body_tokens() -> None:
    """The hands' classifier is conditioned on the upper body's latents: other body tokens,
    other hand logits. Without the cascade they do not depend on them."""
    for cascade, should_change in ((True, True), (False, False)):
        model = _tiny(cascade=cascade, phase=False)
        cfg = model.config
        n = cfg.window_tokens
        cond = torch.randn(1, n, cfg.audio_dim + cfg.text_dim)
        upper = model.vq["upper"].quantizer
        lat_a = {"face": torch.zeros(1, n, cfg.code_dim), "upper": upper.lookup(torch.zeros(1, n, dtype=torch.long))}
        lat_b = dict(lat_a, upper=upper.lookup(torch.full((1, n), 5, dtype=torch.long)))
        hands = model.classifiers["hands"]
        la = hands(model._part_condition("hands", cond, lat_a, None))
        lb = hands(model._part_condition("hands", cond, lat_b, None))
        assert (not torch.allclose(la, lb)) is should_change
    assert GUIDES["hands"] == ("upper",) and GUIDES["upper"] == ("face",)


def test_phase_conditions_the_body_and_hands_but_not_the_face() -> None:
    model = _tiny(phase=True)
    cfg = model.config
    cond = torch.randn(1, cfg.window_tokens, cfg.audio_dim + cfg.text_dim)
    phase = model.predict_phase(cond)
    assert phase.shape == (1, cfg.window_tokens, 2 * cfg.phase_channels)
    assert model._part_condition("face", cond, {}, phase).shape[-1] == cond.shape[-1]
    lat = {"face": torch.zeros(1, cfg.window_tokens, cfg.code_dim)}
    assert model._part_condition("upper", cond, lat, phase).shape[-1] == cond.shape[-1] + cfg.code_dim + phase.shape[-1]


def test_losses_train_every_part_and_the_phase_head() -> None:
    model = _tiny(phase=True).train()
    cfg = model.config
    b, t = 3, cfg.window_frames
    batch = {"motion": torch.randn(b, t, cfg.motion_dim), "audio": torch.randn(b, t, cfg.audio_feature_dim),
             "text": torch.randn(b, t, cfg.text_feature_dim), "phase": torch.randn(b, t, cfg.phase_dim)}
    out = model.losses(batch, epoch=5)
    for p in BODY_PARTS:
        assert float(out[f"rec_{p}"]) > 0
    assert float(out["phase"]) > 0 and torch.isfinite(out["total"])
    out["total"].backward()
    for name in ("vq.face.encoder", "vq.lower.decoder", "classifiers.hands", "phase_head", "audio_encoder"):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name)]
        assert grads and all(g is not None for g in grads), name
    with pytest.raises(ValueError, match="needs 'phase'"):
        model.losses({k: v for k, v in batch.items() if k != "phase"}, epoch=5)


def test_checkpoint_round_trip_and_generation_writes_the_whole_body(tmp_path: Path) -> None:
    model = _tiny(phase=True)
    mean = torch.randn(model.config.motion_dim) * 0.01
    model.set_normalisation(mean, torch.full((model.config.motion_dim,), 0.2))
    path = save_checkpoint(model, tmp_path / "hip.safetensors")
    loaded, meta = load_checkpoint(path, "cpu")
    assert isinstance(loaded, HIPGesture) and meta["model"] == "hip"
    torch.testing.assert_close(loaded.feature_mean, mean)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    gen = GestureGenerator(loaded, meta)
    assert gen.whole_body
    sr = 16000
    t = np.arange(int(6.3 * sr)) / sr
    wave = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)).astype(np.float32)
    motion = gen.generate(wave, sr, fps=30.0, seed=1)
    assert motion.num_frames == round(6.3 * 30) and motion.fps == 30.0
    moving = lambda a: float(np.abs(np.diff(a, axis=0)).max()) > 0  # noqa: E731
    assert moving(motion.expressions) and moving(motion.poses[:, 22]) and moving(motion.poses[:, [1, 2, 4, 5]])
    assert moving(motion.trans[:, [0, 2]]) and np.isfinite(motion.trans).all()
    again = gen.generate(wave, sr, fps=30.0, seed=1)
    np.testing.assert_array_equal(motion.poses, again.poses)


def test_preview_draws_the_legs_and_a_mouth_that_opens_with_the_jaw() -> None:
    from egg_core.motion import Motion
    from egg_core.preview import mouth_opening, render_frames

    poses = np.zeros((2, 55, 3), np.float32)
    poses[1, 22, 0] = 0.12  # fully open
    motion = Motion(poses=poses, trans=np.zeros((2, 3), np.float32), fps=15.0)
    np.testing.assert_allclose(mouth_opening(poses), [0.0, 1.0])
    closed, opened = (np.asarray(f) for f in render_frames(motion, 15.0))
    red = lambda img: int(np.all(img == (150, 60, 60), axis=-1).sum())  # noqa: E731
    assert red(opened) > 2 * red(closed) > 0
    # the legs are drawn: the figure spans head to feet (about 1.7 m), more than twice the
    # height of the head-to-pelvis part alone
    ink = np.any(closed != (250, 250, 247), axis=-1)
    rows = np.nonzero(ink.any(axis=1))[0]
    assert rows.max() - rows.min() > 0.5 * closed.shape[0]


# --------------------------------------------------------------------------- training


def _train_args(data: Path, run: Path, cache: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--format", "folder", "--split", "all", "--out", str(run), "--config", "tiny",
            "--model", "hip", "--text-encoder", "hashed", "--batch-size", "4", "--stride", "32",
            "--phase-steps", "30", "--cache-dir", str(cache), "--quiet", "--threads", "1",
            "--no-tensorboard", "--save-every", "1", *extra]


def test_whole_body_training_on_a_real_take_resumes_exactly(beat2_take: Path, beat2_wav: Path,
                                                            tmp_path: Path) -> None:
    """python -m training.train --model hip: the phase autoencoder is trained first and kept in
    the run folder, the model trains on every part, and a resumed run ends exactly where an
    uninterrupted one does (the phase targets come back from the saved autoencoder)."""
    from training import train as T

    data = tmp_path / "take"
    data.mkdir()
    for src in (beat2_take, beat2_wav):
        (data / src.name).symlink_to(src)
    cache = tmp_path / "cache"
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        straight, split = tmp_path / "straight", tmp_path / "split"
        assert T.main(_train_args(data, straight, cache, "--epochs", "20", "--max-steps", "6")) == 0
        assert T.main(_train_args(data, split, cache, "--epochs", "20", "--max-steps", "3")) == 0
        assert (split / "pae.safetensors").is_file()
        assert T.main(_train_args(data, split, cache, "--epochs", "20", "--max-steps", "6", "--resume")) == 0
    finally:
        torch.set_num_threads(old)
    a = torch.load(straight / "train_state.pt", map_location="cpu", weights_only=False)
    b = torch.load(split / "train_state.pt", map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 6
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    model, meta = load_checkpoint(straight / "model.safetensors", "cpu")
    assert isinstance(model, HIPGesture) and model.config.phase and model.config.cascade
    # the standardisation was measured on the take: the root height channel's mean is its height
    height = part_slices(BODY_PARTS)["lower"].start + 9 * 6 + 2
    m = read_beat2_npz(beat2_take)
    assert float(model.feature_mean[height]) == pytest.approx(float(m.trans[:, 1].mean()), abs=0.01)
    assert meta["posture"] is not None


def test_generate_parts_keeps_legs_and_root_still_for_a_seated_character(tmp_path: Path) -> None:
    """--parts upper,hands,face with a whole-body model: the face moves (jaw, expressions), the
    legs, the pelvis and the root are exactly still; without face the expressions are neutral."""
    import soundfile as sf

    from egg_core.generate import main

    model = _tiny(phase=True)
    model.set_normalisation(torch.zeros(model.config.motion_dim), torch.full((model.config.motion_dim,), 0.3))
    ckpt = save_checkpoint(model, tmp_path / "hip.safetensors")
    sr = 16000
    t = np.arange(int(4.0 * sr)) / sr
    audio = tmp_path / "a.wav"
    sf.write(audio, (0.2 * np.clip(np.sin(2 * np.pi * 3 * t), 0, None) * np.sin(2 * np.pi * 160 * t)).astype(np.float32), sr)
    seated = tmp_path / "seated.npz"
    assert main(["--audio", str(audio), "--checkpoint", str(ckpt), "--out", str(seated),
                 "--parts", "upper,hands,face", "--quiet"]) == 0
    with np.load(seated) as d:
        poses, trans, expr = d["poses"].reshape(-1, 55, 3), d["trans"], d["expressions"]
    lower = list(SMPLX.subset_indices(["lower"]))
    assert np.array_equal(poses[:, lower], np.broadcast_to(poses[:1, lower], poses[:, lower].shape))
    assert np.array_equal(trans, np.broadcast_to(trans[:1], trans.shape))
    assert np.ptp(poses[:, 22], axis=0).max() > 0 and np.ptp(expr, axis=0).max() > 0
    assert np.ptp(poses[:, list(SMPLX.subset_indices(["upper"]))], axis=0).max() > 0
    silent = tmp_path / "no_face.npz"
    assert main(["--audio", str(audio), "--checkpoint", str(ckpt), "--out", str(silent),
                 "--parts", "upper,hands,lower,root", "--quiet"]) == 0
    with np.load(silent) as d:
        assert not np.any(d["expressions"]) and np.ptp(d["trans"], axis=0).max() > 0
