"""Synthetic long-tail gesture benchmark: speech with known words, motion with known gestures.

``python -m training.synth --out DIR [--minutes 60] [--seed 0] [--idle-source take.npz]
[--workers 2] [--clip-seconds 60] [--overwrite]``

Why: the paper's claim is that entropy guidance raises codebook usage and the recall of
*rare, meaningful* gestures. Real data has no labels for that, so this module builds a
dataset where every meaningful gesture is known: what it is, when it happens, and how
often each kind occurs (a long, Zipf-like tail).

What one clip is made of
------------------------
* **Speech.** Sentences are assembled from templates (:data:`GESTURE_CLASSES` phrases with
  the keyword marked, plus neutral filler clauses whose vocabulary contains no keyword)
  and spoken by espeak-ng through :mod:`egg_core.speech_synth`, which reports the true
  start and end of every word. One voice, rate and pitch per clip (several voices across
  the dataset), a little rate jitter per sentence, pauses between sentences.
* **Semantic gestures.** Each keyword occurrence triggers its class's gesture: a pose
  trajectory on the SMPL-X skeleton (arm poses solved by two-bone inverse kinematics
  for a wrist target, a hand orientation and a hand shape; head shakes/nods as
  oscillations). Classes are drawn with a Zipf-Mandelbrot law ``p_k ~ (k + 5.6)^-2.33``
  over 30 classes: about 20 % for the most common ("I/me", hand to chest) down to
  0.4 % for the rarest. Every instance varies: amplitude, target jitter, timing jitter
  around the keyword onset, hold length, and the hand (mirrored) for one-handed classes.
  The stroke peaks near the keyword's onset (the gesture leads or meets its word); the
  weight rises and falls with minimum-jerk ramps, so the gesture blends smoothly out of
  and back into whatever the body was doing.
* **Beat gestures** (the majority of the motion): while speaking the hands come up into
  gesture space and give a short downward flick of forearm and wrist (plus a slight head
  nod) near the onset of content words -- English content words mostly carry their
  stress on the first syllable, and :mod:`egg_core.speech_synth` reports word, not
  syllable, times, so the onset stands in for the stressed syllable.
* **Idle motion** under everything, one of two kinds:

  - ``--idle-source take.npz`` (a real BEAT2 take, e.g. ``../shared/data/real/beat2/2_scott_0_1_1.npz``):
    random 4-10 s segments of it, half of them mirrored, cross-faded over 0.5 s; each
    segment's facing direction and horizontal position are normalised, the arm and hand
    joints are pulled 80 % toward :func:`~egg_core.skeleton.relaxed_pose` (so the real
    speaker's own gestures do not compete with the synthetic ones) and the jaw is
    reset; spine, neck, head, legs and root keep the real human sway.
  - otherwise a procedural idle: breathing (spine pitch at ~0.25 Hz), a slow weight
    shift (pelvis roll with hip compensation and sideways sway), smooth small head
    motion, arms in the relaxed pose with slight drift.

Output (the "new speaker" folder layout that :mod:`training.data` reads unchanged):
``<stem>.wav`` (16 kHz mono PCM), ``<stem>.npz`` (BEAT2 layout, 30 fps),
``<stem>.TextGrid`` ("words" tier), ``<stem>.labels.json``
(``{"classes": [...], "labels": [{"class", "start", "end"}, ...]}``, one span per
semantic gesture, from the moment its weight passes one half to the moment it drops
below it again), ``train_test_split.csv`` (80/10/10 by clip) and ``manifest.json``
(settings, seed, voices, the class table with target and realised frequencies per split).

About 15 semantic gestures are made per minute of speech (about 900 per hour), so the
rarest classes occur only a handful of times per hour: generate more minutes for a
tighter estimate of rare-class recall.

Determinism: clip ``k`` draws everything from ``numpy.random.default_rng([seed, k])`` and
is made in a fresh process (libespeak-ng carries state between utterances), so the
output is the same for any number of workers.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from egg_core.atomic import atomic_path
from egg_core.errors import EggError
from egg_core.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    matrix_to_axis_angle,
    quat_multiply,
    quat_slerp,
    quat_to_axis_angle,
)
from egg_core.skeleton import SMPLX, STANDING_TRANS_Y, relaxed_pose

GENERATOR_VERSION = 1
FPS = 30
SAMPLE_RATE = 16000
STEM_PREFIX = "synth_"

# --------------------------------------------------------------------------- vocabulary

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


# --------------------------------------------------------------------------- poses

_J = SMPLX.num_joints
_REST = SMPLX.rest_positions()
_RELAXED = relaxed_pose(SMPLX)
_IDX = {n: i for i, n in enumerate(SMPLX.joint_names)}
_L_SHOULDER, _L_ELBOW, _L_WRIST, _L_COLLAR = (_IDX[n] for n in ("left_shoulder", "left_elbow",
                                                                 "left_wrist", "left_collar"))
_UPPER_LEN = float(np.linalg.norm(_REST[_L_ELBOW] - _REST[_L_SHOULDER]))
_FORE_LEN = float(np.linalg.norm(_REST[_L_WRIST] - _REST[_L_ELBOW]))
_FINGERS = ("index", "middle", "ring", "pinky")
_LEFT_HAND = tuple(_IDX[f"left_{f}{k}"] for f in (*_FINGERS, "thumb") for k in (1, 2, 3))
_LEFT_ARM = (_L_COLLAR, _L_SHOULDER, _L_ELBOW, _L_WRIST) + _LEFT_HAND
_ARM_JOINTS = frozenset(_LEFT_ARM) | frozenset(SMPLX.mirror[j] for j in _LEFT_ARM)
_NECK, _HEAD, _JAW = _IDX["neck"], _IDX["head"], _IDX["jaw"]
_MIRROR_AA = np.array([1.0, -1.0, -1.0])

#: Landmarks of the rest body (trans = 0, torso upright), metres; left side where sided.
CHEST = np.array([0.0, -0.06, 0.12])
MOUTH = np.array([0.0, 0.205, 0.105])
TEMPLE_L = np.array([0.075, 0.285, 0.06])
EAR_L = np.array([0.08, 0.245, 0.0])
BROW = np.array([0.0, 0.30, 0.11])

# Finger curl (degrees at joints 1, 2, 3) about the left hand's -Z axis, and spread about Y.
_OPEN, _CURL, _HALF, _REL = (3.0, 3.0, 2.0), (75.0, 95.0, 60.0), (30.0, 35.0, 25.0), (12.0, 15.0, 10.0)
_SPREAD = {"index": -12.0, "middle": 0.0, "ring": 8.0, "pinky": 16.0}
_THUMB_AXIS = _RELAXED[_IDX["left_thumb1"]] / np.linalg.norm(_RELAXED[_IDX["left_thumb1"]])
_THUMB = {"open": (-10.0, 0.0, 0.0), "fold": (40.0, 60.0, 50.0), "rel": (5.0, 8.0, 8.0),
          "half": (20.0, 25.0, 25.0)}
_SHAPES: dict[str, tuple[dict[str, tuple[float, float, float]], str, bool]] = {
    # name: (curl per finger, thumb, spread)
    "relaxed": ({f: _REL for f in _FINGERS}, "rel", False),
    "open": ({f: _OPEN for f in _FINGERS}, "rel", False),
    "spread": ({f: _OPEN for f in _FINGERS}, "open", True),
    "cup": ({f: _HALF for f in _FINGERS}, "half", False),
    "fist": ({f: _CURL for f in _FINGERS}, "fold", False),
    "point": ({"index": _OPEN, "middle": _CURL, "ring": _CURL, "pinky": _CURL}, "fold", False),
    "count1": ({"index": _OPEN, "middle": _CURL, "ring": _CURL, "pinky": _CURL}, "fold", True),
    "count2": ({"index": _OPEN, "middle": _OPEN, "ring": _CURL, "pinky": _CURL}, "fold", True),
    "count3": ({"index": _OPEN, "middle": _OPEN, "ring": _OPEN, "pinky": _CURL}, "fold", True),
    "count4": ({f: _OPEN for f in _FINGERS}, "fold", True),
    "count5": ({f: _OPEN for f in _FINGERS}, "open", True),
    "thumb_up": ({f: _CURL for f in _FINGERS}, "open", False),
    "pinch": ({"index": (40.0, 45.0, 20.0), "middle": _CURL, "ring": _CURL, "pinky": _CURL}, "half", False),
}


def hand_shape(shape: str) -> dict[int, np.ndarray]:
    """Local axis-angle of the left hand's 15 finger joints for a named hand shape."""
    curls, thumb, spread = _SHAPES[shape]
    out: dict[int, np.ndarray] = {}
    for f in _FINGERS:
        for k, deg in enumerate(curls[f], start=1):
            aa = np.array([0.0, 0.0, -math.radians(deg)])
            if k == 1 and spread:
                aa = matrix_to_axis_angle(axis_angle_to_matrix(np.array([0.0, -math.radians(_SPREAD[f]), 0.0]))
                                          @ axis_angle_to_matrix(aa))
            out[_IDX[f"left_{f}{k}"]] = np.asarray(aa, dtype=np.float64)
    for k, deg in enumerate(_THUMB[thumb], start=1):
        out[_IDX[f"left_thumb{k}"]] = _THUMB_AXIS * math.radians(deg)
    return out


def _unit(v: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def solve_left_arm(wrist: Sequence[float], fingers: Sequence[float], palm: Sequence[float],
                   pole: Sequence[float] = (0.5, -1.0, -0.4)) -> dict[int, np.ndarray]:
    """Left shoulder, elbow and wrist rotations (axis-angle) that put the wrist at ``wrist``.

    Two-bone IK in the rest torso frame (collar at rest): the elbow bends in the plane
    through shoulder, target and ``pole`` (the side the elbow points to); ``fingers`` is
    the direction the hand points, ``palm`` the direction the palm faces. The forearm's
    twist is shared half by the elbow and half by the wrist, as a real forearm does.
    Unreachable targets are clamped to the arm's reach along the same line.
    """
    a, b = _UPPER_LEN, _FORE_LEN
    S = _REST[_L_SHOULDER]
    to = np.asarray(wrist, dtype=np.float64) - S
    dist = float(np.linalg.norm(to))
    u = to / max(dist, 1e-9)
    d = float(np.clip(dist, abs(a - b) + 1e-3, a + b - 1e-3))
    cos_alpha = (a * a + d * d - b * b) / (2 * a * d)
    alpha = math.acos(float(np.clip(cos_alpha, -1.0, 1.0)))
    p = np.asarray(pole, dtype=np.float64)
    p = p - (p @ u) * u
    if np.linalg.norm(p) < 1e-6:
        p = np.cross(u, [0.0, 0.0, 1.0])
    p = _unit(p)
    elbow = S + a * (math.cos(alpha) * u + math.sin(alpha) * p)
    d1 = _unit(elbow - S)
    d2 = _unit(S + d * u - elbow)
    bend = d2 - (d2 @ d1) * d1
    z = _unit(bend) if np.linalg.norm(bend) > 1e-6 else _unit(np.cross(d1, np.cross(p, d1)))
    y = np.cross(z, d1)
    g_shoulder = np.column_stack([d1, y, z])
    theta = math.acos(float(np.clip(d1 @ d2, -1.0, 1.0)))
    elbow_hinge = axis_angle_to_matrix(np.array([0.0, -theta, 0.0]))
    g_elbow = g_shoulder @ elbow_hinge
    f = _unit(fingers)
    n = np.asarray(palm, dtype=np.float64)
    n = n - (n @ f) * f
    if np.linalg.norm(n) < 1e-6:
        n = np.cross(f, [1.0, 0.0, 0.0])
    n = _unit(n)
    g_wrist = np.column_stack([f, -n, np.cross(n, f)])
    wrist_local = g_elbow.T @ g_wrist
    # share the forearm twist (about the forearm's own x axis) between elbow and wrist
    twist = math.atan2(wrist_local[2, 1] - wrist_local[1, 2], wrist_local[1, 1] + wrist_local[2, 2])
    half = _rot_x(0.5 * twist)
    return {
        _L_SHOULDER: np.asarray(matrix_to_axis_angle(g_shoulder)),
        _L_ELBOW: np.asarray(matrix_to_axis_angle(elbow_hinge @ half)),
        _L_WRIST: np.asarray(matrix_to_axis_angle(half.T @ wrist_local)),
    }


def mirror_pose_dict(pose: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The left/right mirror image of a sparse pose (joint -> axis-angle)."""
    return {SMPLX.mirror[j]: np.asarray(aa) * _MIRROR_AA for j, aa in pose.items()}


def arm_pose(side: str, wrist: Sequence[float], fingers: Sequence[float], palm: Sequence[float],
             shape: str, pole: Sequence[float] = (0.5, -1.0, -0.4), collar: float = 0.0) -> dict[int, np.ndarray]:
    """Full arm + hand pose of one side, specified as for the left side ("L") or mirrored ("R").

    For "R" the target, directions and pole are given in *left* coordinates and the whole
    result is mirrored, so ``arm_pose("R", ...)`` is the mirror image of ``arm_pose("L", ...)``.
    ``collar`` raises the shoulder (radians, shrug).
    """
    pose = solve_left_arm(wrist, fingers, palm, pole)
    pose[_L_COLLAR] = np.array([0.0, 0.0, collar])
    pose.update(hand_shape(shape))
    return mirror_pose_dict(pose) if side == "R" else pose


def arm_pose_at(wrist_world_left: Sequence[float], fingers: Sequence[float], palm: Sequence[float],
                shape: str, side: str, pole: Sequence[float] = (0.5, -1.0, -0.4)) -> dict[int, np.ndarray]:
    """Arm pose for a target given in body coordinates for either hand (no mirroring of the target)."""
    if side == "L":
        return arm_pose("L", wrist_world_left, fingers, palm, shape, pole)
    flip = np.array([-1.0, 1.0, 1.0])
    return arm_pose("R", np.asarray(wrist_world_left) * flip, np.asarray(fingers) * flip,
                    np.asarray(palm) * flip, shape, np.asarray(pole) * flip)


def both_arms(wrist: Sequence[float], fingers: Sequence[float], palm: Sequence[float], shape: str,
              pole: Sequence[float] = (0.5, -1.0, -0.4), collar: float = 0.0) -> dict[int, np.ndarray]:
    """Symmetric two-handed pose (left side given, right side its mirror)."""
    left = arm_pose("L", wrist, fingers, palm, shape, pole, collar)
    return {**left, **mirror_pose_dict(left)}


# --------------------------------------------------------------------------- gesture plans


@dataclass
class Oscillation:
    """An additive rotation ``axis * amp * shape(freq * t)`` on some joints (head shake, nod, tilt).

    ``shape``: "sin" (both ways), "nod" (one way, ``(1 - cos) / 2``), "const" (a held offset).
    """

    joints: tuple[tuple[int, float], ...]
    axis: np.ndarray
    amp: float
    freq: float = 0.0
    shape: str = "sin"

    def mirrored(self) -> Oscillation:
        return Oscillation(tuple((SMPLX.mirror[j], w) for j, w in self.joints), self.axis * _MIRROR_AA,
                           self.amp, self.freq, self.shape)

    def angle(self, t: np.ndarray) -> np.ndarray:
        if self.shape == "const":
            return np.full_like(t, self.amp)
        phase = 2 * math.pi * self.freq * t
        if self.shape == "nod":
            return self.amp * 0.5 * (1 - np.cos(phase))
        return self.amp * np.sin(phase)


@dataclass
class GesturePlan:
    """One gesture instance: key poses at times within the hold, plus oscillations.

    ``times`` (K,) seconds from the stroke onset (0 .. hold); ``poses[k]`` maps joint ->
    axis-angle (the same joints in every key); the pose before the onset is ``poses[0]``.
    """

    times: np.ndarray
    poses: list[dict[int, np.ndarray]]
    oscillations: list[Oscillation] = field(default_factory=list)
    linear: bool = False  # constant speed through the keys (circles); else ease in/out at each key

    @property
    def joints(self) -> tuple[int, ...]:
        return tuple(sorted(self.poses[0])) if self.poses else ()

    def mirrored(self) -> GesturePlan:
        return GesturePlan(self.times.copy(), [mirror_pose_dict(p) for p in self.poses],
                           [o.mirrored() for o in self.oscillations], self.linear)

    def key_quats(self) -> np.ndarray:
        """(K, J', 4) quaternions of the key poses over :attr:`joints`."""
        if not self.poses:
            return np.zeros((0, 0, 4))
        js = self.joints
        aa = np.array([[p[j] for j in js] for p in self.poses], dtype=np.float64)
        return np.asarray(axis_angle_to_quat(aa))


def _static(pose: dict[int, np.ndarray], *osc: Oscillation) -> GesturePlan:
    return GesturePlan(np.zeros(1), [pose], list(osc))


def _path(poses: list[dict[int, np.ndarray]], hold: float, fracs: Sequence[float] | None = None,
          *osc: Oscillation) -> GesturePlan:
    fr = np.linspace(0.0, 1.0, len(poses)) if fracs is None else np.asarray(fracs, dtype=np.float64)
    return GesturePlan(fr * hold, poses, list(osc))


_Builder = Callable[[np.random.Generator, float, float], GesturePlan]
_BUILDERS: dict[str, _Builder] = {}


def _builder(name: str) -> Callable[[_Builder], _Builder]:
    def deco(fn: _Builder) -> _Builder:
        _BUILDERS[name] = fn
        return fn
    return deco


def _j(rng: np.random.Generator, v: Sequence[float], s: float = 0.012) -> np.ndarray:
    """A target with a little per-instance jitter (metres or direction components)."""
    return np.asarray(v, dtype=np.float64) + rng.normal(0.0, s, 3)


_HEAD_YAW = np.array([0.0, 1.0, 0.0])
_HEAD_PITCH = np.array([1.0, 0.0, 0.0])
_HEAD_ROLL = np.array([0.0, 0.0, 1.0])
_NECK_HEAD = ((_NECK, 0.4), (_HEAD, 0.6))


@_builder("self")
def _g_self(rng, amp, hold):
    w = _j(rng, (0.13, -0.11, 0.15), 0.01)
    return _static(arm_pose("L", w, _j(rng, (-1.0, 0.35, 0.1), 0.08), (0.0, 0.0, -1.0), "open", (1.0, -0.6, -0.2)))


@_builder("you")
def _g_you(rng, amp, hold):
    f = _j(rng, (-0.1, 0.05, 1.0), 0.06)
    start = arm_pose("L", _j(rng, (0.14, 0.0, 0.36)), f, (-0.6, -0.8, 0.0), "point")
    end = arm_pose("L", _j(rng, (0.12, 0.02, 0.36 + 0.12 * amp)), f, (-0.6, -0.8, 0.0), "point")
    return _path([start, end, end], hold, (0.0, min(1.0, 0.25 / max(hold, 1e-3)), 1.0))


@_builder("think")
def _g_think(rng, amp, hold):
    # the wrist sits in front of the face (an arm cannot fold the wrist up beside the
    # temple); the hand points back and up so the index tip reaches the temple
    f = _unit(_j(rng, (-0.27, 0.76, -0.6), 0.04))
    w = TEMPLE_L + np.array([0.01, 0.0, 0.0]) - 0.16 * f
    return _static(arm_pose("L", w, f, (0.0, 0.3, 1.0), "point", (1.0, -1.0, 0.3)))


@_builder("no")
def _g_no(rng, amp, hold):
    return _static({}, Oscillation(_NECK_HEAD, _HEAD_YAW, float(rng.uniform(0.28, 0.42)) * amp,
                                   float(rng.uniform(2.4, 3.2))))


@_builder("yes")
def _g_yes(rng, amp, hold):
    return _static({}, Oscillation(((_NECK, 0.3), (_HEAD, 0.7)), _HEAD_PITCH,
                                   float(rng.uniform(0.22, 0.32)) * amp, float(rng.uniform(2.0, 2.6)), "nod"))


def _counting(shape: str) -> _Builder:
    def build(rng, amp, hold):
        w = _j(rng, (0.20, 0.02 + 0.04 * (amp - 1), 0.33))
        return _static(arm_pose("L", w, _j(rng, (0.0, 1.0, 0.15), 0.05), (0.0, 0.0, 1.0), shape, (1.0, -1.0, -0.3)))
    return build


for _n, _shape in (("one", "count1"), ("two", "count2"), ("three", "count3"), ("four", "count4"),
                   ("five", "count5")):
    _BUILDERS[_n] = _counting(_shape)


@_builder("huge")
def _g_huge(rng, amp, hold):
    width = float(rng.uniform(0.58, 0.70)) * min(amp, 1.0) ** 0.3
    f, palm = _j(rng, (0.5, 0.2, 1.0), 0.05), (-1.0, 0.0, 0.3)
    start = both_arms((0.40, 0.0, 0.30), f, palm, "spread")
    end = both_arms(_j(rng, (width, 0.06, 0.22)), f, palm, "spread")
    return _path([start, end, end], hold, (0.0, min(1.0, 0.35 / max(hold, 1e-3)), 1.0))


@_builder("small")
def _g_small(rng, amp, hold):
    return _static(arm_pose("L", _j(rng, (0.14, 0.10, 0.30)), _j(rng, (-0.2, 0.8, 0.4), 0.05), (-1.0, 0.0, 0.0),
                            "pinch", (1.0, -1.0, -0.2)))


@_builder("everyone")
def _g_everyone(rng, amp, hold):
    f, palm = (0.3, 0.0, 1.0), (0.0, 1.0, 0.0)
    keys = [arm_pose("L", _j(rng, w), f, palm, "spread") for w in
            ((-0.02, -0.05, 0.42), (0.22 * amp, -0.03, 0.42), (0.48 * amp, -0.05, 0.26))]
    return _path(keys, hold)


@_builder("stop")
def _g_stop(rng, amp, hold):
    f, palm = _j(rng, (0.0, 1.0, 0.1), 0.04), (0.0, 0.0, 1.0)
    start = both_arms(_j(rng, (0.16, 0.10, 0.30)), f, palm, "open")
    end = both_arms(_j(rng, (0.16, 0.10, 0.30 + 0.12 * amp)), f, palm, "open")
    return _path([start, end, end], hold, (0.0, min(1.0, 0.2 / max(hold, 1e-3)), 1.0))


@_builder("up")
def _g_up(rng, amp, hold):
    f, palm = (0.0, 1.0, 0.05), (-1.0, 0.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.24, 0.05, 0.25)), f, palm, "point"),
            arm_pose("L", _j(rng, (0.26, 0.40 * amp, 0.12)), f, palm, "point")]
    return _path(keys, hold)


@_builder("down")
def _g_down(rng, amp, hold):
    f, palm = (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.20, -0.02, 0.33)), f, palm, "open"),
            arm_pose("L", _j(rng, (0.22, -0.02 - 0.24 * amp, 0.30)), f, palm, "open")]
    return _path(keys, hold)


@_builder("great")
def _g_great(rng, amp, hold):
    return _static(arm_pose("L", _j(rng, (0.18, -0.02, 0.34)), _j(rng, (-0.25, 0.0, 1.0), 0.05), (-1.0, 0.0, 0.0),
                            "thumb_up"))


@_builder("together")
def _g_together(rng, amp, hold):
    f, palm = (-0.05, 0.2, 1.0), (-1.0, 0.0, 0.0)
    keys = [both_arms(_j(rng, (0.32, -0.05, 0.30)), f, palm, "open"),
            both_arms(_j(rng, (0.055, -0.04, 0.33), 0.005), f, palm, "open")]
    return _path(keys + [keys[-1]], hold, (0.0, min(1.0, 0.3 / max(hold, 1e-3)), 1.0))


@_builder("question")
def _g_question(rng, amp, hold):
    pose = both_arms(_j(rng, (0.28, -0.12, 0.30)), (0.5, 0.0, 1.0), (0.0, 1.0, 0.0), "spread")
    return _static(pose, Oscillation(((_HEAD, 1.0),), _HEAD_ROLL, float(rng.choice([-1, 1])) * 0.14, shape="const"))


@_builder("maybe")
def _g_maybe(rng, amp, hold):
    pose = both_arms(_j(rng, (0.30, -0.28, 0.18)), (0.6, 0.0, 1.0), (0.0, 1.0, 0.0), "spread",
                     collar=0.22 * amp)
    return _static(pose, Oscillation(((_HEAD, 1.0),), _HEAD_ROLL, 0.12, shape="const"))


@_builder("future")
def _g_future(rng, amp, hold):
    f, palm = (0.0, 0.1, 1.0), (-1.0, 0.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.20, 0.0, 0.20)), f, palm, "open"),
            arm_pose("L", _j(rng, (0.22, 0.06, 0.20 + 0.30 * amp)), f, palm, "open")]
    return _path(keys, hold)


@_builder("past")
def _g_past(rng, amp, hold):
    f, palm = (-0.2, 1.0, 0.0), (-1.0, 0.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.26, 0.16, 0.14)), f, palm, "thumb_up", (1.0, -1.0, 0.0)),
            arm_pose("L", _j(rng, (0.26, 0.18, 0.04)), f, palm, "thumb_up", (1.0, -1.0, 0.0))]
    return _path(keys + [keys[-1]], hold, (0.0, min(1.0, 0.25 / max(hold, 1e-3)), 1.0))


@_builder("around")
def _g_around(rng, amp, hold):
    centre, r = _j(rng, (0.16, 0.02, 0.32)), 0.10 * amp
    turns = 1.0 if hold < 1.4 else 1.5
    angles = np.linspace(0.0, 2 * math.pi * turns, int(12 * turns) + 1)
    keys = [arm_pose("L", centre + r * np.array([math.cos(a), 0.0, math.sin(a)]), (0.0, 1.0, 0.1),
                     (0.0, 0.0, 1.0), "point") for a in angles]
    plan = _path(keys, hold)
    plan.linear = True
    return plan


@_builder("listen")
def _g_listen(rng, amp, hold):
    f = _unit(_j(rng, (-0.4, 0.62, -0.68), 0.04))
    w = EAR_L + np.array([0.01, 0.0, 0.02]) - 0.13 * f
    pose = arm_pose("L", _j(rng, w, 0.006), f, (0.3, 0.0, 1.0), "cup", (1.0, -1.0, 0.0))
    return _static(pose, Oscillation(((_HEAD, 1.0),), _HEAD_ROLL, 0.10, shape="const"))


@_builder("look")
def _g_look(rng, amp, hold):
    f = _unit((-0.85, 0.0, 0.53))
    w = BROW + np.array([0.0, 0.01, 0.03]) - 0.09 * f
    pose = arm_pose("L", _j(rng, w, 0.006), f, (0.0, -1.0, 0.0), "open", (1.0, -0.2, 0.3))
    return _static(pose, Oscillation(((_NECK, 0.5), (_HEAD, 0.5)), _HEAD_YAW, 0.15, float(rng.uniform(0.6, 0.9))))


@_builder("love")
def _g_love(rng, amp, hold):
    left = arm_pose("L", _j(rng, (0.15, -0.06, 0.14), 0.006), (-1.0, 0.3, 0.1), (0.0, 0.0, -1.0), "open",
                    (1.0, -0.6, -0.2))
    right = arm_pose_at(_j(rng, (-0.02, -0.05, 0.19), 0.006), (1.0, 0.3, 0.1), (0.0, 0.0, -1.0), "open", "R",
                        (-1.0, -0.6, -0.2))
    return _static({**left, **right})


@_builder("quiet")
def _g_quiet(rng, amp, hold):
    f = _unit((0.0, 1.0, 0.05))
    w = MOUTH + np.array([0.0, 0.01, 0.025]) - 0.155 * f
    return _static(arm_pose("L", _j(rng, w, 0.005), f, (0.0, 0.0, -1.0), "point", (1.0, -0.8, 0.0)))


@_builder("strong")
def _g_strong(rng, amp, hold):
    return _static(arm_pose("L", _j(rng, (0.50, 0.30 + 0.03 * amp, 0.04)), (-0.4, 0.9, 0.0), (-1.0, 0.0, 0.2),
                            "fist", (0.0, -1.0, -0.2)))


@_builder("fast")
def _g_fast(rng, amp, hold):
    f, palm = (0.0, 0.1, 1.0), (-1.0, 0.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.32, 0.0, 0.32)), f, palm, "open"),
            arm_pose("L", _j(rng, (0.32 - 0.44 * amp, -0.02, 0.38)), f, palm, "open")]
    return _path(keys, hold)


@_builder("hello")
def _g_hello(rng, amp, hold):
    base = _j(rng, (0.30, 0.30, 0.12))
    cycles = max(2, int(round(hold * 2.5)))
    keys = []
    for k in range(2 * cycles + 1):
        s = 0.0 if k in (0, 2 * cycles) else (1.0 if k % 2 else -1.0)
        tilt = math.radians(18.0) * s * amp
        f = (math.sin(tilt), math.cos(tilt), 0.0)
        keys.append(arm_pose("L", base + np.array([0.05 * s * amp, 0.0, 0.0]), f, (0.0, 0.0, 1.0), "spread"))
    return _path(keys, hold)


def build_gesture(name: str, rng: np.random.Generator, hold: float, amp: float | None = None,
                  mirror: bool | None = None) -> GesturePlan:
    """One instance of class ``name`` lasting ``hold`` seconds at full weight.

    ``amp`` (default: drawn in [0.85, 1.15]) scales the movement; ``mirror`` (default:
    drawn, right hand 60 % for one-handed classes) selects the mirrored version.
    """
    if name not in _BUILDERS:
        raise EggError(f"unknown gesture class {name!r}; known: {', '.join(CLASS_NAMES)}")
    amp = float(rng.uniform(0.85, 1.15)) if amp is None else float(amp)
    plan = _BUILDERS[name](rng, amp, hold)
    if mirror is None:
        mirror = CLASS_BY_NAME[name].handed and bool(rng.random() < 0.6)
    return plan.mirrored() if mirror else plan


# --------------------------------------------------------------------------- rendering


def min_jerk(x: np.ndarray) -> np.ndarray:
    """The minimum-jerk ramp 10x^3 - 15x^4 + 6x^5 on [0, 1] (clipped outside)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (10 - 15 * x + 6 * x * x)


def envelope(t: np.ndarray, a: float, b: float, c: float, d: float) -> np.ndarray:
    """0 before ``a``, min-jerk up to 1 at ``b``, 1 until ``c``, min-jerk down to 0 at ``d``."""
    up = min_jerk((t - a) / max(b - a, 1e-6))
    down = 1.0 - min_jerk((t - c) / max(d - c, 1e-6))
    return np.minimum(up, down)


def _qmul_aa(q: np.ndarray, aa: np.ndarray) -> np.ndarray:
    """``q * exp(aa)``: a rotation about an axis of the joint's own frame."""
    return np.asarray(quat_multiply(q, axis_angle_to_quat(aa)))


def _premul_aa(q: np.ndarray, aa: np.ndarray) -> np.ndarray:
    """``exp(aa) * q``: a rotation about an axis of the parent's frame (e.g. the elbow hinge)."""
    return np.asarray(quat_multiply(axis_angle_to_quat(aa), q))


@dataclass
class Instance:
    """A scheduled gesture: class, plan and timing (s). ``label`` = where its weight >= 0.5."""

    name: str
    plan: GesturePlan
    onset: float
    hold: float
    prep: float
    retract: float

    @property
    def start(self) -> float:
        return self.onset - self.prep

    @property
    def end(self) -> float:
        return self.onset + self.hold + self.retract

    @property
    def label(self) -> tuple[float, float]:
        return self.onset - 0.5 * self.prep, self.onset + self.hold + 0.5 * self.retract


def render_instance(q: np.ndarray, inst: Instance, fps: float = FPS) -> None:
    """Blend one gesture into the quaternion track ``q`` (T, 55, 4) in place."""
    T = q.shape[0]
    f0, f1 = max(0, int(math.ceil(inst.start * fps))), min(T, int(math.floor(inst.end * fps)) + 1)
    if f1 <= f0:
        return
    t = np.arange(f0, f1) / fps
    w = envelope(t, inst.start, inst.onset, inst.onset + inst.hold, inst.end)
    plan = inst.plan
    js = list(plan.joints)
    if js:
        keys = plan.key_quats()
        u = np.clip(t - inst.onset, 0.0, plan.times[-1])
        if len(keys) == 1:
            target = np.broadcast_to(keys[0], (len(t), *keys[0].shape))
        else:
            k = np.clip(np.searchsorted(plan.times, u, side="right") - 1, 0, len(keys) - 2)
            span = np.maximum(plan.times[k + 1] - plan.times[k], 1e-6)
            s = np.clip((u - plan.times[k]) / span, 0.0, 1.0)
            s = s if plan.linear else min_jerk(s)
            target = np.asarray(quat_slerp(keys[k], keys[k + 1], np.broadcast_to(s[:, None], (len(t), len(js)))))
        cur = q[f0:f1][:, js]
        q[f0:f1, js] = np.asarray(quat_slerp(cur, target, np.broadcast_to(w[:, None], (len(t), len(js)))))
    for osc in plan.oscillations:
        ang = osc.angle(t - inst.onset + 0.15) * w
        for j, jw in osc.joints:
            q[f0:f1, j] = _qmul_aa(q[f0:f1, j], osc.axis[None] * (ang * jw)[:, None])


def _segments_blend(q: np.ndarray, f0: int, f1: int, joints: Sequence[int], target: np.ndarray,
                    w: np.ndarray) -> None:
    cur = q[f0:f1][:, list(joints)]
    q[f0:f1, list(joints)] = np.asarray(
        quat_slerp(cur, np.broadcast_to(target, cur.shape), np.broadcast_to(w[:, None], cur.shape[:2])))


# --------------------------------------------------------------------------- idle motion


def _as_quats(poses: np.ndarray) -> np.ndarray:
    return np.asarray(axis_angle_to_quat(np.asarray(poses, dtype=np.float64)))


def procedural_idle(n_frames: int, rng: np.random.Generator, fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """(quats (T,55,4), trans (T,3)) of a standing, breathing, slowly swaying body."""
    t = np.arange(n_frames) / fps
    poses = np.broadcast_to(_RELAXED, (n_frames, _J, 3)).copy()

    def smooth_noise(amp: float, freqs: Sequence[float]) -> np.ndarray:
        out = np.zeros(n_frames)
        for f in freqs:
            out += np.sin(2 * math.pi * f * rng.uniform(0.8, 1.2) * t + rng.uniform(0, 2 * math.pi))
        return amp * out / len(freqs)

    breath = np.sin(2 * math.pi * rng.uniform(0.22, 0.3) * t + rng.uniform(0, 6.3))
    sway = smooth_noise(1.0, (0.05, 0.09))
    roll = math.radians(1.5) * sway
    poses[:, 0, 2] += roll
    poses[:, _IDX["left_hip"], 2] -= roll
    poses[:, _IDX["right_hip"], 2] -= roll
    for name, k in (("spine1", 0.3), ("spine2", 0.4), ("spine3", 0.3)):
        poses[:, _IDX[name], 0] += math.radians(1.0) * k * breath
    poses[:, 0, 1] += smooth_noise(math.radians(2.0), (0.04, 0.07))
    poses[:, _NECK, 1] += smooth_noise(math.radians(3.0), (0.1, 0.17, 0.23))
    poses[:, _HEAD, 1] += smooth_noise(math.radians(3.0), (0.13, 0.29))
    poses[:, _HEAD, 0] += smooth_noise(math.radians(2.5), (0.11, 0.21, 0.37))
    for side in ("left", "right"):
        poses[:, _IDX[f"{side}_shoulder"]] += smooth_noise(math.radians(2.0), (0.08, 0.19))[:, None] * 0.5
        poses[:, _IDX[f"{side}_elbow"], 1] += smooth_noise(math.radians(3.0), (0.07, 0.15))
    trans = np.zeros((n_frames, 3))
    trans[:, 0] = 0.02 * sway
    trans[:, 1] = STANDING_TRANS_Y + 0.002 * breath
    return _as_quats(poses), trans


def _heading_normalised(quats: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn a segment so its mean facing is +Z and centre its horizontal position."""
    R = np.asarray(axis_angle_to_matrix(np.asarray(quat_to_axis_angle(quats[:, 0]))))
    fwd = R[:, :, 2]
    yaw = math.atan2(float(np.mean(np.sin(np.arctan2(fwd[:, 0], fwd[:, 2])))),
                     float(np.mean(np.cos(np.arctan2(fwd[:, 0], fwd[:, 2])))))
    turn = np.asarray(axis_angle_to_quat(np.array([0.0, -yaw, 0.0])))
    q = quats.copy()
    q[:, 0] = np.asarray(quat_multiply(np.broadcast_to(turn, q[:, 0].shape), q[:, 0]))
    c, s = math.cos(-yaw), math.sin(-yaw)
    tr = trans - np.array([trans[:, 0].mean(), 0.0, trans[:, 2].mean()])
    x, z = tr[:, 0].copy(), tr[:, 2].copy()
    tr[:, 0], tr[:, 2] = c * x + s * z, -s * x + c * z
    return q, tr


@dataclass
class IdleSource:
    """A real take prepared for idle segments: quats and trans, plain and mirrored, at 30 fps."""

    path: str
    quats: np.ndarray
    trans: np.ndarray
    quats_mirror: np.ndarray
    trans_mirror: np.ndarray

    @classmethod
    def load(cls, path: str | Path, arm_keep: float = 0.2) -> IdleSource:
        from egg_core.formats.beat2 import read_beat2_npz
        from egg_core.motion import resample_motion
        from egg_core.skeleton import mirror_poses

        motion = read_beat2_npz(path)
        if abs(motion.fps - FPS) > 1e-6:
            motion = resample_motion(motion, FPS)
        if motion.num_frames < 5 * FPS:
            raise EggError(f"the idle source {path} lasts {motion.duration:.1f} s; give a take of at "
                           "least 5 s (a BEAT2 npz) or leave --idle-source out for the procedural idle")
        out = []
        for poses, trans in ((motion.poses, motion.trans), mirror_poses(motion.poses, motion.trans)):
            q = _as_quats(poses)
            arms = sorted(_ARM_JOINTS)
            q[:, arms] = np.asarray(quat_slerp(np.broadcast_to(_as_quats(_RELAXED[arms]), q[:, arms].shape),
                                               q[:, arms], arm_keep))
            q[:, [_JAW, _IDX["left_eye_smplhf"], _IDX["right_eye_smplhf"]]] = (1.0, 0.0, 0.0, 0.0)
            out.append((q, np.asarray(trans, dtype=np.float64)))
        return cls(str(path), out[0][0], out[0][1], out[1][0], out[1][1])

    def idle(self, n_frames: int, rng: np.random.Generator, fade: int = 15) -> tuple[np.ndarray, np.ndarray]:
        """(quats, trans) of ``n_frames``: random 4-10 s segments, half mirrored, cross-faded."""
        total = self.quats.shape[0]
        q_out = np.zeros((n_frames, _J, 4))
        t_out = np.zeros((n_frames, 3))
        pos = 0
        first = True
        while pos < n_frames:
            length = int(min(total, rng.integers(4 * FPS, 10 * FPS + 1)))
            start = int(rng.integers(0, total - length + 1))
            mirror = bool(rng.random() < 0.5)
            src_q = self.quats_mirror if mirror else self.quats
            src_t = self.trans_mirror if mirror else self.trans
            q, tr = _heading_normalised(src_q[start:start + length], src_t[start:start + length])
            n = min(length, n_frames - pos)
            if first:
                q_out[pos:pos + n], t_out[pos:pos + n] = q[:n], tr[:n]
            else:
                k = min(fade, n)
                w = min_jerk((np.arange(k) + 1) / (k + 1))
                q_out[pos:pos + k] = np.asarray(quat_slerp(q_out[pos:pos + k], q[:k],
                                                           np.broadcast_to(w[:, None], (k, _J))))
                t_out[pos:pos + k] = (1 - w[:, None]) * t_out[pos:pos + k] + w[:, None] * tr[:k]
                q_out[pos + k:pos + n], t_out[pos + k:pos + n] = q[k:n], tr[k:n]
            first = False
            pos += n if pos + n >= n_frames else n - fade
        return q_out, t_out


# --------------------------------------------------------------------------- clip assembly

VOICES: tuple[str, ...] = ("en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us+f2", "en+f3",
                           "en+m3", "en-gb-x-rp+f4")


@dataclass(frozen=True)
class SynthSettings:
    """Everything the dataset depends on (stored in the manifest)."""

    minutes: float = 60.0
    seed: int = 0
    clip_seconds: float = 60.0
    idle_source: str | None = None
    arm_keep: float = 0.2
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)

    def clip_durations(self) -> list[float]:
        total = self.minutes * 60.0
        n = max(1, int(math.ceil(total / self.clip_seconds - 1e-9)))
        return [min(self.clip_seconds, total - k * self.clip_seconds) for k in range(n)]


@dataclass
class ClipPlan:
    """What one clip says and does (before rendering): words, keywords and gestures."""

    words: list  # list[egg_core.formats.transcripts.Word]
    wave: np.ndarray  # float32 at SAMPLE_RATE
    keywords: list[tuple[int, str]]  # (index into words, class)
    sentences: list[tuple[int, int]]  # (first word, last word) per sentence
    voice: str
    rate: int
    pitch: int


def _speak_clip(rng: np.random.Generator, target_s: float) -> ClipPlan:
    """Synthesise sentences until ``target_s`` seconds of audio are filled."""
    from egg_core.formats.audio import resample
    from egg_core.formats.transcripts import Word
    from egg_core.speech_synth import synthesize_array

    voice = str(rng.choice(VOICES))
    rate = int(rng.integers(145, 186))
    pitch = int(rng.integers(30, 71))
    probs = zipf_probabilities()
    chunks: list[np.ndarray] = []
    words: list[Word] = []
    keywords: list[tuple[int, str]] = []
    sentences: list[tuple[int, int]] = []
    sr_native = 22050
    t = float(rng.uniform(0.6, 1.2))
    chunks.append(np.zeros(int(round(t * sr_native))))
    while t < target_s - 1.5 or not sentences:
        sent = generate_sentence(rng, probs)
        wave, sr_native, spoken = synthesize_array(sent.text, voice, rate + int(rng.integers(-8, 9)), pitch)
        if len(spoken) != len(sent.words):
            raise EggError(f"espeak-ng returned {len(spoken)} words for the {len(sent.words)} of {sent.text!r}")
        base = len(words)
        words.extend(Word(w.text, round(t + w.start, 4), round(t + w.end, 4)) for w in spoken)
        keywords.extend((base + i, c) for i, c in sent.keywords)
        sentences.append((base, len(words) - 1))
        chunks.append(wave.astype(np.float64) / 32768.0)
        t += len(wave) / sr_native
        pause = float(rng.uniform(0.25, 1.1))
        chunks.append(np.zeros(int(round(pause * sr_native))))
        t += pause
    audio = np.concatenate(chunks)
    audio = resample(audio, sr_native, SAMPLE_RATE).astype(np.float64)
    gain = float(rng.uniform(0.55, 0.9))
    audio = gain * audio + rng.normal(0.0, 3e-4, len(audio))
    return ClipPlan(words, audio.astype(np.float32), keywords, sentences, voice, rate, pitch)


def schedule_gestures(words: list, keywords: list[tuple[int, str]], rng: np.random.Generator) -> list[Instance]:
    """Timing of each keyword's gesture, with label spans that never overlap."""
    out: list[Instance] = []
    for wi, name in keywords:
        w = words[wi]
        cls = CLASS_BY_NAME[name]
        onset = w.start + float(rng.uniform(-0.12, 0.08))
        if cls.fixed_hold is not None:
            hold = float(rng.uniform(*cls.fixed_hold))
        else:
            hold = max(cls.min_hold, w.end - onset + float(rng.uniform(0.15, 0.5)))
        prep, retract = float(rng.uniform(0.3, 0.5)), float(rng.uniform(0.35, 0.6))
        if out:
            # keep label spans apart: shorten the previous hold (to 0.1 s), then the previous
            # retraction and this preparation (to 0.2 s), and only then delay this onset
            prev = out[-1]
            need = prev.label[1] + 0.04 - (onset - 0.5 * prep)
            if need > 0:
                cut = min(need, max(0.0, prev.hold - 0.1))
                prev.hold -= cut
                need -= cut
            if need > 0:
                cut = min(need, 0.5 * max(0.0, prev.retract - 0.2))
                prev.retract -= 2 * cut
                need -= cut
            if need > 0:
                cut = min(need, 0.5 * max(0.0, prep - 0.2))
                prep -= 2 * cut
                need -= cut
            if need > 0:
                onset += need
        plan = build_gesture(name, rng, hold)
        out.append(Instance(name, plan, onset, hold, prep, retract))
    return out


def _render_speech_layer(q: np.ndarray, plan: ClipPlan, rng: np.random.Generator) -> int:
    """Hands up into gesture space while speaking, with beats on content words. Returns #beats."""
    T = q.shape[0]
    t_all = np.arange(T) / FPS
    elbow_ext = {"L": np.zeros(T), "R": np.zeros(T)}
    head_nod = np.zeros(T)
    n_beats = 0
    for first, last in plan.sentences:
        s0, s1 = plan.words[first].start, plan.words[last].end
        mode = str(rng.choice(["R", "L", "LR"], p=(0.45, 0.2, 0.35)))
        f0, f1 = max(0, int((s0 - 0.5) * FPS)), min(T, int((s1 + 0.7) * FPS) + 1)
        tt = t_all[f0:f1]
        env = envelope(tt, s0 - 0.5, s0 - 0.05, s1 + 0.1, s1 + 0.7)
        for side in ("L", "R"):
            level = float(rng.uniform(0.6, 1.0)) if side in mode else float(rng.uniform(0.0, 0.25))
            wrist = (float(rng.uniform(0.14, 0.24)), float(rng.uniform(-0.20, -0.05)), float(rng.uniform(0.20, 0.32)))
            pose = arm_pose_at(np.array(wrist) * np.array([1.0 if side == "L" else -1.0, 1, 1]),
                               (0.2 if side == "L" else -0.2, 0.1, 1.0),
                               (-0.6 if side == "L" else 0.6, 0.6, 0.0),
                               str(rng.choice(["relaxed", "cup", "open"])), side,
                               (0.5 if side == "L" else -0.5, -1.0, -0.4))
            js = sorted(pose)
            target = np.asarray(axis_angle_to_quat(np.array([pose[j] for j in js])))
            _segments_blend(q, f0, f1, js, target, env * level)
        last_beat = -1.0
        for wd in plan.words[first:last + 1]:
            if bare(wd.text) in FUNCTION_WORDS or rng.random() > 0.75:
                continue
            apex = wd.start + min(0.1, 0.3 * (wd.end - wd.start))
            if apex - last_beat < 0.3:
                continue
            last_beat = apex
            n_beats += 1
            amp = float(rng.uniform(0.12, 0.30))
            b0, b1 = max(0, int((apex - 0.35) * FPS)), min(T, int((apex + 0.5) * FPS) + 1)
            dt = t_all[b0:b1] - apex
            pulse = np.where(dt < 0, np.exp(-(dt / 0.07) ** 2), np.exp(-(dt / 0.14) ** 2))
            for side in ("L", "R"):
                if side in mode:
                    elbow_ext[side][b0:b1] += amp * pulse
            if rng.random() < 0.5:
                head_nod[b0:b1] += float(rng.uniform(0.03, 0.06)) * pulse
    for side, (elbow, wrist) in (("L", (_L_ELBOW, _L_WRIST)), ("R", (SMPLX.mirror[_L_ELBOW], SMPLX.mirror[_L_WRIST]))):
        sgn = 1.0 if side == "L" else -1.0
        ext = np.minimum(elbow_ext[side], 0.45)
        q[:, elbow] = _premul_aa(q[:, elbow], np.stack([0 * ext, sgn * ext, 0 * ext], -1))
        q[:, wrist] = _qmul_aa(q[:, wrist], np.stack([0 * ext, 0 * ext, -sgn * 0.6 * ext], -1))
    q[:, _HEAD] = _qmul_aa(q[:, _HEAD], np.stack([head_nod, 0 * head_nod, 0 * head_nod], -1))
    return n_beats


@dataclass
class ClipResult:
    """What was written for one clip (for the manifest)."""

    stem: str
    seconds: float
    voice: str
    rate: int
    pitch: int
    words: int
    beats: int
    classes: dict[str, int]


def render_clip(index: int, settings: SynthSettings, duration: float,
                idle: IdleSource | None) -> tuple[object, np.ndarray, list, list[Instance], ClipResult]:
    """Make clip ``index`` in memory: (Motion, 16 kHz wave, words, gestures, summary)."""
    from egg_core.motion import Motion

    rng = np.random.default_rng([settings.seed, index])
    plan = _speak_clip(rng, duration)
    gestures = schedule_gestures(plan.words, plan.keywords, rng)
    end_s = max([len(plan.wave) / SAMPLE_RATE, plan.words[-1].end + 0.6] + [g.end + 0.1 for g in gestures])
    n_frames = int(math.ceil(end_s * FPS))
    n_samples = int(round(n_frames / FPS * SAMPLE_RATE))
    wave = np.zeros(n_samples, np.float32)
    wave[: min(n_samples, len(plan.wave))] = plan.wave[:n_samples]
    if idle is not None:
        q, trans = idle.idle(n_frames, rng)
    else:
        q, trans = procedural_idle(n_frames, rng)
    beats = _render_speech_layer(q, plan, rng)
    for inst in gestures:
        render_instance(q, inst)
    poses = np.asarray(quat_to_axis_angle(q), dtype=np.float32)
    motion = Motion(poses=poses, trans=trans.astype(np.float32), fps=float(FPS))
    stem = f"{STEM_PREFIX}{index:04d}"
    summary = ClipResult(stem, n_frames / FPS, plan.voice, plan.rate, plan.pitch, len(plan.words), beats,
                         dict(Counter(g.name for g in gestures)))
    return motion, wave, plan.words, gestures, summary


def write_clip(out: Path, index: int, settings: SynthSettings, duration: float,
               idle: IdleSource | None, overwrite: bool = False) -> ClipResult:
    """Render clip ``index`` and write its wav, npz, TextGrid and labels into ``out``."""
    import soundfile as sf

    from egg_core.formats.beat2 import write_beat2_npz
    from egg_core.formats.transcripts import Transcript, write_textgrid

    motion, wave, words, gestures, summary = render_clip(index, settings, duration, idle)
    stem = summary.stem
    write_beat2_npz(motion, out / f"{stem}.npz", overwrite=overwrite)
    write_textgrid(Transcript(words=list(words), timed=True, source="espeak-ng synthesis"),
                   out / f"{stem}.TextGrid", overwrite=overwrite, xmax=summary.seconds)
    labels = {"classes": list(CLASS_NAMES),
              "labels": [{"class": g.name, "start": round(g.label[0], 3), "end": round(g.label[1], 3)}
                         for g in gestures]}
    (out / f"{stem}.labels.json").write_text(json.dumps(labels, indent=1), encoding="utf-8")
    with atomic_path(out / f"{stem}.wav", suffix=".wav") as tmp:
        sf.write(str(tmp), wave, SAMPLE_RATE, subtype="PCM_16")
    return summary


# --------------------------------------------------------------------------- dataset

def _worker(args: tuple[str, int, SynthSettings, float, bool, IdleSource | None]) -> ClipResult:
    out, index, settings, duration, overwrite, idle = args
    return write_clip(Path(out), index, settings, duration, idle, overwrite)


def split_assignment(n_clips: int, seed: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> list[str]:
    """train/val/test per clip (a seeded shuffle; at least one val and test clip from 3 clips on)."""
    n_val = n_test = 0
    if n_clips >= 3:
        n_val = max(1, int(round(n_clips * fractions[1])))
        n_test = max(1, int(round(n_clips * fractions[2])))
    order = np.random.default_rng([seed, 10_000_019]).permutation(n_clips)
    out = ["train"] * n_clips
    for k in order[:n_test]:
        out[int(k)] = "test"
    for k in order[n_test:n_test + n_val]:
        out[int(k)] = "val"
    return out


def _existing_outputs(out: Path) -> list[Path]:
    """Files of an earlier run in ``out`` (clips, manifest, and its split file)."""
    names = [p for p in out.glob(f"{STEM_PREFIX}*") if p.is_file()]
    if (out / "manifest.json").is_file():
        names += [out / "manifest.json"]
        if (out / "train_test_split.csv").is_file():
            names += [out / "train_test_split.csv"]
    elif (out / "train_test_split.csv").is_file():
        raise EggError(f"{out} holds a train_test_split.csv that training.synth did not write; "
                       "choose an empty --out folder for the synthetic dataset")
    return names


def generate_dataset(out: str | Path, settings: SynthSettings, workers: int = 2, overwrite: bool = False,
                     progress: bool = True) -> dict:
    """Generate the whole dataset into ``out``; returns (and writes) the manifest."""
    from egg_core.speech_synth import espeak_available

    out = Path(out)
    if not espeak_available():
        raise EggError("espeak-ng is needed to synthesise the speech of the benchmark; install it "
                       "(e.g. `sudo apt-get install espeak-ng`) and run again")
    if settings.minutes <= 0 or settings.clip_seconds < 3:
        raise EggError("--minutes must be positive and --clip-seconds at least 3")
    if settings.idle_source and not Path(settings.idle_source).is_file():
        raise EggError(f"the idle source {settings.idle_source} does not exist; give a BEAT2 npz "
                       "(e.g. ../shared/data/real/beat2/2_scott_0_1_1.npz) or leave --idle-source out")
    out.mkdir(parents=True, exist_ok=True)
    old = _existing_outputs(out)
    if old and not overwrite:
        raise EggError(f"{out} already holds a generated dataset ({len(old)} files); pass --overwrite "
                       "to replace it or choose another --out folder")
    for p in old:
        p.unlink()
    durations = settings.clip_durations()
    idle = IdleSource.load(settings.idle_source, settings.arm_keep) if settings.idle_source else None
    jobs = [(str(out), k, settings, d, overwrite, idle) for k, d in enumerate(durations)]
    t0 = time.perf_counter()
    results = list(_progress(_map_fresh_processes(jobs, workers), len(jobs), progress))
    elapsed = time.perf_counter() - t0
    splits = split_assignment(len(results), settings.seed, settings.split)
    with (out / "train_test_split.csv").open("w", encoding="utf-8", newline="") as fh:
        fh.write("id,type\n")
        for r, s in zip(results, splits, strict=True):
            fh.write(f"{r.stem},{s}\n")
    manifest = build_manifest(settings, results, splits)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    manifest["_elapsed_s"] = elapsed
    return manifest


def _map_fresh_processes(jobs: list, workers: int):
    """Run every clip in a process of its own (results in job order).

    libespeak-ng keeps state from one utterance to the next (its output differs by a few
    samples depending on what was spoken before), so a clip is deterministic only when
    its speech is synthesised in a fresh process. A fork server that has already
    imported this module (but not loaded espeak) hands out those processes cheaply.
    """
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():  # e.g. Windows: slower, same result
        ctx = mp.get_context("spawn")
    else:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["egg_core.formats.audio", "soundfile", "egg_core.speech_synth",
                                    "egg_core.formats.beat2", "egg_core.formats.transcripts",
                                    "egg_core.motion", "egg_core.skeleton", "egg_core.rotations"])
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx, max_tasks_per_child=1) as pool:
        yield from pool.map(_worker, jobs)


def _progress(it, total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(it, total=total, desc="synthesising clips", unit="clip", disable=not enabled)


def build_manifest(settings: SynthSettings, results: list[ClipResult], splits: list[str]) -> dict:
    """Settings, per-clip summary and the class frequency table (target vs realised, per split)."""
    probs = zipf_probabilities()
    total = Counter()
    per_split: dict[str, Counter] = {}
    for r, s in zip(results, splits, strict=True):
        total.update(r.classes)
        per_split.setdefault(s, Counter()).update(r.classes)
    n = max(1, sum(total.values()))
    table = [{"rank": k + 1, "class": c.name, "keywords": list(c.keywords), "gesture": c.description,
              "target_p": round(float(probs[k]), 5), "count": int(total[c.name]),
              "fraction": round(total[c.name] / n, 5),
              **{f"count_{s}": int(per_split.get(s, Counter())[c.name]) for s in ("train", "val", "test")}}
             for k, c in enumerate(GESTURE_CLASSES)]
    return {
        "generator": "training.synth", "version": GENERATOR_VERSION,
        "settings": {**asdict(settings), "split": list(settings.split)},
        "idle": ("real BEAT2 segments (mirrored half the time, arms relaxed toward relaxed_pose, "
                 f"keeping {settings.arm_keep:.0%} of the real arm motion)" if settings.idle_source
                 else "procedural (breathing, weight shift, head motion)"),
        "fps": FPS, "sample_rate": SAMPLE_RATE,
        "zipf": {"q": ZIPF_Q, "s": ZIPF_S},
        "clips": len(results),
        "seconds": round(sum(r.seconds for r in results), 3),
        "semantic_gestures": int(sum(total.values())),
        "beats": int(sum(r.beats for r in results)),
        "words": int(sum(r.words for r in results)),
        "classes": table,
        "clip_table": [{**asdict(r), "split": s} for r, s in zip(results, splits, strict=True)],
    }


# --------------------------------------------------------------------------- preview


def preview_gesture(name: str, seed: int = 0, hold: float = 0.8, mirror: bool = False,
                    amp: float = 1.0) -> tuple[np.ndarray, Instance]:
    """Poses (T, 55, 3) of one gesture instance over a still relaxed body (0.5 s margins).

    For looking at a class on its own (e.g. in Blender via a BEAT2 npz) and for tests.
    """
    rng = np.random.default_rng(seed)
    inst = Instance(name, build_gesture(name, rng, hold, amp=amp, mirror=mirror), onset=0.9, hold=hold,
                    prep=0.4, retract=0.5)
    n = int(math.ceil((inst.end + 0.5) * FPS))
    q = np.broadcast_to(_as_quats(_RELAXED), (n, _J, 4)).copy()
    render_instance(q, inst)
    return np.asarray(quat_to_axis_angle(q)), inst


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.synth", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (new-speaker layout)")
    ap.add_argument("--minutes", type=float, default=60.0, help="total speech+motion to make (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--idle-source", default=None,
                    help="a real BEAT2 npz for the idle motion; default: procedural idle")
    ap.add_argument("--workers", type=int, default=2, help="processes (output does not depend on it)")
    ap.add_argument("--clip-seconds", type=float, default=60.0, help="length of each clip (default 60)")
    ap.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    settings = SynthSettings(minutes=args.minutes, seed=args.seed, clip_seconds=args.clip_seconds,
                             idle_source=args.idle_source)
    try:
        manifest = generate_dataset(args.out, settings, workers=args.workers, overwrite=args.overwrite,
                                    progress=not args.quiet)
    except EggError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {manifest['clips']} clips, {manifest['seconds'] / 60:.1f} min, "
          f"{manifest['semantic_gestures']} semantic gestures, {manifest['beats']} beats to {args.out} "
          f"in {manifest['_elapsed_s']:.1f} s")
    for row in manifest["classes"]:
        print(f"  {row['rank']:2d} {row['class']:<10} target {row['target_p']:.3f}  "
              f"got {row['fraction']:.3f} ({row['count']})")
    return 0


if __name__ == "__main__":
    # run the imported module's main, so worker processes find its functions as training.synth.*
    from training.synth import main as _main

    sys.exit(_main())
