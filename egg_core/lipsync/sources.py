"""Where the mouth motion of a clip comes from: the best of phones, a generated jaw, or loudness.

Why several routes: visemes need phones, and users have different things. In order of
preference :func:`mouth_for_speech` uses

1. **textgrid-phones** - the ``phones`` tier of a TextGrid (BEAT2, Montreal Forced
   Aligner), as it is;
2. **aligned-phones** - words with times (a timed transcript, or plain text aligned by
   :mod:`egg_core.words`) and pocketsphinx placing each word's phones in the audio
   (:func:`egg_core.align.sphinx.align_phones`); stretches it cannot align get the
   dictionary's phones spread over each word's time (**dictionary-phones** when that is
   all of them);
3. **spelled-phones** - words but no pocketsphinx: phones from English spelling rules,
   spread over each word's time;
4. **generated-jaw** - no words, but the generated whole-body motion moves its jaw
   (SMPL-X joint 22): the mouth opens and closes with it;
5. **loudness** - no words and a still jaw: the mouth opens with the loudness of the
   speech (RMS envelope), the fallback of last resort;
6. **silent** - silent audio: the mouth rests.

Routes 4-6 only know *how far* the mouth opens, not its shape; the track's ``message``
says which route was taken and why, and :data:`FALLBACKS` are the ones a user should be
warned about.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from egg_core.align.normalize import spell_pronunciation, to_spoken
from egg_core.align.speech import HOP, envelope
from egg_core.align.sphinx import align_phones
from egg_core.formats.audio import audio_info, speech_floor
from egg_core.formats.transcripts import (
    Phone,
    Word,
    parse_phones_text,
    read_phones,
    spread_phones,
)
from egg_core.lipsync.visemes import (
    DEFAULT_COARTICULATION,
    Coarticulation,
    MouthTrack,
    frames_for,
    mouth_from_jaw,
    mouth_from_phones,
)
from egg_core.motion import Motion
from egg_core.words import find_words

Progress = Callable[[float, str], None]

SOURCES = ("textgrid-phones", "aligned-phones", "dictionary-phones", "spelled-phones",
           "generated-jaw", "loudness", "silent")
#: Routes that give a poorer mouth than aligned phones: the user is told how to do better.
FALLBACKS = frozenset({"dictionary-phones", "spelled-phones", "generated-jaw", "loudness", "silent"})

#: SMPL-X jaw joint and how BEAT2's recorded jaws open it: rotation about x, about
#: 0.002-0.005 rad at rest (5th percentile of the two real takes) and 0.041-0.045 rad on
#: the 95th percentile; the generated jaw is read on that scale.
JAW_JOINT = 22
JAW_REST_RAD = 0.005
JAW_SPAN_RAD = 0.04
#: A generated jaw whose opening varies less than this (rad, 5th-95th percentile) is still.
JAW_MOVES_RAD = 0.005

#: Loudness smoothing (s): syllables, not single pitch periods, open the mouth.
_LOUDNESS_SMOOTH = 0.06


# --------------------------------------------------------------------------- phones


def transcript_phones(transcript: str | Path | None = None,
                      transcript_text: str | None = None) -> list[Phone] | None:
    """The phones tier of the transcript (file or content) when it is a TextGrid with one."""
    if transcript is not None and str(transcript).strip():
        return read_phones(transcript)
    if transcript_text is not None and transcript_text.strip():
        return parse_phones_text(transcript_text, "<transcript text>")
    return None


def spelled_phones(words: list[Word]) -> list[Phone]:
    """Phones of ``words`` by spelling rules (numbers read out), each word's spread over its time."""
    spoken = to_spoken([w.text for w in words], lambda _w: None, lambda _w, _p: None)
    phones: list[Phone] = []
    for word, token in zip(words, spoken, strict=True):
        labels = [ph for part in token.spoken or [word.text]
                  for ph in (spell_pronunciation(part) or "AH").split()]
        phones += spread_phones(labels, word.start, word.end)
    return phones


def _sphinx_available() -> bool:
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return True


def phones_from_words(audio: str | Path, words: list[Word],
                      progress: Progress | None = None) -> tuple[list[Phone], str, str]:
    """(phones, source, message) for timed ``words``: aligned with pocketsphinx when possible."""
    if not _sphinx_available():
        return (spelled_phones(words), "spelled-phones",
                f"phones of {len(words)} words guessed from their spelling and spread over each "
                "word (pocketsphinx is not installed: pip install 'eggesture[align]' for phones "
                "aligned to the audio)")
    result = align_phones(audio, words, progress)
    if result.n_aligned == 0:
        return (result.phones, "dictionary-phones",
                f"pocketsphinx could not place the phones of the {len(words)} words in the audio; "
                "the dictionary's phones are spread over each word's time")
    notes = [f"{len(result.phones)} phones of {result.n_aligned} words aligned to the audio by pocketsphinx"]
    if result.n_spread:
        notes.append(f"{result.n_spread} words not aligned: their dictionary phones are spread over the word")
    if result.n_unpronounced:
        notes.append(f"{result.n_unpronounced} words without a pronunciation: a neutral open mouth")
    return result.phones, "aligned-phones", "; ".join(notes)


# --------------------------------------------------------------------------- jaw only


def _resample(values: np.ndarray, rate: float, fps: float, num_frames: int) -> np.ndarray:
    """``values`` sampled at ``rate`` -> ``num_frames`` frames at ``fps`` (linear, held at the ends)."""
    if len(values) == 0:
        return np.zeros(num_frames)
    src = np.arange(len(values)) / float(rate)
    return np.interp(np.arange(num_frames) / float(fps), src, values)


def jaw_from_motion(motion: Motion, fps: float, num_frames: int) -> np.ndarray | None:
    """Opening 0..1 per frame from the motion's jaw (joint 22), or None when the jaw is still."""
    poses = np.asarray(motion.poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1] <= JAW_JOINT or len(poses) == 0:
        return None
    opening = poses[:, JAW_JOINT, 0]
    lo, hi = np.percentile(opening, [5, 95])
    if hi - lo < JAW_MOVES_RAD:
        return None
    jaw = np.clip((opening - JAW_REST_RAD) / JAW_SPAN_RAD, 0.0, 1.0)
    return _resample(jaw, float(motion.fps), fps, num_frames)


def jaw_from_loudness(audio: str | Path, fps: float, num_frames: int) -> np.ndarray:
    """Opening 0..1 per frame from the loudness: 0 at the speech floor, 1 at the loud level.

    Loudness is the 10 ms RMS envelope in dB (:func:`egg_core.align.speech.envelope`),
    scaled between the level below which a recording is taken to be a pause
    (:func:`egg_core.formats.audio.speech_floor` of its 95th percentile) and that
    percentile, then smoothed over :data:`_LOUDNESS_SMOOTH` seconds.
    """
    env = envelope(audio)
    if env.db.size == 0 or env.is_silent():
        return np.zeros(num_frames)
    loud = float(np.percentile(env.db, 95))
    floor = speech_floor(loud)
    level = np.clip((env.db - floor) / max(loud - floor, 1e-6), 0.0, 1.0)
    width = max(1, int(round(_LOUDNESS_SMOOTH / HOP)))
    level = np.convolve(level, np.ones(width) / width, mode="same")
    return np.clip(_resample(level, 1.0 / HOP, fps, num_frames), 0.0, 1.0)


# --------------------------------------------------------------------------- entry point


def mouth_for_speech(
    audio: str | Path,
    fps: float,
    *,
    num_frames: int | None = None,
    transcript: str | Path | None = None,
    transcript_text: str | None = None,
    words: list[Word] | None = None,
    words_note: str = "",
    find_missing_words: bool = True,
    motion: Motion | None = None,
    settings: Coarticulation = DEFAULT_COARTICULATION,
    progress: Progress | None = None,
) -> MouthTrack:
    """The mouth track of one clip by the best route available (see the module doc).

    ``words``: timings already found (e.g. by the gesture pipeline); without them and with
    ``find_missing_words``, a given transcript's words are found by
    :func:`egg_core.words.find_words` (never by transcription). ``words_note`` says why
    there are none, for the message. ``motion``: the generated motion, for its jaw.
    ``num_frames`` defaults to the frames covering the audio. Raises
    :class:`~egg_core.errors.EggError` for a missing or unreadable audio or transcript file.
    """
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    duration = audio_info(audio).duration
    n = frames_for(duration, fps) if num_frames is None else int(num_frames)
    report(0.0, "Reading phones")
    phones = transcript_phones(transcript, transcript_text)
    if phones:
        name = Path(str(transcript)).name if transcript else "the transcript text"
        return mouth_from_phones(phones, fps, n, settings, source="textgrid-phones",
                                 message=f"{len(phones)} phones from the 'phones' tier of {name}")
    if words is None and find_missing_words and (
            (transcript is not None and str(transcript).strip()) or transcript_text is not None):
        found = find_words(audio, transcript or None, transcript_text=transcript_text, asr_model=False,
                           progress=lambda f, m: report(0.5 * f, m))
        words, words_note = found.words or None, found.message
    if words:
        phones, source, message = phones_from_words(audio, list(words),
                                                    lambda f, m: report(0.5 + 0.5 * f, m))
        return mouth_from_phones(phones, fps, n, settings, source=source, message=message)
    why = f" ({words_note.rstrip('.')})" if words_note else ""
    if motion is not None:
        jaw = jaw_from_motion(motion, fps, n)
        if jaw is not None:
            return mouth_from_jaw(jaw, fps, source="generated-jaw", message=(
                f"no words{why}: the mouth opens and closes with the generated jaw; "
                "give a transcript for mouth shapes"))
    jaw = jaw_from_loudness(audio, fps, n)
    if not jaw.any():
        return mouth_from_jaw(jaw, fps, source="silent", message="the audio is silent: the mouth stays at rest")
    return mouth_from_jaw(jaw, fps, source="loudness", message=(
        f"no words{why}: the mouth opens with the loudness of the speech; give a transcript "
        "for mouth shapes"))
