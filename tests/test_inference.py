"""Chained-window generation: frame counts, determinism, seams, rest joints, progress and cancel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from egg_core.errors import EggError
from egg_core.inference import (
    Cancelled,
    GestureGenerator,
    output_frame_count,
    plan_windows,
)
from egg_core.model.eggesture import EGGesture, EGGestureConfig
from egg_core.model.representation import joint_indices

torch.set_num_threads(1)
SR = 16000


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts with a syllable-like 4 Hz envelope (cheap stand-in for speech)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    env = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.2 * env * rng.normal(0, 1, len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_generator() -> GestureGenerator:
    torch.manual_seed(0)
    return GestureGenerator(EGGesture(EGGestureConfig.tiny()).eval(), {}, "cpu")


def test_plan_windows_cover_clip() -> None:
    for n in [1, 63, 64, 65, 300, 301, 1000, 2700]:
        starts = plan_windows(n, 64, 8)
        assert starts[0] == 0 and starts[-1] + 64 >= n
        assert all(b - a == 56 for a, b in zip(starts, starts[1:], strict=False))
        assert len(starts) == 1 or starts[-2] + 64 < n  # no superfluous window


@pytest.mark.parametrize("seconds", [1.0, 20.0, 45.0, 180.0])
@pytest.mark.parametrize("fps", [30.0, 15.0])
def test_window_chaining_frame_counts(tiny_generator: GestureGenerator, seconds: float, fps: float) -> None:
    wave = np.zeros(int(SR * seconds), np.float32)
    wave[::97] = 0.05  # not digital silence
    motion = tiny_generator.generate(wave, SR, fps=fps, seed=1)
    assert motion.num_frames == round(seconds * fps) == output_frame_count(len(wave), SR, fps)
    assert motion.poses.shape == (motion.num_frames, 55, 3) and motion.fps == fps
    assert np.isfinite(motion.poses).all()


def test_default_window_is_20_seconds() -> None:
    cfg = EGGestureConfig()
    assert cfg.window_frames / cfg.fps == 20.0 and cfg.window_frames == 300


def test_odd_lengths_and_rates(tiny_generator: GestureGenerator) -> None:
    wave = _speechlike(2.345)
    m = tiny_generator.generate(wave, SR, fps=24.0)
    assert m.num_frames == output_frame_count(len(wave), SR, 24.0) == 56
    m = tiny_generator.generate(_speechlike(1.0)[:22050 // 2], 22050, fps=30.0)
    assert m.num_frames == 15


def test_seed_determinism(tiny_generator: GestureGenerator) -> None:
    wave = _speechlike(6.0)
    a = tiny_generator.generate(wave, SR, seed=5)
    b = tiny_generator.generate(wave, SR, seed=5)
    c = tiny_generator.generate(wave, SR, seed=6)
    assert np.array_equal(a.poses, b.poses)
    assert not np.array_equal(a.poses, c.poses)
    g0 = tiny_generator.generate(wave, SR, seed=1, temperature=0.0)
    g1 = tiny_generator.generate(wave, SR, seed=2, temperature=0.0)
    assert np.array_equal(g0.poses, g1.poses)  # argmax ignores the seed


def test_other_joints_held_at_relaxed_pose(tiny_generator: GestureGenerator) -> None:
    from egg_core.skeleton import SMPLX, STANDING_TRANS_Y, relaxed_pose

    m = tiny_generator.generate(_speechlike(3.0), SR, fps=15.0)
    model_joints = set(joint_indices("gesture"))
    others = [j for j in range(55) if j not in model_joints]
    assert len(model_joints) == 43
    assert np.allclose(m.poses[:, others], relaxed_pose(SMPLX)[others].astype(np.float32), atol=1e-6)
    assert np.allclose(m.trans[:, 1], STANDING_TRANS_Y)


def test_progress_and_cancel(tiny_generator: GestureGenerator) -> None:
    seen: list[float] = []
    tiny_generator.generate(_speechlike(12.0), SR, progress=lambda f, msg: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 4
    cancel = threading.Event()

    def stop_after_first_window(fraction: float, message: str) -> None:
        if message.startswith("window 2"):
            cancel.set()

    with pytest.raises(Cancelled):
        tiny_generator.generate(_speechlike(12.0), SR, progress=stop_after_first_window, cancel=cancel)


def test_words_path_and_input_errors(tiny_generator: GestureGenerator) -> None:
    from egg_core.formats.transcripts import Word

    wave = _speechlike(3.0)
    tiny_generator.metadata["features"] = {"text_encoder": "hashed"}
    try:
        words = [Word("hello", 0.3, 0.7), Word("there", 0.8, 1.4)]
        _, text = tiny_generator.features(wave, SR, words)
        assert text.shape == (45, 385) and text[:, -1].sum() == 45 - 15  # 15 frames carry words
        with_words = tiny_generator.generate(wave, SR, words=words, seed=0)
        assert with_words.num_frames == 90 and np.isfinite(with_words.poses).all()
    finally:
        tiny_generator.metadata.pop("features")
    for bad in [dict(wave=np.zeros((2, 100), np.float32)), dict(wave=np.full(1000, np.nan, np.float32)),
                dict(wave=np.zeros(10, np.float32)), dict(wave=wave, fps=0.0)]:
        kwargs = {"sample_rate": SR, **bad}
        with pytest.raises(EggError):
            tiny_generator.generate(**kwargs)


def _synthetic_batch(cfg: EGGestureConfig, rng: np.random.Generator, b: int, t: int) -> dict[str, torch.Tensor]:
    """Rhythmic arm/hand swings whose phase and tempo are carried by the 'audio' channels."""
    j = cfg.num_joints
    time = np.arange(t)[None, :, None] / cfg.fps
    freq = rng.uniform(0.3, 1.2, (b, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (b, 1, 1)) + np.linspace(0, 1, j)[None, None]
    amp = np.linspace(0.1, 0.5, j)[None, None]
    ang = amp * np.sin(2 * np.pi * freq * time + phase)
    d6 = np.zeros((b, t, j, 6), np.float32)
    d6[..., 0], d6[..., 4], d6[..., 5] = 1.0, np.cos(ang), np.sin(ang)
    audio = rng.normal(0, 0.05, (b, t, cfg.audio_feature_dim)).astype(np.float32)
    audio[..., :j] += np.sin(ang).astype(np.float32)
    text = np.zeros((b, t, cfg.text_feature_dim), np.float32)
    text[..., -1] = 1.0
    return {"motion": torch.from_numpy(d6.reshape(b, t, j * 6)), "audio": torch.from_numpy(audio),
            "text": torch.from_numpy(text)}


def test_seam_not_jumpier_than_window_inside() -> None:
    """Train a tiny model for a few hundred steps, chain 10 windows, compare frame-to-frame jumps."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = EGGestureConfig.tiny()
    model = EGGesture(cfg)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for step in range(200):
        out = model.losses(_synthetic_batch(cfg, rng, 8, cfg.window_frames), epoch=step // 20)
        opt.zero_grad()
        out["total"].backward()
        opt.step()
        first = float(out["rec"].detach()) if first is None else first
    assert float(out["rec"].detach()) < 0.5 * first  # it did learn to reconstruct
    model.eval()
    gen = GestureGenerator(model, {}, "cpu")
    clip = _synthetic_batch(cfg, rng, 1, 560)
    y = gen._generate_features(clip["audio"][0].numpy(), clip["text"][0].numpy(), seed=0, temperature=1.0,
                            top_k=None, report=lambda f, m: None, cancel=None)
    assert y.shape == (560, cfg.motion_dim) and np.isfinite(y).all()
    jumps = np.linalg.norm(np.diff(y, axis=0), axis=1)
    overlap = cfg.seed_tokens * cfg.downsample
    starts = plan_windows(len(y), cfg.window_frames, overlap)
    assert len(starts) >= 9
    seam = np.zeros(len(jumps), bool)
    for s in starts[1:]:
        seam[max(0, s - 2): s + overlap + 2] = True
    inside = jumps[~seam]
    assert inside.mean() > 1e-3  # the motion is not static
    assert jumps[seam].mean() <= 1.25 * inside.mean()
    assert np.percentile(jumps[seam], 95) <= 1.25 * np.percentile(inside, 95)


def test_joints_the_model_does_not_generate_hold_the_recorded_posture() -> None:
    """A checkpoint's recorded posture (training data's mean pose) replaces the relaxed pose."""
    from egg_core.skeleton import relaxed_pose

    torch.manual_seed(0)
    model = EGGesture(EGGestureConfig.tiny()).eval()
    posture = np.zeros((55, 3), np.float32)
    posture[0] = [-0.3, 0.0, 0.0]  # a pelvis pitched forward, as in BEAT2
    posture[4] = [0.2, 0.0, 0.0]  # a bent knee
    wave = _speechlike(2.0)
    with_posture = GestureGenerator(model, {"posture": posture.tolist()}, "cpu").generate(wave, SR)
    without = GestureGenerator(model, {}, "cpu").generate(wave, SR)
    rest = [j for j in range(55) if j not in joint_indices(model.config.joint_set)]
    np.testing.assert_allclose(with_posture.poses[:, rest], np.broadcast_to(posture[rest], (with_posture.num_frames, len(rest), 3)), atol=1e-6)
    np.testing.assert_allclose(without.poses[:, rest], np.broadcast_to(relaxed_pose()[rest], (without.num_frames, len(rest), 3)), atol=1e-6)
    gen = list(joint_indices(model.config.joint_set))
    np.testing.assert_array_equal(with_posture.poses[:, gen], without.poses[:, gen])
    # a malformed record falls back to the relaxed pose instead of failing
    assert np.allclose(GestureGenerator(model, {"posture": [[0.0]]}, "cpu").posture, relaxed_pose())
