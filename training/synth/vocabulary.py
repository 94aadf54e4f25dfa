"""What the synthetic speaker says, and how often each gesture class comes up.

The gesture classes with their keyword phrases (keyword between ``*``), neutral filler
clauses whose vocabulary holds no keyword, and the Zipf-Mandelbrot law that makes the
common classes common and the rare ones rare.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Zipf-Mandelbrot law of the keyword classes, p_k ~ (k + q)^-s for rank k = 1..N; with
#: 30 classes it gives about 20 % for rank 1 and 0.4 % for rank 30.
ZIPF_Q = 5.6
ZIPF_S = 2.33


@dataclass(frozen=True)
class GestureClass:
    """A semantic gesture class: its name, phrase templates (keyword between ``*``), kind.

    ``handed``: a one-handed gesture that is done with either hand (mirrored at random).
    ``min_hold``: shortest time (s) the stroke is held, for gestures that need time to
    unfold (waves, shakes, circles); ``fixed_hold``: a hold that ignores the word's length.
    """

    name: str
    phrases: tuple[str, ...]
    description: str
    handed: bool = True
    min_hold: float = 0.15
    fixed_hold: tuple[float, float] | None = None

    @property
    def keywords(self) -> tuple[str, ...]:
        """The keyword forms that trigger this class (lower case)."""
        found = []
        for p in self.phrases:
            for m in re.finditer(r"\*(\w+)\*", p):
                if m.group(1).lower() not in found:
                    found.append(m.group(1).lower())
        return tuple(found)


# Ordered by rank: the first is the most frequent.
GESTURE_CLASSES: tuple[GestureClass, ...] = (
    GestureClass("self", ("*I* {verbed} the {noun}", "*I* had to {verb} the {noun} {place}",
                          "they asked *me* about the {noun}", "*my* {noun} was {adj}",
                          "{name} sent the {nouns} to *me*", "*I* {verbed} it {place}"),
                 "hand flat on the chest"),
    GestureClass("you", ("*you* {verbed} the {noun}", "*you* can {verb} the {nouns}",
                         "is this *your* {noun}", "we asked *you* about the {noun}",
                         "*you* should {verb} it {place}", "{name} {verbed} *your* {noun}"),
                 "index finger pointing forward at the listener"),
    GestureClass("think", ("we *think* the {noun} is {adj}", "that was a {adj} *idea*",
                           "just *imagine* the {noun}", "they *remember* the {noun}",
                           "she had an *idea* about the {noun}"),
                 "index finger to the temple"),
    GestureClass("no", ("*no*, the {noun} was {adj}", "there was *no* {noun}",
                        "we *never* {verbed} the {noun}", "*nope*, it was the {noun}",
                        "they said *no* to the {noun}"),
                 "head shake", handed=False, min_hold=0.7),
    GestureClass("one", ("we {verbed} *one* {noun}", "only *one* of the {nouns}",
                         "the *first* {noun} was {adj}", "*one* {noun} {place}"),
                 "one finger raised (counting)"),
    GestureClass("two", ("we {verbed} *two* {nouns}", "the {noun} took *two* weeks",
                         "{name} {verbed} it *twice*", "*two* {nouns} were {adj}"),
                 "two fingers raised (counting)"),
    GestureClass("huge", ("it was a *huge* {noun}", "the {noun} was *enormous*",
                          "a *massive* {noun} {place}", "they {verbed} a *gigantic* {noun}",
                          "the {nouns} were *huge*"),
                 "both arms wide apart", handed=False),
    GestureClass("everyone", ("*everyone* {verbed} the {noun}", "*everybody* was {adj}",
                              "we invited *everyone* {place}", "*everyone* had a {noun}"),
                 "open palm sweeping across the audience", min_hold=0.6),
    GestureClass("yes", ("*yes*, the {noun} was {adj}", "*yeah*, we {verbed} it",
                         "*absolutely*, the {noun} is {adj}", "*exactly*, it was the {noun}"),
                 "head nod", handed=False, min_hold=0.6),
    GestureClass("stop", ("*stop* the {noun}", "*wait*, the {noun} is {adj}",
                          "they had to *stop* the {noun} {place}", "*halt* the {nouns}"),
                 "both palms pushed out toward the listener", handed=False),
    GestureClass("three", ("*three* {nouns} {place}", "we {verbed} *three* {nouns}",
                           "the *third* {noun} was {adj}", "it took *three* days"),
                 "three fingers raised (counting)"),
    GestureClass("small", ("a *tiny* {noun}", "the {noun} was *small*", "just a *little* {noun}",
                           "they {verbed} a *small* {noun} {place}"),
                 "thumb and index finger pinched"),
    GestureClass("up", ("the {noun} went *up*", "prices *rise* every year",
                        "the {nouns} climbed *higher*", "we had to *raise* the {noun}"),
                 "hand rising, index pointing up", min_hold=0.4),
    GestureClass("down", ("the {noun} went *down*", "sales *drop* in winter",
                          "we had to *lower* the {noun}", "the {nouns} *fall* {place}"),
                 "palm down pressing down", min_hold=0.4),
    GestureClass("great", ("the {noun} was *great*", "an *excellent* {noun}",
                           "it was a *perfect* {noun}", "the {nouns} were *awesome*"),
                 "thumbs up"),
    GestureClass("together", ("we {verbed} it *together*", "*combine* the {nouns}",
                              "they *join* the {noun} {place}", "the {nouns} came *together*"),
                 "both hands brought together in front", handed=False, min_hold=0.4),
    GestureClass("question", ("*why* was the {noun} {adj}", "*how* did they {verb} the {noun}",
                              "we asked *why* the {noun} was {adj}", "*how* can we {verb} the {nouns}"),
                 "both palms up, head tilted", handed=False),
    GestureClass("maybe", ("*maybe* the {noun} was {adj}", "*perhaps* we can {verb} it",
                           "it was *possibly* the {noun}"),
                 "shrug: shoulders up, palms up low", handed=False),
    GestureClass("future", ("in the *future* we {verb} the {noun}", "*tomorrow* we {verb} the {noun}",
                            "the {noun} is *ahead* of us", "we plan to {verb} it *later*"),
                 "flat hand moving forward", min_hold=0.4),
    GestureClass("past", ("in the *past* the {noun} was {adj}", "*yesterday* we {verbed} the {noun}",
                          "a long time *ago* the {noun} was {adj}"),
                 "thumb pointing back over the shoulder"),
    GestureClass("around", ("we walked *around* the {noun}", "the {nouns} were *everywhere*",
                            "they sat in a *circle* {place}"),
                 "index drawing a horizontal circle", min_hold=0.9),
    GestureClass("four", ("we {verbed} *four* {nouns}", "the *fourth* {noun} was {adj}",
                          "it took *four* days"),
                 "four fingers raised (counting)"),
    GestureClass("listen", ("*listen* to the {noun}", "we *heard* the {noun} {place}",
                            "can they *hear* the {nouns}"),
                 "hand cupped behind the ear"),
    GestureClass("look", ("*look* at the {noun}", "we *saw* the {noun} {place}",
                          "they *watch* the {nouns} every week", "come and *see* the {noun}"),
                 "flat hand shading the eyes", min_hold=0.5),
    GestureClass("five", ("we {verbed} *five* {nouns}", "the *fifth* {noun} was {adj}",
                          "it took *five* days"),
                 "five fingers spread (counting)"),
    GestureClass("love", ("we *love* the {noun}", "the *heart* of the {noun}",
                          "they really *care* about the {nouns}"),
                 "both hands on the heart", handed=False),
    GestureClass("quiet", ("the {noun} was *quiet*", "keep it a *secret*", "there was *silence* {place}",
                           "*hush*, the {noun} is {adj}"),
                 "index finger on the lips"),
    GestureClass("strong", ("the {noun} is *strong*", "a *powerful* {noun}",
                            "they had the *strength* to {verb} it", "the *power* of the {nouns}"),
                 "biceps flex with a fist"),
    GestureClass("fast", ("the {noun} moved *fast*", "a *quick* {noun}", "they {verbed} it *quickly*",
                          "we had to *rush* the {noun}"),
                 "quick flat-hand swipe across the body", fixed_hold=(0.2, 0.3)),
    GestureClass("hello", ("*hello* {name}", "*hi* there", "we said *goodbye* to the {noun}",
                           "*bye* {name}"),
                 "raised hand waving", min_hold=0.8),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in GESTURE_CLASSES)
CLASS_BY_NAME: dict[str, GestureClass] = {c.name: c for c in GESTURE_CLASSES}
KEYWORD_CLASS: dict[str, str] = {k: c.name for c in GESTURE_CLASSES for k in c.keywords}

_SLOTS: dict[str, tuple[str, ...]] = {
    "noun": ("plan", "project", "garden", "report", "market", "bridge", "museum", "kitchen",
             "river", "budget", "system", "village", "concert", "station", "library", "festival",
             "company", "harbor", "mountain", "window", "hospital", "painting", "machine",
             "contract", "recipe", "journey", "meeting", "building", "school", "boat"),
    "nouns": ("plans", "projects", "gardens", "reports", "markets", "bridges", "museums",
              "rivers", "systems", "villages", "concerts", "boxes", "letters", "photos",
              "tickets", "notes", "songs", "tables", "streets", "lessons"),
    "adj": ("new", "old", "green", "simple", "serious", "modern", "famous", "careful", "busy",
            "strange", "useful", "local", "expensive", "narrow", "bright", "empty", "complex",
            "friendly", "red", "difficult"),
    "verb": ("build", "finish", "change", "open", "check", "paint", "carry", "fix", "visit",
             "explain", "move", "clean", "study", "share", "test", "sell", "order", "review",
             "design", "repair"),
    "verbed": ("built", "finished", "changed", "opened", "checked", "painted", "carried",
               "fixed", "visited", "explained", "moved", "cleaned", "studied", "shared",
               "tested", "sold", "ordered", "reviewed", "designed", "repaired"),
    "name": ("Anna", "David", "Maria", "Tom", "Sarah", "Peter", "Laura", "James", "Nina",
             "Oscar", "Emma", "Lucas"),
    "place": ("in the office", "at the station", "in the park", "near the river", "at home",
              "in the city", "during the meeting", "after lunch", "in the morning",
              "on the weekend", "in the spring"),
}
FILLER_CLAUSES: tuple[str, ...] = (
    "{name} {verbed} the {noun} {place}", "we {verbed} the {noun}", "the {noun} was {adj}",
    "they {verb} the {nouns} every week", "it was a {adj} {noun}", "the {nouns} were {adj}",
    "{name} and {name} {verbed} the {noun}", "we had to {verb} the {noun} {place}",
    "the {noun} seemed {adj}", "she wanted to {verb} the {noun}", "he {verbed} it {place}",
    "our {noun} is {adj}", "that {noun} is {adj} now", "the {nouns} came from the {noun}",
)
CONNECTORS: tuple[str, ...] = (", and", ", but", ", so", " because", ", and then", " while")
#: Words that never carry a beat (unstressed function words).
FUNCTION_WORDS = frozenset(
    "a an the and but so because then while to of in on at it is was were we they he she "
    "his her our that this there be can had has have did do for with about every just only "
    "are as by from all some".split()
)
#: Number of keyword phrases per sentence: 0, 1 or 2 with these probabilities.
KEYWORDS_PER_SENTENCE = (0.15, 0.55, 0.3)


def zipf_probabilities(n: int = len(GESTURE_CLASSES), q: float = ZIPF_Q, s: float = ZIPF_S) -> np.ndarray:
    """Target class probabilities by rank, ``p_k ~ (k + q)^-s`` normalised (k = 1..n)."""
    p = (np.arange(1, n + 1) + q) ** -s
    return p / p.sum()


@dataclass(frozen=True)
class Sentence:
    """One sentence: its words (as spoken, punctuation attached) and its keywords.

    ``keywords`` holds ``(word index, class name)`` for every keyword in the sentence.
    """

    words: tuple[str, ...]
    keywords: tuple[tuple[int, str], ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)


_TOKEN = re.compile(r"^(\W*)\*(\w+)\*(\W*)$")


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    """One item, uniformly (much faster than ``rng.choice`` on a tuple of strings)."""
    return items[int(rng.integers(len(items)))]


def _draw(rng: np.random.Generator, probs: Sequence[float]) -> int:
    """An index drawn with the given probabilities."""
    return int(min(np.searchsorted(np.cumsum(probs), rng.random() * float(np.sum(probs)), side="right"),
                   len(probs) - 1))


def _fill(template: str, rng: np.random.Generator) -> list[tuple[str, bool]]:
    """Expand a template into ``(token, is_keyword)`` pairs."""
    def slot(m: re.Match) -> str:
        return _pick(rng, _SLOTS[m.group(1)])

    out = []
    for tok in re.sub(r"\{(\w+)\}", slot, template).split():
        m = _TOKEN.match(tok)
        out.append((m.group(1) + m.group(2) + m.group(3), True) if m else (tok, False))
    return out


def generate_sentence(rng: np.random.Generator, probs: np.ndarray | None = None) -> Sentence:
    """Draw one sentence: 0-2 keyword phrases (classes by the Zipf law) and filler clauses."""
    probs = zipf_probabilities() if probs is None else probs
    n_kw = _draw(rng, KEYWORDS_PER_SENTENCE)
    n_fill = _draw(rng, (0.35, 0.5, 0.15)) if n_kw else int(rng.integers(1, 3))
    clauses: list[tuple[list[tuple[str, bool]], str | None]] = []
    for _ in range(n_kw):
        cls = GESTURE_CLASSES[_draw(rng, probs)]
        clauses.append((_fill(_pick(rng, cls.phrases), rng), cls.name))
    for _ in range(n_fill):
        clauses.append((_fill(_pick(rng, FILLER_CLAUSES), rng), None))
    order = rng.permutation(len(clauses))
    words: list[str] = []
    keywords: list[tuple[int, str]] = []
    for k, ci in enumerate(order):
        toks, cls_name = clauses[int(ci)]
        if k > 0:
            conn = _pick(rng, CONNECTORS)
            if conn.startswith(","):
                words[-1] += ","
            words.extend(conn.lstrip(",").split())
        for tok, is_kw in toks:
            if is_kw:
                keywords.append((len(words), str(cls_name)))
            words.append(tok)
    words[0] = words[0][0].upper() + words[0][1:]
    words[-1] = words[-1].rstrip(",") + "."
    return Sentence(tuple(words), tuple(keywords))


def bare(word: str) -> str:
    """A word without edge punctuation, lower case (how keywords are matched)."""
    return re.sub(r"^\W+|\W+$", "", word).lower()
