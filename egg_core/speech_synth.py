"""Synthetic speech with *known* word timings, from espeak-ng (libespeak-ng via ctypes).

Why: to measure word-timing accuracy (forced alignment, Whisper timestamps) and to
build the synthetic benchmark we need speech whose true word onsets are known
exactly. espeak-ng reports, while synthesising, an event for every word and every
phoneme with the sample at which it starts; this module collects the audio and those
events and returns one :class:`~egg_core.formats.transcripts.Word` per word of the
input text with its true start and end.

How times are defined:

* ``start`` = the sample of espeak-ng's WORD event, i.e. where the word's first
  phoneme begins in the output (this includes the stop closure of a word-initial
  plosive, as a phonetician's TextGrid would);
* ``end`` = the start of the next pause phoneme (``_``) or of the next word,
  whichever comes first; the last word ends where the audio ends, less the final
  pause.

The library is not thread-safe and keeps global state, so calls are serialised by a
lock. Needs the Debian/Ubuntu package ``espeak-ng`` (``libespeak-ng1``); use
:func:`espeak_available` to check, :func:`synthesize` raises
:class:`SpeechSynthError` with an install hint otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from egg_core.errors import EggError
from egg_core.formats.transcripts import Word, split_words

# espeak_AUDIO_OUTPUT / options / flags / parameters from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH = 1, 2, 3
# espeak_EVENT_TYPE
_EV_LIST_TERMINATED, _EV_WORD, _EV_SENTENCE, _EV_END, _EV_MSG_TERMINATED, _EV_PHONEME = 0, 1, 2, 5, 6, 7


class SpeechSynthError(EggError):
    """espeak-ng is missing or failed to synthesise the text."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_rate: int = 0
_load_error: str | None = None


@dataclass
class _Collected:
    chunks: list[np.ndarray]
    words: list[tuple[int, int, int]]  # (sample, text_position, length)
    phonemes: list[tuple[int, str]]  # (sample, phoneme)


_current: _Collected | None = None


@_CALLBACK
def _on_synth(wav, numsamples, events):  # type: ignore[no-untyped-def]
    """Called by libespeak-ng with each block of audio and the events inside it."""
    col = _current
    if col is None:
        return 0
    if numsamples > 0 and wav:
        col.chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
    i = 0
    while True:
        ev = events[i]
        if ev.type == _EV_LIST_TERMINATED:
            break
        if ev.type == _EV_WORD:
            col.words.append((int(ev.sample), int(ev.text_position), int(ev.length)))
        elif ev.type == _EV_PHONEME:
            col.phonemes.append((int(ev.sample), ev.id.string.decode("ascii", "replace")))
        i += 1
    return 0


def _load() -> ctypes.CDLL:
    global _lib, _rate, _load_error
    if _lib is not None:
        return _lib
    if _load_error is not None:
        raise SpeechSynthError(_load_error)
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        _load_error = ("espeak-ng is not installed (libespeak-ng not found). Install it, e.g. "
                       "`sudo apt-get install espeak-ng`, to synthesise test speech.")
        raise SpeechSynthError(_load_error) from None
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
    if rate <= 0:
        _load_error = "libespeak-ng failed to initialise (espeak-ng-data missing?). Reinstall espeak-ng."
        raise SpeechSynthError(_load_error)
    lib.espeak_SetSynthCallback(_on_synth)
    _lib, _rate = lib, int(rate)
    return lib


def espeak_available() -> bool:
    """True when libespeak-ng can be loaded and initialised."""
    try:
        with _lock:
            _load()
        return True
    except SpeechSynthError:
        return False


_TOKEN = re.compile(r"\S+")


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Words of ``text`` as the transcript readers split them, with character spans."""
    out = []
    for m in _TOKEN.finditer(text):
        for word in split_words(m.group(0)):
            k = m.group(0).find(word)
            out.append((word, m.start() + k, m.start() + k + len(word)))
    return out


def _phoneme_count(lib: ctypes.CDLL, word: str) -> int:
    """How many phonemes espeak-ng says ``word`` has (for splitting merged words)."""
    buf = ctypes.create_string_buffer(word.encode("utf-8") + b"\0")
    ptr = ctypes.c_void_p(ctypes.addressof(buf))
    n = 0
    while ptr.value:
        res = lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, ord("|") << 8)
        if not res:
            break
        n += len([p for p in re.split(r"[|\s]+", res.decode("utf-8", "replace")) if p])
    return max(1, n)


def _words_from_events(lib: ctypes.CDLL, text: str, col: _Collected, n_samples: int) -> list[Word]:
    """True word times from WORD/PHONEME events, one Word per token of ``text``.

    espeak-ng sometimes speaks several words as one unit ("of the") and then sends one
    WORD event for the group; the group's phonemes are then shared out by each word's
    own phoneme count. Numbers spoken as several words keep the first event's start.
    """
    rate = float(_rate)
    tokens = _tokens(text)
    if not tokens:
        return []
    starts: list[int | None] = [None] * len(tokens)
    for sample, pos, _length in sorted(col.words):
        c = pos - 1  # 1-based character position
        idx = next((i for i, (_, a, b) in enumerate(tokens) if a <= c < b or a >= c), None)
        if idx is not None and (starts[idx] is None or sample < starts[idx]):
            starts[idx] = sample
    if starts[0] is None:
        starts[0] = min((s for s, _, _ in col.words), default=0)
    pauses = sorted(s for s, p in col.phonemes if p.startswith("_"))
    speech_phones = sorted(s for s, p in col.phonemes if not p.startswith("_"))
    # Share out merged groups: tokens without an event follow the last token with one.
    i = 0
    while i < len(tokens):
        j = i + 1
        while j < len(tokens) and starts[j] is None:
            j += 1
        if j > i + 1:
            group_end = starts[j] if j < len(tokens) else n_samples
            phones = [s for s in speech_phones if starts[i] <= s < group_end]
            counts = [_phoneme_count(lib, tokens[k][0]) for k in range(i, j)]
            total, acc = sum(counts), 0
            for k in range(i, j):
                if k > i:
                    idx = min(len(phones) - 1, round(acc / total * len(phones))) if phones else -1
                    starts[k] = phones[idx] if idx >= 0 else starts[k - 1]
                acc += counts[k - i]
        i = j
    out = []
    for k, (word, _, _) in enumerate(tokens):
        start = int(starts[k])  # type: ignore[arg-type]
        end = int(starts[k + 1]) if k + 1 < len(tokens) else n_samples  # type: ignore[arg-type]
        for p in pauses:
            if start < p < end:
                end = p
                break
        out.append(Word(word, round(start / rate, 6), round(max(end, start) / rate, 6)))
    return out


def synthesize_array(text: str, voice: str = "en-us", rate_wpm: int = 160,
                     pitch: int = 50) -> tuple[np.ndarray, int, list[Word]]:
    """Synthesise ``text`` -> (int16 mono samples, sample rate, true word timings)."""
    global _current
    if not text.strip():
        raise SpeechSynthError("Nothing to synthesise: the text is empty.")
    with _lock:
        lib = _load()
        if lib.espeak_SetVoiceByName(voice.encode("utf-8")) != 0:
            raise SpeechSynthError(f"espeak-ng has no voice '{voice}' (try en-us, en-gb, de, fr, es).")
        lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
        col = _Collected([], [], [])
        _current = col
        try:
            data = text.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(data, len(data))
            err = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
            lib.espeak_Synchronize()
        finally:
            _current = None
        if err != 0:
            raise SpeechSynthError(f"espeak-ng failed to synthesise the text (error {err}).")
        wave = np.concatenate(col.chunks) if col.chunks else np.zeros(0, np.int16)
        words = _words_from_events(lib, text, col, len(wave))
        return wave.astype(np.int16), _rate, words


def synthesize(text: str, path: str | Path, voice: str = "en-us", rate_wpm: int = 160,
               pitch: int = 50) -> list[Word]:
    """Speak ``text`` into a 16-bit WAV at ``path`` and return the true word timings.

    The WAV keeps espeak-ng's native rate (22050 Hz); words carry the text as written
    (punctuation included, as espeak-ng delimits words) and times in seconds.
    """

    wave, rate, words = synthesize_array(text, voice, rate_wpm, pitch)
    sf.write(str(path), wave, rate, subtype="PCM_16")
    return words
