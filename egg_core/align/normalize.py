"""Transcript words -> words the English acoustic model can say.

Why: a forced aligner can only place words it has a pronunciation for. Users'
transcripts contain numbers ("42", "1999", "3.5%"), hyphenated compounds, curly
apostrophes, names and invented words. This module turns each transcript word into
a sequence of *spoken* words that are in the pronunciation dictionary, or gives it a
pronunciation from simple English spelling rules, or says that it cannot be
pronounced (those words are placed afterwards by spreading them over the speech
between their aligned neighbours).

It also decides whether a transcript looks English at all: the aligner's acoustic
model and dictionary are English-only, and aligning French with English phones
gives confident-looking nonsense.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}

# Most frequent English function words: running English text is full of them.
ENGLISH_FUNCTION_WORDS = frozenset(
    "the a an and of to in is it that i you he she we they was for on are with as be at this have from "
    "or by not but what all were when there can your which their if do will my so me no our up out "
    "about who get him her them just how some would been has had like".split()
)


def _below_thousand(n: int) -> list[str]:
    out: list[str] = []
    if n >= 100:
        out += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        out.append(_TENS[n // 10])
        if n % 10:
            out.append(_ONES[n % 10])
    elif n > 0 or not out:
        out.append(_ONES[n])
    return out


def integer_words(n: int) -> list[str]:
    """``1234`` -> ``['one', 'thousand', 'two', 'hundred', 'thirty', 'four']``."""
    if n < 0:
        return ["minus"] + integer_words(-n)
    if n < 1000:
        return _below_thousand(n)
    out: list[str] = []
    for value, name in _SCALES:
        if n >= value:
            out += _below_thousand(n // value) if n // value < 1000 else integer_words(n // value)
            out.append(name)
            n %= value
    if n:
        out += _below_thousand(n)
    return out


def year_words(n: int) -> list[str]:
    """Years are read in pairs: 1999 -> nineteen ninety nine, 2005 -> two thousand five."""
    if 2000 <= n <= 2009 or n % 1000 == 0:
        return integer_words(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return integer_words(hi) + ["hundred"]
    return integer_words(hi) + (["oh"] + integer_words(lo) if lo < 10 else integer_words(lo))


def ordinal_words(n: int) -> list[str]:
    words = integer_words(n)
    last = words[-1]
    if last in _ORDINAL:
        words[-1] = _ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return words


_NUMBER = re.compile(r"^(?P<cur>[$£€]?)(?P<num>\d[\d,]*(?:\.\d+)?)(?P<suf>%|st|nd|rd|th|s|'s)?$")


def number_words(token: str) -> list[str] | None:
    """Spoken form of a numeric token, or None when ``token`` is not a number."""
    m = _NUMBER.match(token)
    if m is None:
        return None
    num, cur, suf = m.group("num").replace(",", ""), m.group("cur"), m.group("suf") or ""
    if "." in num:
        whole, frac = num.split(".")
        words = integer_words(int(whole)) + ["point"] + [_ONES[int(d)] for d in frac]
    else:
        value = int(num)
        if suf in ("st", "nd", "rd", "th"):
            return ordinal_words(value)
        if 1100 <= value <= 2099 and not cur and suf != "%" and "," not in m.group("num"):
            words = year_words(value)
        else:
            words = integer_words(value)
    if suf == "%":
        words.append("percent")
    if cur:
        unit = {"$": "dollar", "£": "pound", "€": "euro"}[cur]
        words.append(unit if words == ["one"] else unit + "s")
    if suf in ("s", "'s") and words:  # 1990s -> nineteen nineties
        last = words[-1]
        words[-1] = (last[:-1] + "ies") if last.endswith("y") else last + "s"
    return words


# ----------------------------------------------------------------------------- spelling rules

# Longest-first grapheme rules: (letters, ARPABET phones). Not a real G2P; it gives a
# plausible phone sequence of about the right length, which is what alignment needs
# to put the word boundaries of an unknown name in the right place.
_RULES: list[tuple[str, str]] = sorted([
    ("tch", "CH"), ("sch", "S K"), ("tion", "SH AH N"), ("sion", "ZH AH N"), ("ough", "AO"),
    ("igh", "AY"), ("eigh", "EY"), ("augh", "AO"),
    ("ch", "CH"), ("sh", "SH"), ("th", "TH"), ("ph", "F"), ("wh", "W"), ("ck", "K"), ("ng", "NG"),
    ("qu", "K W"), ("gh", ""), ("kn", "N"), ("wr", "R"), ("dg", "JH"),
    ("ee", "IY"), ("ea", "IY"), ("oo", "UW"), ("ou", "AW"), ("ow", "OW"), ("oi", "OY"), ("oy", "OY"),
    ("ai", "EY"), ("ay", "EY"), ("au", "AO"), ("aw", "AO"), ("ie", "IY"), ("ei", "EY"), ("ey", "IY"),
    ("oa", "OW"), ("ue", "UW"), ("ew", "UW"),
    ("er", "ER"), ("ir", "ER"), ("ur", "ER"), ("ar", "AA R"), ("or", "AO R"),
    ("a", "AE"), ("e", "EH"), ("i", "IH"), ("o", "AA"), ("u", "AH"), ("y", "IY"),
    ("b", "B"), ("c", "K"), ("d", "D"), ("f", "F"), ("g", "G"), ("h", "HH"), ("j", "JH"), ("k", "K"),
    ("l", "L"), ("m", "M"), ("n", "N"), ("p", "P"), ("q", "K"), ("r", "R"), ("s", "S"), ("t", "T"),
    ("v", "V"), ("w", "W"), ("x", "K S"), ("z", "Z"),
], key=lambda r: -len(r[0]))

_VOWEL_PHONES = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def spell_pronunciation(word: str) -> str | None:
    """ARPABET phones for an alphabetic English-looking word by spelling rules, or None."""
    w = word.lower().replace("'", "")
    if not w or not w.isascii() or not w.isalpha():
        return None
    if len(w) > 3 and w.endswith("e") and w[-2] not in "aeiou":
        w = w[:-1]  # silent final e
    w = re.sub(r"([bcdfgklmnprstvz])\1", r"\1", w)  # double consonants
    phones: list[str] = []
    i = 0
    while i < len(w):
        for letters, ph in _RULES:
            if w.startswith(letters, i):
                if letters == "c" and i + 1 < len(w) and w[i + 1] in "eiy":
                    ph = "S"
                elif letters == "g" and i + 1 < len(w) and w[i + 1] in "eiy" and i > 0:
                    ph = "JH"
                elif letters == "y" and i == 0:
                    ph = "Y"
                phones += ph.split()
                i += len(letters)
                break
        else:  # pragma: no cover - every ASCII letter has a rule
            i += 1
    if not phones:
        return None
    if not any(p in _VOWEL_PHONES for p in phones):
        phones.append("AH")
    return " ".join(phones)


# ----------------------------------------------------------------------------- tokens

_SYMBOL_WORDS = {"&": "and", "+": "plus", "%": "percent", "@": "at", "=": "equals"}


@dataclass
class SpokenToken:
    """One transcript word and how it will be spoken: dictionary words, or None (unplaceable)."""

    index: int  # position in the transcript
    text: str  # as written
    spoken: list[str] | None  # dictionary words (after adding guessed ones), None = cannot align
    guessed: bool = False  # a pronunciation was made up by spelling rules


def canonical(token: str) -> str:
    """Lower case, straight apostrophes, no edge quotes."""
    t = token.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return t.strip("'\"")


def to_spoken(tokens: list[str], lookup: Callable[[str], str | None],
              add_word: Callable[[str, str], None] | None = None) -> list[SpokenToken]:
    """Map each transcript word to dictionary words (``lookup(word)`` -> phones or None).

    Unknown alphabetic words get a spelling-rule pronunciation through ``add_word``
    (when given); tokens with no letters or digits, or in non-Latin scripts, map to
    None and are spread over the speech later.
    """
    out = []
    added: dict[str, str] = {}

    def resolve(tok: str) -> tuple[list[str] | None, bool]:
        t = canonical(tok)
        if not t:
            return None, False
        if lookup(t) is not None or t in added:
            return [t], False
        nums = number_words(t)
        if nums is not None:
            return nums, False
        if t in _SYMBOL_WORDS:
            return [_SYMBOL_WORDS[t]], False
        if t.endswith("'s") and lookup(t[:-2]) is not None and add_word is not None:
            pron = lookup(t[:-2]) + " Z"  # type: ignore[operator]
            add_word(t, pron)
            added[t] = pron
            return [t], False
        parts = [p for p in re.split(r"[-/_.]+", t) if p]
        if len(parts) > 1:
            spoken, guessed = [], False
            for p in parts:
                sub, g = resolve(p)
                if sub is None:
                    return None, False
                spoken += sub
                guessed |= g
            return spoken, guessed
        pron = spell_pronunciation(t) if add_word is not None else None
        if pron is None:
            return None, False
        add_word(t, pron)  # type: ignore[misc]
        added[t] = pron
        return [t], True

    for i, tok in enumerate(tokens):
        spoken, guessed = resolve(tok)
        out.append(SpokenToken(i, tok, spoken, guessed))
    return out


def english_score(tokens: list[str], lookup: Callable[[str], str | None]) -> tuple[float, float]:
    """(share of words in the English dictionary, share of English function words).

    Numbers count as English (they are read as English number words).
    """
    words = [canonical(t) for t in tokens]
    words = [w for w in words if any(c.isalpha() for c in w) or number_words(w) is not None]
    if not words:
        return 1.0, 1.0
    known = sum(1 for w in words if number_words(w) is not None or lookup(w) is not None)
    function = sum(1 for w in words if w in ENGLISH_FUNCTION_WORDS)
    return known / len(words), function / len(words)


def looks_english(tokens: list[str], lookup: Callable[[str], str | None]) -> tuple[bool, str]:
    """Whether the transcript is plausibly English, and a reason when it is not.

    A short text passes when most words are in the dictionary; a text of 8+ words
    must also contain English function words ("the", "and", "of" ... make up
    ~40% of running English, under 5% of French or German read through an English
    dictionary).
    """
    known, function = english_score(tokens, lookup)
    n = len(tokens)
    if known < 0.6:
        return False, f"only {known:.0%} of its words are in the English pronunciation dictionary"
    if n >= 8 and function < 0.08:
        return False, f"it has almost no common English words (the, and, of...: {function:.0%} of the words)"
    return True, ""
