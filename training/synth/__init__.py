"""Synthetic long-tail gesture benchmark: speech with known words, motion with known gestures.

``python -m training.synth --out DIR [--minutes 60] [--seed 0] [--idle-source take.npz]
[--workers 2] [--clip-seconds 60] [--overwrite]``

Why: the paper's claim is that entropy guidance raises codebook usage and the recall of
*rare, meaningful* gestures. Real data has no labels for that, so this package builds a
dataset where every meaningful gesture is known: what it is, when it happens, and how
often each kind occurs (a long, Zipf-like tail).

A clip is espeak-ng speech assembled from templates (:mod:`.vocabulary`); each keyword
triggers its class's gesture (:mod:`.gestures`, posed with :mod:`.arm_ik` and
:mod:`.hands` on the joints of :mod:`.body`), classes drawn with a Zipf-Mandelbrot law
over 30 classes, about 20 % for the most common ("I/me", hand to chest) down to 0.4 %
for the rarest. Beat gestures on content words make up most of the motion, and idle
motion runs under everything, procedural or from a real BEAT2 take (``--idle-source``,
:mod:`.idle`). :mod:`.render` blends gestures in, :mod:`.clips` makes and writes one
clip, :mod:`.dataset` all of them, :mod:`.preview` one gesture on its own.

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

# egg_core's standing height, kept importable from here as it was from the single module
from egg_core.skeleton import STANDING_TRANS_Y as STANDING_TRANS_Y
from training.synth.arm_ik import arm_pose, arm_pose_at, both_arms, solve_left_arm
from training.synth.body import _LEFT_ARM as _LEFT_ARM  # internals the tests inspect
from training.synth.body import BROW, CHEST, EAR_L, MOUTH, TEMPLE_L, mirror_pose_dict
from training.synth.cli import main
from training.synth.clips import (
    VOICES,
    ClipPlan,
    ClipResult,
    SynthSettings,
    render_clip,
    schedule_gestures,
    write_clip,
)
from training.synth.constants import FPS, GENERATOR_VERSION, SAMPLE_RATE, STEM_PREFIX
from training.synth.dataset import build_manifest, generate_dataset, split_assignment
from training.synth.gestures import _BUILDERS as _BUILDERS
from training.synth.gestures import GesturePlan, Oscillation, build_gesture
from training.synth.hands import hand_shape
from training.synth.idle import IdleSource, procedural_idle
from training.synth.preview import preview_gesture
from training.synth.render import Instance, envelope, min_jerk, render_instance
from training.synth.vocabulary import _SLOTS as _SLOTS
from training.synth.vocabulary import (
    CLASS_BY_NAME,
    CLASS_NAMES,
    CONNECTORS,
    FILLER_CLAUSES,
    FUNCTION_WORDS,
    GESTURE_CLASSES,
    KEYWORD_CLASS,
    KEYWORDS_PER_SENTENCE,
    ZIPF_Q,
    ZIPF_S,
    GestureClass,
    Sentence,
    bare,
    generate_sentence,
    zipf_probabilities,
)

__all__ = [
    "BROW",
    "CHEST",
    "CLASS_BY_NAME",
    "CLASS_NAMES",
    "CONNECTORS",
    "EAR_L",
    "FILLER_CLAUSES",
    "FPS",
    "FUNCTION_WORDS",
    "GENERATOR_VERSION",
    "GESTURE_CLASSES",
    "KEYWORDS_PER_SENTENCE",
    "KEYWORD_CLASS",
    "MOUTH",
    "SAMPLE_RATE",
    "STANDING_TRANS_Y",
    "STEM_PREFIX",
    "TEMPLE_L",
    "VOICES",
    "ZIPF_Q",
    "ZIPF_S",
    "ClipPlan",
    "ClipResult",
    "GestureClass",
    "GesturePlan",
    "IdleSource",
    "Instance",
    "Oscillation",
    "Sentence",
    "SynthSettings",
    "arm_pose",
    "arm_pose_at",
    "bare",
    "both_arms",
    "build_gesture",
    "build_manifest",
    "envelope",
    "generate_dataset",
    "generate_sentence",
    "hand_shape",
    "main",
    "min_jerk",
    "mirror_pose_dict",
    "preview_gesture",
    "procedural_idle",
    "render_clip",
    "render_instance",
    "schedule_gestures",
    "solve_left_arm",
    "split_assignment",
    "write_clip",
    "zipf_probabilities",
]
