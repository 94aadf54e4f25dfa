"""Speech -> motion: the one pipeline the CLI, the add-on's worker, batch and evaluation run.

Why one function: loading the audio at the model's rate, choosing where the words come from
(a timed transcript as it is, plain text forced-aligned, Whisper only when asked) and calling
the chained-window generator used to be written out in every front end, and the copies had
started to differ (one ran Whisper on an empty transcript, one did not). Front ends now
differ only in how they show progress and where they write the result.

Progress is reported as fractions of the whole job: audio 0-5 %, words 5-10 %, model load
10-15 %, generation 15-100 %.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egg_core.formats.audio import DEFAULT_SAMPLE_RATE, is_silent, load_audio
from egg_core.formats.transcripts import Word
from egg_core.inference import DEFAULT_TEMPERATURE, Cancelled, GestureGenerator
from egg_core.model.representation import joint_indices
from egg_core.motion import PARTS, Motion, hold_still
from egg_core.silence import MIN_SILENCE_S, calm_in_silence
from egg_core.words import find_words

#: Rate every speech model of the project reads (features, aligner, recogniser).
SAMPLE_RATE = DEFAULT_SAMPLE_RATE

Progress = Callable[[float, str], None]
GeneratorSource = GestureGenerator | Callable[[], GestureGenerator]


@dataclass
class SpeechRequest:
    """What to generate from: the speech, where its words come from, and how to sample."""

    audio: str | Path
    transcript: str | Path | None = None  # TextGrid / JSON / SRT / VTT / plain text
    transcript_text: str | None = None  # transcript content (e.g. a Blender Text datablock)
    transcribe: bool = False  # without a transcript, recognise the words with faster-whisper
    words: list[Word] | None = None  # timings already known (e.g. a dataset's): used as they are
    fps: float = 30.0
    seed: int = 0
    temperature: float = DEFAULT_TEMPERATURE
    top_k: int | None = None
    calm_silence: bool = True  # ease to the rest pose in silences of 2 s or more (egg_core.silence)
    parts: tuple[str, ...] = PARTS  # what is animated; the others are held still (PARTS)


@dataclass
class Words:
    """The words used for one request and how they were found (``egg_core.words`` methods)."""

    words: list[Word] | None
    method: str
    message: str

    @property
    def note(self) -> str:
        """One short line for a status bar: the route and the word count."""
        return f"words: {self.method} ({len(self.words or [])})"


@dataclass
class SpeechMotion:
    """The generated motion together with the inputs a caller may still need."""

    motion: Motion
    wave: np.ndarray  # mono float32 at SAMPLE_RATE
    words: Words
    warnings: list[str] = field(default_factory=list)  # things the user should know (silence, ...)

    @property
    def duration(self) -> float:
        return len(self.wave) / SAMPLE_RATE


def _given_transcript(request: SpeechRequest) -> bool:
    return bool(str(request.transcript or "").strip()) or request.transcript_text is not None


def find_request_words(request: SpeechRequest, progress: Progress | None = None) -> Words:
    """Word timings for ``request`` by :func:`egg_core.words.find_words`, or none.

    A given transcript is used (timed) or aligned (plain text) and never replaced by a
    transcription; transcription runs only for ``request.transcribe`` with no transcript.
    """
    if request.words is not None:
        return Words(list(request.words) or None, "given", f"{len(request.words)} words given with timings")
    given = _given_transcript(request)
    if not given and not request.transcribe:
        return Words(None, "audio-only", "no transcript: audio only (give a transcript, or "
                                         "ask for transcription, to use words)")
    result = find_words(request.audio, request.transcript or None,
                        transcript_text=request.transcript_text,
                        asr_model=False if given else None, progress=progress)
    return Words(result.words or None, result.method, result.message)


def speech_to_motion(generator: GeneratorSource, request: SpeechRequest,
                     progress: Progress | None = None,
                     cancel: threading.Event | None = None) -> SpeechMotion:
    """Generate motion for ``request``; ``generator`` may be a loader called after the words.

    Raises :class:`~egg_core.errors.EggError` for anything the user can fix and
    :class:`~egg_core.inference.Cancelled` when ``cancel`` is set.
    """
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("generation cancelled")

    report(0.0, "Loading audio")
    wave = load_audio(request.audio, SAMPLE_RATE)
    check()
    if request.words is None and (_given_transcript(request) or request.transcribe):
        report(0.05, "Finding words")
    words = find_request_words(request, lambda f, m: report(0.05 + 0.05 * float(f), m))
    check()
    if not isinstance(generator, GestureGenerator):
        report(0.1, "Loading model")
        generator = generator()
        check()
    motion = generator.generate(
        wave, SAMPLE_RATE, words=words.words, fps=request.fps, seed=request.seed,
        temperature=request.temperature, top_k=request.top_k,
        progress=lambda f, m: report(0.15 + 0.85 * float(f), m), cancel=cancel)
    check()
    warnings = []
    silent = is_silent(wave)
    if silent:
        warnings.append(f"the audio {Path(request.audio).name} is silent: there is no speech to "
                        "gesture to" + (", so the body rests in its standing pose" if request.calm_silence else ""))
    if _given_transcript(request) and words.method == "audio-only":
        warnings.append(f"the transcript's words are not used: {words.message}")
    if request.calm_silence:
        motion, calmed = calm_in_silence(motion, wave, SAMPLE_RATE,
                                         list(joint_indices(generator.config.joint_set)),
                                         generator.rest_pose)
        if calmed and not silent:
            warnings.append(f"{100 * calmed:.0f} % of the clip is silence of {MIN_SILENCE_S:g} s or "
                            "more; the body rests there")
    if tuple(request.parts) != PARTS:
        motion = hold_still(motion, tuple(request.parts), generator.rest_pose)
    return SpeechMotion(motion, wave, words, warnings)
