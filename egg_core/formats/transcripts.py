"""Transcripts and word timings: every format users bring -> one :class:`Transcript`.

Why: the text branch of the model needs words placed in time. Users have Praat
TextGrids (BEAT, Montreal Forced Aligner), Google-ASR JSON (the Trinity speech-
gesture data), subtitles (SRT, WebVTT) or just a plain text file. All of them are
read into the same ``Transcript(words=[Word(text, start, end)], timed, source)``.

Format notes (what is accepted and how ambiguity is resolved):

* **TextGrid** - Praat "ooTextFile" in long ("item [1]: ... text = ") and short
  form, UTF-8 (with or without BOM) or UTF-16 (with BOM, as Praat writes files with
  non-ASCII text). The tier named ``words`` (case-insensitive; ``word`` also
  matches) is used; with no such tier, the only interval tier; otherwise an error
  lists the tier names. Empty intervals and the silence marks in
  :data:`SILENCE_MARKS` are silence and are dropped from the words. A ``phones``
  tier (BEAT2, Montreal Forced Aligner; ARPAbet labels) is read separately by
  :func:`read_phones` for the lip sync.
* **JSON** - Google Speech-to-Text responses as in Trinity: a list of segments, each
  ``{"alternatives": [{"words": [{"start_time": "0.5s", "end_time": "0.800s",
  "word": "hi"}]}]}``; also wrapped in ``{"results": [...]}``, camelCase keys,
  numeric seconds and protobuf ``{"seconds", "nanos"}`` durations. The format
  written by :func:`write_words_json` (``{"words": [{"word", "start", "end"}]}``)
  and Whisper-style ``{"segments": [{"words": [...]}]}`` are read too.
* **SRT / WebVTT** - subtitles time whole cues, not words: each cue's time span is
  spread over its words in proportion to word length in characters (a long word
  takes longer to say), which keeps every word inside its cue. Markup (``<i>``,
  ``<v Speaker>``, ``<c.x>``, inline timestamps, ``{\\an8}``) and bracketed
  non-speech annotations (``[music]``) are removed.
* **Plain text** - words only, ``timed=False``, ``start = end = 0``; the words module
  aligns them to the audio.

Words keep their spelling; punctuation at the edges of subtitle/plain-text tokens is
stripped ("Hello," -> "Hello"), internal apostrophes and hyphens are kept.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egg_core.atomic import atomic_path, check_target
from egg_core.errors import TranscriptError
from egg_core.formats.extensions import TRANSCRIPT_EXTENSIONS  # noqa: F401 - re-exported

#: Interval labels that mean "no word here" in TextGrids written by common aligners.
SILENCE_MARKS: frozenset[str] = frozenset({"", "sil", "sp", "spn", "<sil>", "<sp>", "<p:>", "<eps>", "#"})



@dataclass(frozen=True)
class Word:
    """One word and where it is spoken, in seconds from the start of the audio."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Phone:
    """One phone (ARPAbet label as written, e.g. "AH0") and where it is spoken, in seconds."""

    label: str
    start: float
    end: float


@dataclass
class Transcript:
    """Words of one recording. ``timed=False`` means the times are unknown (all 0)."""

    words: list[Word] = field(default_factory=list)
    timed: bool = True
    source: str = ""

    @property
    def text(self) -> str:
        """The words joined by single spaces."""
        return " ".join(w.text for w in self.words)

    @property
    def end(self) -> float:
        """End time of the last word (0 when untimed or empty)."""
        return max((w.end for w in self.words), default=0.0)


# ----------------------------------------------------------------------------- decoding


def decode_text_bytes(raw: bytes, source: str) -> str:
    """Bytes of a text file -> str: BOM-detected UTF-8/UTF-16, BOM-less UTF-16, else UTF-8/Latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", "replace")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise TranscriptError(f"{source}: starts with a UTF-16 mark but is not valid UTF-16 ({exc}).") from None
    if len(raw) >= 4 and b"\x00" in raw[:200]:
        # BOM-less UTF-16: ASCII characters leave zero bytes in every other position.
        head = raw[:200]
        enc = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            raise TranscriptError(f"{source}: binary data, not a text transcript.") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# ----------------------------------------------------------------------------- words from text

_BRACKETED = re.compile(r"\[[^\]]*\]|\{[^}]*\}|♪")


def _strip_edge_punct(token: str) -> str:
    """Drop punctuation/symbols at both ends, but keep what is read aloud with a number:
    a currency sign before a digit ("$3") and a per cent sign after one ("5%")."""
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PS":
        if unicodedata.category(token[start]) == "Sc" and start + 1 < end and token[start + 1].isdigit():
            break
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PS":
        if token[end - 1] == "%" and end - 2 >= start and token[end - 2].isdigit():
            break
        end -= 1
    return token[start:end]


def split_words(text: str) -> list[str]:
    """Split running text into words: whitespace tokens with edge punctuation removed."""
    text = _BRACKETED.sub(" ", text)
    out = []
    for tok in text.split():
        tok = _strip_edge_punct(tok)
        if tok:
            out.append(tok)
    return out


def spread_over_span(tokens: list[str], start: float, end: float) -> list[Word]:
    """Place ``tokens`` inside [start, end], each taking time proportional to its length."""
    if not tokens:
        return []
    lengths = [max(1, len(t)) for t in tokens]
    total = float(sum(lengths))
    span = max(0.0, end - start)
    words, acc = [], 0
    for tok, n in zip(tokens, lengths, strict=True):
        w0 = start + span * acc / total
        acc += n
        w1 = start + span * acc / total
        words.append(Word(tok, round(w0, 6), round(w1, 6)))
    return words


# ----------------------------------------------------------------------------- TextGrid

_TG_TOKEN = re.compile(
    r'"(?:[^"]|"")*"'  # quoted string, "" escapes a quote
    r"|\[[^\]\n]*\]"  # [n] array index in the long format: skipped
    r"|<[a-z]+>"  # <exists> / <absent> flags
    r"|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"  # number
    r"|!.*"  # comment to end of line
)


@dataclass
class _Tok:
    kind: str  # "str", "num", "flag"
    value: Any
    line: int


def _textgrid_tokens(text: str) -> list[_Tok]:
    """Praat's own reading rule: values are numbers, quoted strings and <flags>; the rest
    (``xmin =``, ``intervals:``, ``item [1]:``) is commentary. This reads both formats."""
    toks = []
    for m in _TG_TOKEN.finditer(text):
        s = m.group(0)
        c = s[0]
        if c == "[" or c == "!":
            continue
        line = _line_of(text, m.start())
        if c == '"':
            toks.append(_Tok("str", s[1:-1].replace('""', '"'), line))
        elif c == "<":
            toks.append(_Tok("flag", s, line))
        else:
            toks.append(_Tok("num", float(s), line))
    return toks


class _TokStream:
    def __init__(self, toks: list[_Tok], source: str):
        self.toks, self.i, self.source = toks, 0, source

    def _fail(self, expected: str) -> TranscriptError:
        if self.i < len(self.toks):
            t = self.toks[self.i]
            got = f"'{t.value}' on line {t.line}"
        else:
            last = self.toks[-1].line if self.toks else 1
            got = f"the end of the file after line {last}"
        return TranscriptError(f"{self.source}: not a valid TextGrid: expected {expected}, found {got}.")

    def num(self, what: str) -> float:
        if self.i >= len(self.toks) or self.toks[self.i].kind != "num":
            raise self._fail(f"a number ({what})")
        self.i += 1
        return float(self.toks[self.i - 1].value)

    def string(self, what: str) -> str:
        if self.i >= len(self.toks) or self.toks[self.i].kind != "str":
            raise self._fail(f'a quoted string ({what})')
        self.i += 1
        return str(self.toks[self.i - 1].value)

    def optional_flag(self) -> str | None:
        if self.i < len(self.toks) and self.toks[self.i].kind == "flag":
            self.i += 1
            return str(self.toks[self.i - 1].value)
        return None

    def count(self, what: str) -> int:
        line = self.toks[self.i].line if self.i < len(self.toks) else 0
        v = self.num(what)
        if v < 0 or v != int(v):
            raise TranscriptError(f"{self.source}: line {line}: {what} must be a whole number >= 0, got {v}.")
        return int(v)


@dataclass
class TextGridTier:
    """One tier: intervals (xmin, xmax, text) or points (time, time, mark)."""

    name: str
    kind: str  # "IntervalTier" or "TextTier"
    items: list[tuple[float, float, str]]


def parse_textgrid(text: str, source: str = "<TextGrid>") -> list[TextGridTier]:
    """All tiers of a TextGrid held in ``text`` (long or short text format)."""
    if "ooBinaryFile" in text[:40]:
        raise TranscriptError(f"{source}: binary TextGrid. In Praat, save it as a text file (Save as text file...).")
    ts = _TokStream(_textgrid_tokens(text), source)
    if ts.string("File type") != "ooTextFile":
        ts.i -= 1
        raise ts._fail('File type = "ooTextFile"')
    if ts.string("Object class") != "TextGrid":
        ts.i -= 1
        raise ts._fail('Object class = "TextGrid"')
    ts.num("xmin")
    ts.num("xmax")
    flag = ts.optional_flag()
    if flag == "<absent>":
        return []
    n_tiers = ts.count("number of tiers")
    tiers = []
    for _ in range(n_tiers):
        kind = ts.string('tier class "IntervalTier" or "TextTier"')
        name = ts.string("tier name")
        ts.num("tier xmin")
        ts.num("tier xmax")
        n = ts.count(f"number of intervals/points in tier '{name}'")
        items = []
        if kind == "IntervalTier":
            for _ in range(n):
                a = ts.num("interval xmin")
                b = ts.num("interval xmax")
                items.append((a, b, ts.string("interval text")))
        elif kind == "TextTier":
            for _ in range(n):
                t = ts.num("point time")
                items.append((t, t, ts.string("point mark")))
        else:
            raise TranscriptError(f"{source}: unknown tier class '{kind}' (expected IntervalTier or TextTier).")
        tiers.append(TextGridTier(name, kind, items))
    return tiers


def _pick_words_tier(tiers: list[TextGridTier], source: str, tier: str | None) -> TextGridTier:
    names = [t.name for t in tiers]
    if tier is not None:
        for t in tiers:
            if t.name == tier:
                return t
        raise TranscriptError(f"{source}: no tier named '{tier}'. Tiers in the file: {names}.")
    for wanted in ("words", "word"):
        for t in tiers:
            if t.name.strip().lower() == wanted and t.kind == "IntervalTier":
                return t
    intervals = [t for t in tiers if t.kind == "IntervalTier"]
    if len(intervals) == 1:
        return intervals[0]
    if not intervals:
        raise TranscriptError(f"{source}: the TextGrid has no interval tier with words (tiers: {names}).")
    raise TranscriptError(
        f"{source}: cannot tell which tier holds the words; none is named 'words'. "
        f"Tiers in the file: {names}. Rename the word tier to 'words' in Praat."
    )


def textgrid_to_transcript(tiers: list[TextGridTier], source: str, tier: str | None = None) -> Transcript:
    """Words of the chosen tier; empty/silence intervals dropped."""
    chosen = _pick_words_tier(tiers, source, tier)
    words = []
    for a, b, label in chosen.items:
        label = label.strip()
        if label.lower() in SILENCE_MARKS:
            continue
        if b < a:
            raise TranscriptError(f"{source}: interval '{label}' in tier '{chosen.name}' ends ({b}) before it starts ({a}).")
        words.append(Word(label, float(a), float(b)))
    return Transcript(words, True, source)


#: Names of the tier that holds phones (BEAT2 and the Montreal Forced Aligner write "phones").
PHONE_TIER_NAMES = ("phones", "phone", "phonemes", "phoneme")


def textgrid_phones(tiers: list[TextGridTier]) -> list[Phone] | None:
    """Phones of the ``phones`` interval tier (any name in :data:`PHONE_TIER_NAMES`), or None.

    Why None rather than an error: a TextGrid without phones is normal (most only carry
    words); the lip sync then finds the phones another way. Silence intervals are dropped.
    """
    for wanted in PHONE_TIER_NAMES:
        for tier in tiers:
            if tier.name.strip().lower() == wanted and tier.kind == "IntervalTier":
                return [Phone(label.strip(), float(a), float(b)) for a, b, label in tier.items
                        if label.strip().lower() not in SILENCE_MARKS and b > a]
    return None


def parse_phones_text(text: str, source: str = "<text>") -> list[Phone] | None:
    """Phones of transcript content when it is a TextGrid with a phones tier, else None."""
    head = text.lstrip("\ufeff \t\r\n")[:200]
    if not (head.startswith("File type") and "ooTextFile" in head):
        return None
    return textgrid_phones(parse_textgrid(text, source))


def read_phones(path: str | Path) -> list[Phone] | None:
    """Phones of a transcript file: a TextGrid's phones tier; None for other formats or without one.

    Raises :class:`TranscriptError` for a missing or malformed file, like :func:`read_transcript`.
    """
    path = Path(path)
    if not path.is_file():
        raise TranscriptError(f"Transcript file not found: {path}. Check the path.")
    return parse_phones_text(decode_text_bytes(path.read_bytes(), str(path)), str(path))


#: ARPAbet vowels (without stress digits): they take about twice as long as consonants.
ARPABET_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AX", "AXR", "AY", "EH", "ER", "EY", "IH",
                            "IX", "IY", "OW", "OY", "UH", "UW", "UX"})


def spread_phones(labels: list[str], start: float, end: float) -> list[Phone]:
    """Place a word's phones inside [start, end]: a vowel takes twice a consonant's time.

    Why: when only word timings are known (no phone alignment), a pronunciation
    dictionary gives the phones and this shares out the word's duration; vowels are
    held longer than consonants in running speech.
    """
    if not labels:
        return []
    shares = [2.0 if label.rstrip("012").upper() in ARPABET_VOWELS else 1.0 for label in labels]
    total, acc = sum(shares), 0.0
    span = max(0.0, end - start)
    out = []
    for label, share in zip(labels, shares, strict=True):
        a = start + span * acc / total
        acc += share
        out.append(Phone(label, round(a, 6), round(start + span * acc / total, 6)))
    return out


# ----------------------------------------------------------------------------- JSON


def _seconds(value: Any, source: str, where: str) -> float:
    """'1.300s' / 1.3 / '1.3' / {'seconds': 1, 'nanos': 3e8} -> seconds."""
    if isinstance(value, bool):
        raise TranscriptError(f"{source}: {where}: expected a time, got {value!r}.")
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        s = value.strip()
        if s.endswith("s"):
            s = s[:-1]
        try:
            out = float(s)
        except ValueError:
            raise TranscriptError(f"{source}: {where}: expected a time like \"0.5s\", got {value!r}.") from None
    elif isinstance(value, dict) and ("seconds" in value or "nanos" in value):
        try:
            out = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) * 1e-9
        except (TypeError, ValueError):
            raise TranscriptError(f"{source}: {where}: bad duration {value!r}.") from None
    else:
        raise TranscriptError(f"{source}: {where}: expected a time, got {value!r}.")
    if not math.isfinite(out) or out < 0:
        raise TranscriptError(f"{source}: {where}: time must be a finite number >= 0, got {value!r}.")
    return out


def _get(d: dict, *keys: str) -> Any:
    for k in keys:
        if k in d:
            return d[k]
    return None


def _json_word(item: Any, source: str, where: str) -> Word:
    if not isinstance(item, dict):
        raise TranscriptError(f"{source}: {where}: expected an object with word/start/end, got {type(item).__name__}.")
    text = _get(item, "word", "text", "token")
    start = _get(item, "start_time", "startTime", "start", "startOffset")
    end = _get(item, "end_time", "endTime", "end", "endOffset")
    if text is None or start is None or end is None:
        raise TranscriptError(
            f"{source}: {where}: a word needs 'word', 'start_time' and 'end_time' (or word/start/end); "
            f"keys found: {sorted(item)}."
        )
    s, e = _seconds(start, source, where + " start"), _seconds(end, source, where + " end")
    if e < s:
        raise TranscriptError(f"{source}: {where}: word '{text}' ends ({e}) before it starts ({s}).")
    return Word(str(text).strip(), s, e)


def json_to_transcript(data: Any, source: str = "<JSON>") -> Transcript:
    """Words from parsed Google-ASR / Trinity / EGGesture / Whisper-style JSON."""
    if isinstance(data, dict):
        if isinstance(data.get("words"), list):
            timed = bool(data.get("timed", True))
            words = [_json_word(w, source, f"words[{i}]") if timed else _untimed_json_word(w, source, i)
                     for i, w in enumerate(data["words"])]
            return Transcript([w for w in words if w.text], timed, source)
        for key in ("results", "segments", "response"):
            if key in data:
                return json_to_transcript(data[key], source)
        raise TranscriptError(
            f"{source}: JSON object without 'results', 'segments' or 'words'; keys found: {sorted(data)}. "
            "Expected Google Speech-to-Text output (list of results with alternatives[0].words)."
        )
    if not isinstance(data, list):
        raise TranscriptError(f"{source}: expected a JSON list of recognition results, got {type(data).__name__}.")
    words: list[Word] = []
    for i, seg in enumerate(data):
        if not isinstance(seg, dict):
            raise TranscriptError(f"{source}: item [{i}] is {type(seg).__name__}, expected an object.")
        if "alternatives" in seg:
            alts = seg["alternatives"]
            if not isinstance(alts, list):
                raise TranscriptError(f"{source}: results[{i}].alternatives must be a list.")
            if not alts:
                continue
            seg_words = alts[0].get("words", []) if isinstance(alts[0], dict) else None
            if seg_words is None or not isinstance(seg_words, list):
                raise TranscriptError(f"{source}: results[{i}].alternatives[0] has no 'words' list.")
            words += [_json_word(w, source, f"results[{i}].alternatives[0].words[{j}]") for j, w in enumerate(seg_words)]
        elif isinstance(seg.get("words"), list):
            words += [_json_word(w, source, f"segments[{i}].words[{j}]") for j, w in enumerate(seg["words"])]
        elif _get(seg, "word", "text") is not None and _get(seg, "start", "start_time", "startTime") is not None:
            words.append(_json_word(seg, source, f"[{i}]"))
        else:
            raise TranscriptError(
                f"{source}: item [{i}] has neither 'alternatives' nor 'words'; keys found: {sorted(seg)}."
            )
    words = [w for w in words if w.text]
    words.sort(key=lambda w: (w.start, w.end))
    return Transcript(words, True, source)


def _untimed_json_word(item: Any, source: str, i: int) -> Word:
    text = item.get("word") if isinstance(item, dict) else item
    if not isinstance(text, str):
        raise TranscriptError(f"{source}: words[{i}] must be a string or an object with 'word'.")
    return Word(text.strip(), 0.0, 0.0)


# ----------------------------------------------------------------------------- SRT / WebVTT

_TIMING = re.compile(
    r"^\s*(?P<a>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<b>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})(?P<rest>.*)$"
)
_TAG = re.compile(r"<[^>]*>")


def _clock(s: str) -> float:
    parts = s.replace(",", ".").split(":")
    secs = float(parts[-1])
    mins = int(parts[-2]) if len(parts) >= 2 else 0
    hours = int(parts[-3]) if len(parts) >= 3 else 0
    return hours * 3600 + mins * 60 + secs


def _cues(text: str, source: str, vtt: bool) -> list[tuple[float, float, str, int]]:
    """(start, end, text, line) per cue."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cues: list[tuple[float, float, str, int]] = []
    i = 0
    if vtt:
        if not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
            raise TranscriptError(f"{source}: line 1: a WebVTT file must start with 'WEBVTT'.")
        i = 1
    while i < len(lines):
        line = lines[i]
        m = _TIMING.match(line)
        if m is None:
            stripped = line.strip()
            if vtt and stripped.split(" ")[0] in ("NOTE", "STYLE", "REGION"):
                while i < len(lines) and lines[i].strip():  # skip the whole block
                    i += 1
                continue
            if stripped and not vtt and not stripped.isdigit():
                nxt = lines[i + 1] if i + 1 < len(lines) else ""
                if _TIMING.match(nxt) is None:
                    raise TranscriptError(
                        f"{source}: line {i + 1}: expected a cue number or a timing line "
                        f"'00:00:01,000 --> 00:00:02,000', found {stripped[:60]!r}."
                    )
            i += 1
            continue
        a, b = _clock(m.group("a")), _clock(m.group("b"))
        if b < a:
            raise TranscriptError(f"{source}: line {i + 1}: cue ends ({m.group('b')}) before it starts ({m.group('a')}).")
        start_line = i + 1
        i += 1
        body = []
        while i < len(lines) and lines[i].strip():
            body.append(lines[i])
            i += 1
        cues.append((a, b, " ".join(body), start_line))
    return cues


def subtitles_to_transcript(text: str, source: str = "<subtitles>", vtt: bool = False) -> Transcript:
    """Words from SRT (``vtt=False``) or WebVTT text, cue times spread over words by length."""
    cues = _cues(text, source, vtt)
    if not cues and text.strip() and not (vtt and text.strip() == "WEBVTT"):
        fmt = "WebVTT" if vtt else "SRT"
        raise TranscriptError(f"{source}: no cue timing lines ('00:00:01,000 --> 00:00:02,000') found; not a valid {fmt} file.")
    words: list[Word] = []
    for a, b, body, _line in cues:
        words += spread_over_span(split_words(_TAG.sub(" ", body)), a, b)
    return Transcript(words, True, source)


# ----------------------------------------------------------------------------- dispatch


def plain_text_transcript(text: str, source: str = "<text>") -> Transcript:
    """Untimed words of running text (``timed=False``)."""
    return Transcript([Word(w, 0.0, 0.0) for w in split_words(text)], False, source)


def parse_transcript_text(text: str, source: str = "<text>", fmt: str | None = None,
                          tier: str | None = None) -> Transcript:
    """Parse transcript content; ``fmt`` is "textgrid"|"json"|"srt"|"vtt"|"txt" or None to sniff."""
    head = text.lstrip("\ufeff \t\r\n")[:200]
    if fmt is None or fmt == "txt":
        if head.startswith("File type") and "ooTextFile" in head:
            fmt = "textgrid"
        elif head.startswith("WEBVTT"):
            fmt = "vtt"
        elif re.match(r"^\d+\s*\n\s*(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}\s*-->", head):
            fmt = "srt"
        elif fmt is None and head[:1] in "[{" and head:
            fmt = "json"
        else:
            fmt = "txt"
    if fmt == "textgrid":
        return textgrid_to_transcript(parse_textgrid(text, source), source, tier)
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TranscriptError(f"{source}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg}).") from None
        return json_to_transcript(data, source)
    if fmt == "srt":
        return subtitles_to_transcript(text, source, vtt=False)
    if fmt == "vtt":
        return subtitles_to_transcript(text, source, vtt=True)
    if fmt == "txt":
        return plain_text_transcript(text, source)
    raise TranscriptError(f"{source}: unknown transcript format '{fmt}' (use textgrid, json, srt, vtt or txt).")


_EXT_FORMAT = {".textgrid": "textgrid", ".json": "json", ".srt": "srt", ".vtt": "vtt", ".webvtt": "vtt", ".txt": "txt"}


def read_transcript(path: str | Path, tier: str | None = None) -> Transcript:
    """Read any supported transcript file (format from the extension, else from the content).

    ``tier`` picks a TextGrid tier by exact name (default: "words", see module doc).
    Raises :class:`TranscriptError` naming the file and the line or field at fault.
    """
    path = Path(path)
    if not path.exists():
        raise TranscriptError(f"Transcript file not found: {path}. Check the path.")
    if path.is_dir():
        raise TranscriptError(f"{path} is a folder, not a transcript file.")
    raw = path.read_bytes()
    text = decode_text_bytes(raw, str(path))
    fmt = _EXT_FORMAT.get(path.suffix.lower())
    return parse_transcript_text(text, str(path), fmt, tier)


# ----------------------------------------------------------------------------- writing


def _write_atomic(path: Path, content: str, overwrite: bool) -> None:
    check_target(path, overwrite)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(content, encoding="utf-8", newline="\n")


def _tg_str(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def _tg_num(x: float) -> str:
    return repr(round(float(x), 6)) if x != int(x) else str(int(x))


def _contiguous_intervals(words: Iterable[Word], xmax: float) -> list[tuple[float, float, str]]:
    """Words as a gap-free interval list (gaps become "" silence), as Praat requires.

    Overlaps (possible in ASR output) are resolved by starting a word no earlier than the
    previous one ends; zero-length words get 1 ms so Praat accepts them.
    """
    out: list[tuple[float, float, str]] = []
    t = 0.0
    for w in sorted(words, key=lambda w: (w.start, w.end)):
        a = max(float(w.start), t)
        b = max(float(w.end), a + 0.001)
        if a > t + 1e-9:
            out.append((t, a, ""))
        out.append((a, b, w.text))
        t = b
    if xmax > t + 1e-9:
        out.append((t, xmax, ""))
    return out


def write_textgrid(transcript: Transcript, path: str | Path, overwrite: bool = False,
                   xmax: float | None = None) -> None:
    """Write the words as a Praat long-format TextGrid (UTF-8) with one "words" tier.

    ``xmax`` is the total duration (e.g. of the audio); default: end of the last word.
    """
    path = Path(path)
    if not transcript.timed:
        raise TranscriptError(
            f"Cannot write {path}: the transcript has no word timings. Align it to the audio first "
            "(python -m egg_core.words --audio ... --transcript ...)."
        )
    intervals = _contiguous_intervals(transcript.words, 0.0)
    total = max(float(xmax or 0.0), intervals[-1][1] if intervals else 0.0)
    if intervals and total > intervals[-1][1]:
        intervals.append((intervals[-1][1], total, ""))
    if not intervals:
        total = total if total > 0 else 0.001
        intervals = [(0.0, total, "")]
    lines = [
        'File type = "ooTextFile"', 'Object class = "TextGrid"', "",
        "xmin = 0", f"xmax = {_tg_num(total)}", "tiers? <exists>", "size = 1", "item []:",
        "    item [1]:", '        class = "IntervalTier"', '        name = "words"',
        "        xmin = 0", f"        xmax = {_tg_num(total)}", f"        intervals: size = {len(intervals)}",
    ]
    for k, (a, b, label) in enumerate(intervals, 1):
        lines += [f"        intervals [{k}]:", f"            xmin = {_tg_num(a)}",
                  f"            xmax = {_tg_num(b)}", f"            text = {_tg_str(label)}"]
    _write_atomic(path, "\n".join(lines) + "\n", overwrite)


def transcript_to_json(transcript: Transcript, **extra: Any) -> dict[str, Any]:
    """The JSON document :func:`write_words_json` writes (and :func:`read_transcript` reads)."""
    doc: dict[str, Any] = {"format": "eggesture-words", "version": 1, "source": transcript.source,
                           "timed": transcript.timed}
    doc.update(extra)
    doc["words"] = [{"word": w.text, "start": round(w.start, 6), "end": round(w.end, 6)} for w in transcript.words]
    return doc


def write_words_json(transcript: Transcript, path: str | Path, overwrite: bool = False,
                     **extra: Any) -> None:
    """Write ``{"format": "eggesture-words", "words": [{"word", "start", "end"}], ...}``.

    ``extra`` keys (e.g. ``method``, ``confidence``) are stored alongside.
    """
    doc = transcript_to_json(transcript, **extra)
    _write_atomic(Path(path), json.dumps(doc, ensure_ascii=False, indent=1) + "\n", overwrite)
