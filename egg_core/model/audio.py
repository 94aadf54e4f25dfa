"""Audio features and the audio encoder.

Default features are computed with numpy only (no librosa/numba, whose JIT costs seconds on
the first call): per motion frame, 64 log-mel bands, onset strength (positive spectral flux:
mean and max within the frame) and log RMS energy, ``AUDIO_FEATURE_DIM = 67`` channels.

Frame alignment: the spectrum is taken at ``SUBFRAMES`` evenly spaced centres inside every
motion frame, i.e. at the fractional hop ``sample_rate / (fps * SUBFRAMES)`` (1066.67/4
samples at 16 kHz and 15 fps), rounded per frame, so the feature rate lands exactly on the
motion frame rate for any sample rate instead of drifting like an integer hop would. The
sub-frames are pooled (mean; max too for onsets) to one row per motion frame.

Loudness: the wave is scaled so its 99.5th percentile absolute sample is 0.3 before the
features are taken, so a quiet microphone and a loud one give comparable features.

The work is done in chunks of sub-frames, so memory stays flat in the audio length.

An optional pretrained speech model (wav2vec2 / HuBERT) can be used through
``transformers`` when the user points at a local copy of its weights; nothing is downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from egg_core.errors import EggError

N_MELS = 64
SUBFRAMES = 4
AUDIO_FEATURE_DIM = N_MELS + 3
#: Bump whenever :func:`compute_audio_features` would give other numbers for the same audio:
#: training's feature cache is keyed on it, so cached features of the old kind are rebuilt.
AUDIO_FEATURE_VERSION = 1
_LOG_FLOOR = 1e-5
_CHUNK = 4096  # sub-frames per chunk


def _n_fft(sample_rate: int) -> int:
    """FFT size covering about 32 ms (512 at 16 kHz)."""
    return int(2 ** math.ceil(math.log2(0.032 * sample_rate)))


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = N_MELS,
                   fmin: float = 20.0, fmax: float = 8000.0) -> np.ndarray:
    """Triangular HTK-mel filters ``(n_mels, n_fft // 2 + 1)`` with unit area (band energies)."""
    fmax = min(fmax, sample_rate / 2.0)
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs[None, :]) / np.maximum(hi - mid, 1e-9)
    fb = np.clip(np.minimum(up, down), 0.0, None)
    fb *= 2.0 / np.maximum(hi - lo, 1e-9)
    return fb.astype(np.float32)


def silence_audio_features(n_frames: int) -> np.ndarray:
    """The feature rows of digital silence, used to pad the last generation window."""
    row = np.zeros(AUDIO_FEATURE_DIM, np.float32)
    row[:N_MELS] = math.log10(_LOG_FLOOR)
    row[N_MELS + 2] = math.log10(_LOG_FLOOR)
    return np.tile(row, (n_frames, 1))


def compute_audio_features(wave: np.ndarray, sample_rate: int, fps: float = 15.0) -> np.ndarray:
    """Per-motion-frame audio features ``(n_frames, AUDIO_FEATURE_DIM)`` float32.

    ``n_frames = round(len(wave) / sample_rate * fps)``. Columns: 0..63 log10 mel band energy,
    64 mean onset strength, 65 max onset strength, 66 log10 RMS energy.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError("compute_audio_features expects a mono 1-D wave")
    if sample_rate <= 0 or fps <= 0:
        raise ValueError("sample_rate and fps must be positive")
    n_frames = int(round(len(wave) / sample_rate * fps))
    if n_frames == 0:
        return np.zeros((0, AUDIO_FEATURE_DIM), np.float32)
    peak = float(np.percentile(np.abs(wave), 99.5)) if len(wave) else 0.0
    gain = 0.3 / max(peak, 1e-4)

    n_fft = _n_fft(sample_rate)
    half = n_fft // 2
    # round() can ask for up to half a frame past the end: pad by a whole frame more
    padded = np.zeros(len(wave) + 2 * n_fft + int(math.ceil(sample_rate / fps)), np.float32)
    padded[n_fft:n_fft + len(wave)] = wave * gain
    window = np.hanning(n_fft).astype(np.float32)
    fb = mel_filterbank(sample_rate, n_fft)
    hop = sample_rate / (fps * SUBFRAMES)
    n_sub = n_frames * SUBFRAMES
    offsets = np.arange(n_fft)

    out = np.empty((n_frames, AUDIO_FEATURE_DIM), np.float32)
    prev_logmel: np.ndarray | None = None
    for c0 in range(0, n_sub, _CHUNK):
        c1 = min(n_sub, c0 + _CHUNK)
        centres = (np.arange(c0, c1) + 0.5) * hop
        starts = np.round(centres).astype(np.int64) - half + n_fft
        frames = padded[starts[:, None] + offsets[None, :]]
        rms = np.sqrt(np.mean(frames ** 2, axis=1))
        spec = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32) ** 2
        logmel = np.log10(spec @ fb.T + _LOG_FLOOR)
        before = logmel[:1] if prev_logmel is None else prev_logmel
        flux = np.maximum(np.diff(np.concatenate([before, logmel]), axis=0), 0.0).mean(1)
        prev_logmel = logmel[-1:]
        f0, f1 = c0 // SUBFRAMES, c1 // SUBFRAMES
        shape = (f1 - f0, SUBFRAMES)
        out[f0:f1, :N_MELS] = logmel.reshape(f1 - f0, SUBFRAMES, N_MELS).mean(1)
        out[f0:f1, N_MELS] = flux.reshape(shape).mean(1)
        out[f0:f1, N_MELS + 1] = flux.reshape(shape).max(1)
        out[f0:f1, N_MELS + 2] = np.log10(rms.reshape(shape).mean(1) + _LOG_FLOOR)
    return out


def compute_pretrained_audio_features(wave: np.ndarray, sample_rate: int, fps: float,
                                      model_path: str | Path) -> np.ndarray:
    """Hidden states of a local wav2vec2/HuBERT model, averaged onto the motion frame rate.

    Only local weights are used (``local_files_only``); a missing folder or a missing
    ``transformers`` install raises :class:`EggError` saying what to do. The wave must be
    16 kHz (what these models were trained on).
    """
    path = Path(model_path)
    if not path.is_dir():
        raise EggError(f"pretrained audio model folder not found: {path}. Point at a local "
                       "wav2vec2/HuBERT folder (config.json + weights); nothing is downloaded.")
    if sample_rate != 16000:
        raise EggError("pretrained speech models need 16 kHz audio; load it with sample_rate=16000")
    try:
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EggError("the pretrained audio path needs `transformers`: pip install transformers") from exc
    model = _PRETRAINED_AUDIO.get(str(path))
    if model is None:
        try:
            model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        except Exception as exc:
            raise EggError(f"could not load a pretrained audio model from {path}: {exc}") from exc
        _PRETRAINED_AUDIO[str(path)] = model
    n_frames = int(round(len(wave) / sample_rate * fps))
    x = torch.from_numpy(np.asarray(wave, np.float32))
    x = (x - x.mean()) / (x.std() + 1e-7)
    with torch.no_grad():
        hidden = model(x[None]).last_hidden_state[0]  # (T', H)
    feats = torch.nn.functional.interpolate(hidden.t()[None], size=n_frames, mode="linear",
                                            align_corners=False)[0].t()
    return feats.numpy().astype(np.float32)


_PRETRAINED_AUDIO: dict[str, nn.Module] = {}


class TemporalBlock(nn.Module):
    """Non-causal dilated residual conv block of the TCN (conv, GELU, conv, + skip)."""

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.conv2(self.act(self.conv1(self.norm(x)))))


class AudioEncoder(nn.Module):
    """TCN over per-frame audio features ``(B, T, F)`` -> ``(B, T, dim)``.

    Dilations 1, 2, 4, 8, ... give a receptive field of about ``2**layers * 2`` frames
    (a few seconds at 15 fps with 6 layers), enough for prosody around a gesture. The paper
    reports a custom TCN performing as well as a fine-tuned wav2vec2 (§5.5).
    """

    def __init__(self, in_dim: int, dim: int, layers: int = 6, dropout: float = 0.1) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, dim)
        self.blocks = nn.Sequential(*[TemporalBlock(dim, 2 ** (i % 6), dropout) for i in range(layers)])
        self.out_norm = nn.LayerNorm(dim)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = self.inp(feats).transpose(1, 2)
        return self.out_norm(self.blocks(x).transpose(1, 2))
