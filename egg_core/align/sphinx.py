"""Forced alignment of a plain transcript with pocketsphinx's bundled US-English model.

Why pocketsphinx: it is offline, pip-installable, small (the ``align`` extra), ships
an English acoustic model and a 134k-word dictionary, and its Viterbi alignment
puts word boundaries within a few frames on clean read speech.

How:

1. (files over 12 s) word-level alignment of the whole file, streamed 30 s at a time:
   ``Decoder.set_align_text`` builds a grammar of the words in order with optional
   silence/noise between them; wide beams (the default ones drop the correct path on
   long or synthetic speech) and ``bestpath=False`` (the lattice rescoring can return
   a path that ends early). The result is cut between words, in the widest pause,
   into pieces of 6-12 s;
2. each piece (or the whole of a short file) is aligned again on its own and then
   realigned at state level (``set_alignment``) for exact word boundaries and an
   integer acoustic score per word;
3. a free phone-loop recognition (``allphone``) of the same piece is the reference: a
   word's confidence is how close its aligned acoustic score per frame is to the best
   free phone sequence over the same frames (a goodness-of-pronunciation ratio). A
   transcript of other speech scores far below the phone loop. Scores are compared
   within short pieces only: over one long utterance pocketsphinx's scores drift.

Memory: the audio is read piece by piece; only the first pass's word history grows
with the length (a few MB for 10 minutes).

Words without a pronunciation (symbols, other scripts) are not in the grammar; they
are spread over the speech between their aligned neighbours afterwards.

:func:`align_phones` places the *phones* inside words whose times are already known
(from any route of :mod:`egg_core.words`), for the lip sync: the same state-level
alignment, run on each stretch of speech between pauses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egg_core.align.normalize import SpokenToken, looks_english, to_spoken
from egg_core.formats.audio import DEFAULT_SAMPLE_RATE, iter_audio_chunks, load_audio_segment
from egg_core.formats.transcripts import Phone, Word, spread_phones

FRAME_RATE = 100  # pocketsphinx frames per second
PIECE_SECONDS = 6.0  # long files are re-aligned and scored in pieces of 6..12 s
MAX_PIECE_SECONDS = 12.0
# Per-frame log-likelihood ratio (pocketsphinx log units) of aligned words vs the free
# phone loop. Calibrated on espeak-ng and LibriVox speech: correct words sit around
# -10..-35, words aligned to other speech around -60..-90.
_LLR_MID, _LLR_SCALE = -45.0, 7.0

Progress = Callable[[float, str], None]


class AlignmentFailed(Exception):
    """The aligner found no path through the transcript (it does not fit the audio)."""


class NotEnglish(Exception):
    """The transcript does not look English; the model and dictionary are English-only."""


@dataclass
class Alignment:
    """Aligned transcript: one Word per transcript token, in transcript order."""

    words: list[Word]
    confidence: float | None  # 0..1, mean per-word confidence over all words; None if not measurable
    word_confidence: list[float | None]  # None for words that were spread, not aligned
    n_spread: int  # words placed by spreading (no pronunciation)
    n_guessed: int  # words aligned with a spelling-rule pronunciation


def _decoder(**extra):
    from pocketsphinx import Decoder

    # FATAL: a transcript that does not fit is reported by us, not as C-level log noise
    return Decoder(lm=None, loglevel="FATAL", bestpath=False, **extra)


def _feed(decoder, path: Path, sample_rate: int, progress: Progress | None, lo: float, hi: float,
          duration: float, label: str) -> None:
    """Stream the file through ``decoder`` as one utterance, 30 s at a time."""
    decoder.start_utt()
    for start, piece in iter_audio_chunks(path, chunk_seconds=30.0, sample_rate=sample_rate):
        pcm = (np.clip(piece, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        decoder.process_raw(pcm, no_search=False, full_utt=False)
        if progress is not None and duration > 0:
            progress(lo + (hi - lo) * min(1.0, (start + len(piece) / sample_rate) / duration), label)
    decoder.end_utt()


def _pcm(wave: np.ndarray) -> bytes:
    return (np.clip(wave, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _non_filler(name: str) -> bool:
    return not (name.startswith("<") or name.startswith("["))


def _phone_loop(dec, pcm: bytes, n_frames: int) -> np.ndarray | None:
    """Per-frame log score of the best free phone sequence over ``pcm``; None if none found."""
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    if dec.hyp() is None:
        return None
    logmath = dec.get_logmath()
    frame = np.zeros(n_frames + 2, np.float64)
    for seg in dec.seg():
        a, b = int(seg.start_frame), int(seg.end_frame)
        score = logmath.log(seg.ascore) if seg.ascore > 0 else -1e5
        frame[a:b + 1] = score / max(1, b - a + 1)
    return frame


@dataclass
class _Piece:
    first: int  # grammar index of its first word
    stop: int  # one past its last word
    t0: float  # seconds
    t1: float


def _plan_pieces(bounds: list[tuple[int, int]], duration: float,
                 speech: list[tuple[float, float]]) -> list[_Piece]:
    """Cut the first-pass alignment into pieces of PIECE_SECONDS..MAX_PIECE_SECONDS, each cut in
    the widest pause between two words in that window (never inside a word).

    The cut goes 40 ms before the next speech onset (from the loudness envelope), not in
    the middle of the pause: a piece that starts with a long silence tempts the aligner
    to stretch its first word over it, while trailing silence is harmless.
    """
    pieces: list[_Piece] = []
    first, t0, n = 0, 0.0, len(bounds)
    while first < n:
        k = first
        while k < n - 1 and bounds[k][1] / FRAME_RATE - t0 < PIECE_SECONDS:
            k += 1
        if bounds[-1][1] / FRAME_RATE - t0 <= MAX_PIECE_SECONDS or k >= n - 1:
            pieces.append(_Piece(first, n, t0, duration))
            break
        best, best_gap = k, -1.0
        j = k
        while j < n - 1 and bounds[j][1] / FRAME_RATE - t0 <= MAX_PIECE_SECONDS:
            gap = bounds[j + 1][0] - bounds[j][1]
            if gap > best_gap:
                best, best_gap = j, gap
            j += 1
        end_prev, start_next = bounds[best][1] / FRAME_RATE, bounds[best + 1][0] / FRAME_RATE
        cut = (end_prev + start_next) / 2
        onsets = [a for a, _ in speech if end_prev - 0.3 <= a <= start_next + 0.3]
        if onsets:
            cut = max(end_prev, t0 + 1.0, min(onsets[-1], start_next + 0.3) - 0.04)
        pieces.append(_Piece(first, best + 1, t0, cut))
        first, t0 = best + 1, cut
    return pieces


def _spread(words: list[Word | None], tokens: list[str], speech: list[tuple[float, float]],
            duration: float) -> list[Word]:
    """Fill unplaced words (None) by sharing out the time between aligned neighbours.

    A run of unplaced words takes the gap between its neighbours when that gap holds
    at least 80 ms per word (the aligner absorbed the unknown speech as silence/noise);
    otherwise the run and its neighbours share their combined span by word length.
    Runs at the ends use the first/last speech region.
    """
    out = list(words)
    n = len(out)
    speech_start = speech[0][0] if speech else 0.0
    speech_end = speech[-1][1] if speech else duration
    i = 0
    while i < n:
        if out[i] is not None:
            i += 1
            continue
        j = i
        while j < n and out[j] is None:
            j += 1
        prev = out[i - 1] if i > 0 else None
        nxt = out[j] if j < n else None
        run = list(range(i, j))
        lo = prev.end if prev is not None else min(speech_start, nxt.start if nxt else speech_start)
        hi = nxt.start if nxt is not None else max(speech_end, lo)
        if hi - lo >= 0.08 * len(run):
            _place(out, run, tokens, lo, hi)
        else:
            members = ([i - 1] if prev is not None else []) + run + ([j] if nxt is not None else [])
            lo = prev.start if prev is not None else lo
            hi = nxt.end if nxt is not None else hi
            _place(out, members, tokens, lo, max(hi, lo))
        i = j
    return [w if w is not None else Word(tokens[k], 0.0, 0.0) for k, w in enumerate(out)]


def _place(out: list[Word | None], idx: list[int], tokens: list[str], lo: float, hi: float) -> None:
    lengths = [max(1, len(tokens[k])) for k in idx]
    total, acc = float(sum(lengths)), 0
    for k, n in zip(idx, lengths, strict=True):
        a = lo + (hi - lo) * acc / total
        acc += n
        out[k] = Word(tokens[k], round(a, 3), round(lo + (hi - lo) * acc / total, 3))


def _first_pass(dec, path: Path, grammar: list[str], duration: float,
                progress: Progress | None) -> list[tuple[int, int]]:
    """Word-level alignment of the whole file, streamed: (start_frame, end_frame) per word."""
    dec.set_align_text(" ".join(grammar))
    _feed(dec, path, DEFAULT_SAMPLE_RATE, progress, 0.0, 0.4, duration, "Aligning transcript")
    if dec.hyp() is None:
        raise AlignmentFailed("no path through the transcript fits the audio")
    segs = [(int(sg.start_frame), int(sg.end_frame) + 1) for sg in dec.seg() if _non_filler(sg.word)]
    if len(segs) != len(grammar):
        raise AlignmentFailed(f"the aligner returned {len(segs)} words for {len(grammar)}")
    return segs


def _two_pass_alignment(dec, words: list[str], pcm: bytes) -> bool:
    """Run pocketsphinx's alignment of ``words`` over ``pcm``: a forced-alignment search, then
    the phone/state alignment pass; False when the first finds no path (``dec`` then holds none)."""
    dec.set_align_text(" ".join(words))
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    if dec.hyp() is None:
        return False
    dec.set_alignment()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    return True


def _align_piece(dec, ref_dec, words: list[str], wave: np.ndarray,
                 ) -> list[tuple[int, int, float | None]] | None:
    """Align ``words`` to one piece: (start_frame, n_frames, log-likelihood ratio per frame)."""
    pcm = _pcm(wave)
    if not _two_pass_alignment(dec, words, pcm):
        return None
    entries = [e for e in dec.get_alignment() if _non_filler(e.name)]
    if len(entries) != len(words):
        return None
    n_frames = len(wave) * FRAME_RATE // DEFAULT_SAMPLE_RATE
    ref = _phone_loop(ref_dec, pcm, n_frames) if ref_dec is not None else None
    out: list[tuple[int, int, float | None]] = []
    for e in entries:
        a, d = int(e.start), max(1, int(e.duration))
        out.append((a, d, None if ref is None else (float(e.score) - float(ref[a:a + d].sum())) / d))
    return out


def align_transcript(path: str | Path, tokens: list[str], duration: float,
                     speech: list[tuple[float, float]], progress: Progress | None = None,
                     check_language: bool = True) -> Alignment:
    """Align transcript ``tokens`` (words as written) to the audio file at ``path``.

    Files longer than :data:`MAX_PIECE_SECONDS` get a streamed word-level pass over the
    whole file first; it is then cut between words into pieces of about
    :data:`PIECE_SECONDS`, and each piece is re-aligned at state level and scored on its
    own (scores of one very long utterance are not comparable with the phone loop's).

    Raises :class:`NotEnglish` (with the reason) when the text is not English,
    :class:`AlignmentFailed` when no alignment exists, ImportError when pocketsphinx
    is missing.
    """
    from pocketsphinx import get_model_path

    path = Path(path)
    dec = _decoder(beam=1e-100, pbeam=1e-100, wbeam=1e-80)
    lookup = dec.lookup_word
    if check_language:
        ok, reason = looks_english(tokens, lookup)
        if not ok:
            raise NotEnglish(reason)
    spoken: list[SpokenToken] = to_spoken(tokens, lookup, lambda w, p: dec.add_word(w, p, True))
    grammar: list[str] = []
    owner: list[int] = []  # grammar word -> token index
    for st in spoken:
        for w in st.spoken or []:
            grammar.append(w)
            owner.append(st.index)
    if not grammar:
        raise AlignmentFailed("none of the transcript's words can be pronounced by the English model")
    if progress:
        progress(0.0, "Aligning transcript")
    try:
        if duration > MAX_PIECE_SECONDS:
            bounds = _first_pass(dec, path, grammar, duration, progress)
            pieces = _plan_pieces(bounds, duration, speech)
        else:
            bounds, pieces = [], [_Piece(0, len(grammar), 0.0, duration)]
    except RuntimeError as exc:  # pocketsphinx rejected the word list
        raise AlignmentFailed(f"pocketsphinx could not use the word list ({exc})") from None
    ref_dec = _decoder(allphone=get_model_path("en-us/en-us-phone.lm.bin"), allphone_ci=True,
                       beam=1e-20, pbeam=1e-20)

    frames: list[tuple[int, int, float | None]] = []  # per grammar word, absolute frames
    lo = 0.4 if bounds else 0.0
    for i, piece in enumerate(pieces):
        wave = load_audio_segment(path, piece.t0, piece.t1 - piece.t0, DEFAULT_SAMPLE_RATE)
        off = int(round(piece.t0 * FRAME_RATE))
        got = _align_piece(dec, ref_dec, grammar[piece.first:piece.stop], wave)
        if got is None:
            if not bounds:
                raise AlignmentFailed("no path through the transcript fits the audio")
            # keep the first pass's boundaries for this piece, without a score
            got = [(a - off, b - a, None) for a, b in bounds[piece.first:piece.stop]]
        frames += [(a + off, d, llr) for a, d, llr in got]
        if progress:
            progress(lo + (1.0 - lo) * (i + 1) / len(pieces), "Refining word boundaries")

    placed: list[Word | None] = [None] * len(tokens)
    llrs: dict[int, list[tuple[float, int]]] = {}
    for k, (a, d, llr) in enumerate(frames):
        tok = owner[k]
        start, end = a / FRAME_RATE, (a + d) / FRAME_RATE
        prev = placed[tok]
        placed[tok] = Word(tokens[tok], start, end) if prev is None else Word(tokens[tok], prev.start, end)
        if llr is not None:
            llrs.setdefault(tok, []).append((llr, d))
    word_conf: list[float | None] = [None] * len(tokens)
    for tok, parts in llrs.items():
        llr = sum(v * d for v, d in parts) / sum(d for _, d in parts)
        word_conf[tok] = 1.0 / (1.0 + math.exp(-(llr - _LLR_MID) / _LLR_SCALE))
    words = _spread(placed, tokens, speech, duration)
    confidence: float | None = None
    if llrs:
        confidence = round(float(np.mean([c if c is not None else 0.0 for c in word_conf])), 3)
    if progress:
        progress(1.0, "Aligned")
    return Alignment(
        words=[Word(w.text, round(w.start, 3), round(w.end, 3)) for w in words],
        confidence=confidence,
        word_confidence=word_conf,
        n_spread=sum(1 for st in spoken if st.spoken is None),
        n_guessed=sum(1 for st in spoken if st.guessed),
    )


# ----------------------------------------------------------------------------- phones

#: Words closer than this (seconds) are aligned together for their phones.
PHONE_GROUP_GAP = 0.5
#: Audio kept around a group of words, so the aligner can place silence at its edges.
_PHONE_MARGIN = 0.15
#: A word without any pronunciation still moves the mouth: a neutral vowel over its time.
_UNPRONOUNCED = ["AH"]


@dataclass
class PhoneAlignment:
    """Phones of timed words, and how each word got them."""

    phones: list[Phone]
    n_aligned: int  # words whose phones pocketsphinx placed in the audio
    n_spread: int  # words whose dictionary phones were spread over the word (alignment failed)
    n_unpronounced: int  # words with no pronunciation: a neutral vowel over their time


def _phone_groups(words: list[Word]) -> list[list[int]]:
    """Word indices in stretches without a pause of PHONE_GROUP_GAP, at most MAX_PIECE_SECONDS long."""
    groups: list[list[int]] = []
    for i, w in enumerate(words):
        if groups:
            first, last = words[groups[-1][0]], words[groups[-1][-1]]
            if w.start - last.end < PHONE_GROUP_GAP and w.end - first.start <= MAX_PIECE_SECONDS:
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups


def _aligned_group_phones(dec, grammar: list[str], owner: list[int], wave: np.ndarray,
                          offset: float) -> dict[int, list[Phone]] | None:
    """Phones per word index of one group, placed by pocketsphinx; None when it finds no path."""
    pcm = _pcm(wave)
    if not _two_pass_alignment(dec, grammar, pcm):
        return None
    # Copy everything out at once: pocketsphinx's entries point into the iterator that made them.
    alignment = dec.get_alignment()
    spans = [(int(e.start), int(e.start) + max(1, int(e.duration)))
             for e in alignment.words() if _non_filler(e.name)]
    found = [(str(e.name), int(e.start), max(1, int(e.duration))) for e in alignment.phones()]
    if len(spans) != len(grammar):
        return None
    out: dict[int, list[Phone]] = {}
    k = 0
    for name, start, duration in found:
        if name in ("SIL", "+NSN+", "+SPN+") or not _non_filler(name):
            continue
        while k + 1 < len(spans) and start >= spans[k][1]:
            k += 1
        a = offset + start / FRAME_RATE
        out.setdefault(owner[k], []).append(Phone(name, round(a, 3), round(a + duration / FRAME_RATE, 3)))
    return out


def align_phones(path: str | Path, words: list[Word], progress: Progress | None = None) -> PhoneAlignment:
    """Phone timings inside ``words`` (already timed) for the audio file at ``path``.

    Words are aligned in groups (stretches between pauses of :data:`PHONE_GROUP_GAP`), each
    on its own piece of audio; where pocketsphinx finds no path through a group, the
    dictionary's phones of each of its words are spread over that word's time instead
    (:func:`~egg_core.formats.transcripts.spread_phones`). Labels are ARPAbet without
    stress digits (the en-us model has none). Raises ImportError without pocketsphinx.
    """
    path = Path(path)
    words = sorted((w for w in words if w.end > w.start), key=lambda w: (w.start, w.end))
    dec = _decoder(beam=1e-100, pbeam=1e-100, wbeam=1e-80)
    spoken = to_spoken([w.text for w in words], dec.lookup_word,
                       lambda w, p: dec.add_word(w, p, True))
    phones: list[Phone] = []
    n_aligned = n_spread = n_unpronounced = 0
    groups = _phone_groups(words)
    for g, group in enumerate(groups):
        grammar: list[str] = []
        owner: list[int] = []
        for i in group:
            for w in spoken[i].spoken or []:
                grammar.append(w)
                owner.append(i)
        placed: dict[int, list[Phone]] | None = None
        if grammar:
            t0 = max(0.0, words[group[0]].start - _PHONE_MARGIN)
            if g > 0:
                t0 = max(t0, words[groups[g - 1][-1]].end)
            t1 = words[group[-1]].end + _PHONE_MARGIN
            if g + 1 < len(groups):
                t1 = min(t1, words[groups[g + 1][0]].start)
            wave = load_audio_segment(path, t0, t1 - t0, DEFAULT_SAMPLE_RATE)
            try:
                placed = _aligned_group_phones(dec, grammar, owner, wave, t0)
            except RuntimeError:  # pocketsphinx rejected the word list
                placed = None
        for i in group:
            word = words[i]
            if placed is not None and placed.get(i):
                phones += placed[i]
                n_aligned += 1
                continue
            labels = [ph for w in spoken[i].spoken or [] for ph in (dec.lookup_word(w) or "").split()]
            if labels:
                n_spread += 1
            else:
                labels, n_unpronounced = list(_UNPRONOUNCED), n_unpronounced + 1
            phones += spread_phones(labels, word.start, word.end)
        if progress is not None:
            progress((g + 1) / len(groups), "Aligning phones")
    return PhoneAlignment(phones, n_aligned, n_spread, n_unpronounced)
