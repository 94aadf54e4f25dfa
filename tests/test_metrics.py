"""Metrics against values worked out by hand on tiny synthetic inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from egg_core.errors import EggError
from training import metrics as M


def test_local_minima_strict_and_clipped_at_ends():
    x = np.array([0.0, 5, 4, 3, 4, 5, 5, 2, 2, 5])
    # 3 (index 3) is a strict minimum within +-2; the plateau 2,2 is not strict; index 0 never counts
    assert M._local_minima(x, 2).tolist() == [3]
    assert M._local_minima(np.array([3.0, 1, 3]), 7).tolist() == [1]


def test_alignment_score_by_hand():
    audio = np.array([1.0, 2.0])
    beats = np.array([1.3])
    expected = (math.exp(-0.09 / 0.18) + math.exp(-0.49 / 0.18)) / 2
    assert M.alignment_score(audio, beats) == pytest.approx(expected, rel=1e-12)
    assert M.alignment_score(audio, np.zeros(0)) == 0.0
    assert M.alignment_score(np.zeros(0), beats) == 0.0


def _waving_positions(T: int = 200, fps: float = 30.0) -> np.ndarray:
    """Joint 3 drifts along x at 1 m/s plus a 1 Hz wobble; every other joint stands still.

    Speed = 1 + 0.1*2*pi*cos(2*pi*t) > 0, minimal at t = 0.5 + k s (frames 15 + 30k).
    """
    t = np.arange(T) / fps
    pos = np.zeros((T, 55, 3))
    pos[:, 3, 0] = t + 0.1 * np.sin(2 * np.pi * t)
    return pos


def test_motion_beats_by_hand():
    pos = _waving_positions()
    mean_vel = np.ones(55)
    beats = M.motion_beats(pos, mean_vel)
    # frames 60..140 only: minima at frames 75, 105, 135
    np.testing.assert_allclose(beats[3], [2.5, 3.5, 4.5])
    assert all(b.size == 0 for j, b in enumerate(beats) if j != 3)
    # normalised speed at a minimum is 1 - 0.2*pi = 0.37 (about): a normaliser 4x larger
    # pushes it under the 0.1 threshold, so the beats disappear
    assert M.motion_beats(pos, np.full(55, 4.0))[3].size == 0


def test_clip_and_dataset_bc_by_hand():
    pos = _waving_positions()
    mean_vel = np.ones(55)
    audio = np.array([2.5, 3.6])
    clip = (1.0 + math.exp(-0.01 / 0.18)) / 2 / 13  # 12 still joints score 0
    assert M.clip_beat_consistency(pos, audio, mean_vel) == pytest.approx(clip, rel=1e-9)
    # a second clip (100 frames, nothing moves) scores 0; weights are 200 and 100 frames
    still = np.zeros((100, 55, 3))
    bc = M.beat_consistency([pos, still], [audio, audio], mean_vel)
    assert bc == pytest.approx(clip * 200 / 300, rel=1e-9)


def test_mean_joint_speed_and_normaliser_shape_check():
    pos = np.zeros((4, 55, 3))
    pos[:, 0, 0] = np.arange(4) * 0.1  # 0.1 m per frame at 30 fps = 3 m/s everywhere
    mv = M.mean_joint_speed([pos], fps=30)
    assert mv[0] == pytest.approx(3.0)
    assert mv[1] == 0.0
    with pytest.raises(EggError, match="normaliser"):
        M.motion_beats(pos, np.ones(10))


def test_l1_div_by_hand():
    a = np.array([[[0.0, 0.0, 0.0]], [[2.0, 0.0, 0.0]]])  # T=2, J=1: mean (1,0,0), |dev| sum = 2
    b = np.array([[[5.0, 5.0, 5.0]]])  # one frame: no deviation
    assert M.l1_div([a]) == pytest.approx(1.0)
    assert M.l1_div([a, b]) == pytest.approx(2.0 / 3.0)


def test_pairwise_l1_div_by_hand():
    seqs = [np.array([[0.0]]), np.array([[1.0]]), np.array([[3.0]])]
    # ordered pairs: 1, 3, 2 each twice -> 12 / (3*2) = 2
    assert M.pairwise_l1_div(seqs) == pytest.approx(2.0)
    # groups of 2: (0,1) -> 1, (3, 3) -> 0; mean 0.5
    seqs4 = seqs[:2] + [np.array([[3.0]]), np.array([[3.0]])]
    assert M.pairwise_l1_div(seqs4, group_size=2) == pytest.approx(0.5)
    with pytest.raises(EggError):
        M.pairwise_l1_div([np.zeros((2, 1)), np.zeros((3, 1))])


def test_frechet_distance_by_hand():
    a = np.array([[0.0], [2.0]])  # mean 1, unbiased var 2
    b = np.array([[1.0], [5.0]])  # mean 3, var 8
    e = 1e-6
    expected = 4 + (2 + e) + (8 + e) - 2 * math.sqrt((2 + e) * (8 + e))
    assert M.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    assert abs(M.frechet_distance(x, x)) < 1e-6


def test_codebook_usage_and_recall():
    usage, ppl = M.codebook_usage(np.array([0, 0, 1, 1]), 4)
    assert usage == 0.5 and ppl == pytest.approx(2.0)
    usage, ppl = M.codebook_usage(np.arange(8), 8)
    assert usage == 1.0 and ppl == pytest.approx(8.0)
    with pytest.raises(EggError):
        M.codebook_usage(np.array([5]), 4)
    rec = M.per_class_recall(
        predicted=np.array([1, 2, 3, 4, 5]), target=np.array([1, 0, 3, 4, 0]), classes=np.array([0, 0, 1, -1, 1])
    )
    assert rec == {0: 0.5, 1: 0.5}


def test_audio_onsets_find_clicks_inside_trimmed_range():
    sr = 16000
    rng = np.random.default_rng(0)
    wave = (rng.normal(size=sr * 8) * 0.001).astype(np.float32)
    clicks = [1.0, 3.0, 4.0, 5.5, 7.5]
    for c in clicks:
        i = int(c * sr)
        n = int(0.3 * sr)
        wave[i : i + n] += 0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / sr).astype(np.float32)
    onsets = M.audio_onsets(wave, sr)
    # the first and last 2 s are dropped: nothing outside [2, 6] s
    assert onsets.min() >= 2.0 and onsets.max() <= 6.0
    # every tone start inside the range is found within two hops (64 ms)
    for c in (3.0, 4.0, 5.5):
        assert np.min(np.abs(onsets - c)) < 0.065
    # and the 1.0 s / 7.5 s tones are not
    assert np.min(np.abs(onsets - 1.0)) > 0.5 and np.min(np.abs(onsets - 7.5)) > 1.0


def test_real_take_beat_consistency(beat2_take, beat2_wav, beat2_mean_vel, capsys):
    """BC of the real BEAT2 take's own motion against its own audio (BEAT2 normaliser)."""
    from egg_core.formats.audio import load_audio
    from egg_core.formats.beat2 import read_beat2_npz

    motion = read_beat2_npz(beat2_take)
    pos = M.joint_positions(motion.poses, motion.trans)
    onsets = M.audio_onsets(load_audio(beat2_wav, 16000), 16000)
    bc = M.beat_consistency([pos], [onsets], np.load(beat2_mean_vel))
    l1 = M.l1_div([M.joint_positions(motion.poses)])
    with capsys.disabled():
        print(f"\nreal take 2_scott_0_1_1: BC {bc:.4f} ({len(onsets)} onsets), L1div {l1:.3f}")
    # published ground-truth BC on BEAT2 lies around 0.6-0.8 (definitions vary slightly)
    assert 0.55 < bc < 0.85
    assert 5 < l1 < 30
