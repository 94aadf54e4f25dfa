"""Audio loading: formats, rates, channels, segments and every user-facing error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from egg_core.errors import AudioError, EggError
from egg_core.formats import audio as audio_mod
from egg_core.formats.audio import (
    AUDIO_EXTENSIONS,
    audio_info,
    is_silent,
    iter_audio_chunks,
    load_audio,
    load_audio_segment,
    resample,
)


def _tone(rate: int, seconds: float, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    if channels == 1:
        return mono.astype(np.float32)
    # Different gains per channel so averaging is visible: mean gain is 1.
    gains = np.linspace(0.5, 1.5, channels)
    return (mono[:, None] * gains[None, :]).astype(np.float32)


def _dominant_freq(wave: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[np.argmax(spec)])


# Lossless formats with 1, 2 and 6 channels; Vorbis only mono/stereo, because its
# multichannel coupling changes per-channel gains and the amplitude check would be moot.
_CASES = [
    (ext, subtype, rate, channels)
    for ext, subtype in [(".wav", "PCM_16"), (".wav", "FLOAT"), (".flac", "PCM_24"), (".ogg", "VORBIS")]
    for rate in (8000, 22050, 44100, 48000)
    for channels in ((1, 2) if ext == ".ogg" else (1, 2, 6))
]


@pytest.mark.parametrize("ext,subtype,rate,channels", _CASES)
def test_formats_rates_channels(tmp_path: Path, ext: str, subtype: str, rate: int, channels: int) -> None:
    path = tmp_path / f"tone_{rate}_{channels}{ext}"
    sf.write(path, _tone(rate, 1.0, 440.0, channels), rate, subtype=subtype)
    wave = load_audio(path, 16000)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 16000) <= 1
    assert abs(_dominant_freq(wave, 16000) - 440.0) < 3.0
    # channel average of gains 0.5..1.5 is 1 -> amplitude 0.5 (lossy codecs: loose bound)
    peak = np.percentile(np.abs(wave[1000:-1000]), 99.5)
    assert peak == pytest.approx(0.5, abs=0.06 if ext == ".ogg" else 0.01)


def test_other_target_rates(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    sf.write(path, _tone(44100, 2.0, 300.0), 44100)
    for target in (16000, 22050, 24000, 44100, 11025):
        wave = load_audio(path, target)
        assert abs(len(wave) - 2 * target) <= 1
        assert abs(_dominant_freq(wave, target) - 300.0) < 2.0


def test_resample_is_exact_rational() -> None:
    x = np.random.default_rng(0).standard_normal(44100).astype(np.float32)
    assert len(resample(x, 44100, 16000)) == 16000  # ratio 160/441
    assert len(resample(x, 44100, 44100)) == 44100
    np.testing.assert_array_equal(resample(x, 44100, 44100), x)


def test_mp3_roundtrip(tmp_path: Path) -> None:
    if "MP3" not in sf.available_formats() and shutil.which("ffmpeg") is None:
        pytest.skip("neither libsndfile MP3 support nor ffmpeg is available to make an MP3")
    path = tmp_path / "tone.mp3"
    if "MP3" in sf.available_formats():
        sf.write(path, _tone(44100, 1.0, 440.0, 2), 44100, format="MP3")
    else:
        wav = tmp_path / "tone.wav"
        sf.write(wav, _tone(44100, 1.0, 440.0, 2), 44100)
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(path)], check=True)
    wave = load_audio(path)
    assert abs(len(wave) / 16000 - 1.0) < 0.1  # encoder padding
    assert abs(_dominant_freq(wave, 16000) - 440.0) < 3.0


def test_ffmpeg_fallback_for_m4a(tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    wav = tmp_path / "tone.wav"
    sf.write(wav, _tone(48000, 1.0, 500.0, 2), 48000)
    m4a = tmp_path / "tone.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    assert audio_info(m4a).backend == "ffmpeg"
    wave = load_audio(m4a)
    assert abs(len(wave) / 16000 - 1.0) < 0.1
    assert abs(_dominant_freq(wave, 16000) - 500.0) < 3.0
    seg = load_audio_segment(m4a, 0.25, 0.5)
    assert abs(len(seg) - 8000) < 400


def test_unreadable_without_ffmpeg_names_file_and_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "notes.m4a"
    bad.write_bytes(b"this is not audio at all" * 10)
    monkeypatch.setattr(audio_mod, "_ffmpeg", lambda: None)
    with pytest.raises(AudioError) as err:
        load_audio(bad)
    msg = str(err.value)
    assert "notes.m4a" in msg and "wav" in msg and "flac" in msg and "ffmpeg" in msg


def test_garbage_file_is_audio_error(tmp_path: Path) -> None:
    bad = tmp_path / "speech.wav"
    bad.write_bytes(b"RIFF????WAVEjunk" + bytes(200))
    with pytest.raises(AudioError, match="speech.wav"):
        load_audio(bad)


def test_missing_folder_and_empty(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path)
    empty_bytes = tmp_path / "zero.wav"
    empty_bytes.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(empty_bytes)
    no_samples = tmp_path / "nosamples.wav"
    sf.write(no_samples, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(no_samples)
    assert issubclass(AudioError, EggError)


def test_silence_loads_and_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
    wave = load_audio(path)
    assert len(wave) == 16000 and is_silent(wave)
    assert not is_silent(_tone(16000, 0.5))
    noise_floor = (np.random.default_rng(1).standard_normal(16000) * 1e-4).astype(np.float32)
    assert is_silent(noise_floor)


def test_segments_match_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    rng = np.random.default_rng(2)
    data = (0.1 * rng.standard_normal((16000 * 7, 2))).astype(np.float32)
    sf.write(path, data, 16000, subtype="PCM_24")
    whole = load_audio(path)
    seg = load_audio_segment(path, offset=2.5, duration=1.0)
    np.testing.assert_allclose(seg, whole[40000:56000], atol=1e-6)
    tail = load_audio_segment(path, offset=6.5)
    assert len(tail) == 8000
    assert load_audio_segment(path, offset=100.0).size == 0
    chunks = list(iter_audio_chunks(path, chunk_seconds=3.0))
    assert [c[0] for c in chunks] == [0.0, 3.0, 6.0]
    np.testing.assert_allclose(np.concatenate([c[1] for c in chunks]), whole, atol=1e-6)
    overl = list(iter_audio_chunks(path, chunk_seconds=3.0, overlap_seconds=0.5))
    assert len(overl[0][1]) == 16000 * 3.5
    with pytest.raises(AudioError):
        load_audio_segment(path, offset=-1.0)


def test_segment_with_resampling_matches_interior(tmp_path: Path) -> None:
    path = tmp_path / "t44.wav"
    sf.write(path, _tone(44100, 4.0, 220.0), 44100)
    whole = load_audio(path)
    seg = load_audio_segment(path, offset=1.0, duration=2.0)
    assert len(seg) == 32000
    np.testing.assert_allclose(seg, whole[16000:48000], atol=1e-4)
    # chunks read piece by piece join seamlessly (no filter start-up clicks at the seams)
    chunks = np.concatenate([c for _, c in iter_audio_chunks(path, chunk_seconds=1.5)])
    assert len(chunks) == len(whole)
    np.testing.assert_allclose(chunks, whole, atol=1e-4)
    odd = tmp_path / "t22.wav"
    sf.write(odd, _tone(22050, 3.0, 330.0), 22050)
    joined = np.concatenate([c for _, c in iter_audio_chunks(odd, chunk_seconds=1.0)])
    np.testing.assert_allclose(joined, load_audio(odd), atol=1e-4)


def test_extensions_constant() -> None:
    for ext in (".wav", ".flac", ".ogg", ".mp3"):
        assert ext in AUDIO_EXTENSIONS


def test_real_speech_files(real_speech_files: list[Path]) -> None:
    for path in real_speech_files:
        info = audio_info(path)
        wave = load_audio(path)
        assert wave.dtype == np.float32 and wave.ndim == 1
        assert abs(len(wave) / 16000 - info.duration) < 0.01
        assert not is_silent(wave)
        assert np.abs(wave).max() <= 1.0
    stereo = [p for p in real_speech_files if audio_info(p).channels == 2]
    assert stereo, "expected the stereo 22 kHz talkshow_style.wav among the reference files"
    info = audio_info(stereo[0])
    assert info.sample_rate == 22000  # an unusual rate: 16 kHz is the exact ratio 8/11
    raw, _ = sf.read(stereo[0], dtype="float32")
    wave = load_audio(stereo[0], 22000)
    np.testing.assert_allclose(wave, raw.mean(axis=1), atol=1e-6)
