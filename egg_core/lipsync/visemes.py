"""Phones -> a per-frame mouth track: viseme weights and a jaw-opening amount.

Why this shape of result: characters carry very different mouth controls (a jaw bone,
15 Oculus visemes, 5 VRM vowels, 52 ARKit blendshapes, 9 Rhubarb drawings), but all of
them can be driven from one description of what the mouth does. That description is a
weight per *canonical viseme* (the 15 Oculus / Ready Player Me visemes, the richest of
the common sets) and a jaw opening in 0..1, per frame; :mod:`egg_core.lipsync.targets`
maps it onto each set.

How a phone sequence becomes smooth mouth motion (co-articulation):

1. **Phones -> viseme segments.** ARPAbet labels (stress digits allowed, as in BEAT2
   TextGrids; pocketsphinx writes them without) map to a viseme; diphthongs become two
   segments (AY = aa then I), HH takes the shape of the vowel it precedes, unknown
   labels and gaps are silence (the rest mouth). Unstressed vowels are articulated less.
2. **Overlapping blends.** Each segment is a box in time convolved with a smooth kernel
   of width :attr:`Coarticulation.blend` (its cumulative distribution is the smoothstep
   ``3x^2 - 2x^3``): a segment fades in over the ``blend`` before it and out over the
   ``blend`` after it, neighbours cross-fade, short phones are reached only partly. As
   the boxes tile the time axis, the weights add up to one everywhere; every curve is
   continuous with a continuous slope, so nothing pops.
3. **Lead.** Lips move slightly before the sound they shape: everything is shifted
   :attr:`Coarticulation.lead` earlier.
4. **Closures are never blended away.** m/b/p (viseme PP) and f/v (FF) must be seen:
   during the middle of each such phone (at least one frame wide) its viseme is forced
   to weight 1 and the jaw to that viseme's opening (0 for PP), with smooth ramps that
   stop at the neighbouring phones' centres (never shorter than
   :data:`MIN_RAMP_FRAMES` frames, so the lips do not snap shut). Without this, a 40 ms
   "b" between two vowels would only half-close the mouth.

The jaw opening per frame is the weighted sum of each viseme's opening
(:data:`JAW_OPENING`), so it is 0 on m/b/p and in silence and largest on "aa".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from egg_core.formats.transcripts import SILENCE_MARKS, Phone

#: The canonical visemes, in the Oculus / Ready Player Me order (``viseme_<name>`` on a mesh).
VISEMES: tuple[str, ...] = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
                            "aa", "E", "I", "O", "U")
VISEME_INDEX = {name: i for i, name in enumerate(VISEMES)}
SIL = VISEME_INDEX["sil"]

#: How far each viseme opens the jaw (0 closed .. 1 the widest "aa"), from phonetics:
#: bilabials close it, sibilants keep the teeth nearly together, open vowels drop it.
JAW_OPENING: dict[str, float] = {
    "sil": 0.0, "PP": 0.0, "FF": 0.1, "TH": 0.2, "DD": 0.25, "kk": 0.3, "CH": 0.2, "SS": 0.12,
    "nn": 0.22, "RR": 0.3, "aa": 1.0, "E": 0.6, "I": 0.4, "O": 0.7, "U": 0.35,
}
JAW_VECTOR = np.array([JAW_OPENING[v] for v in VISEMES], dtype=np.float64)

#: Visemes whose shape must be reached (lip closure, lip-teeth contact), see the module doc.
CLOSURES: tuple[str, ...] = ("PP", "FF")

# ARPAbet (CMU) vowels -> one viseme, or two for a diphthong (first part, second part).
_VOWELS: dict[str, tuple[str, ...]] = {
    "AA": ("aa",), "AE": ("aa",), "AH": ("aa",), "AO": ("O",), "AW": ("aa", "U"),
    "AY": ("aa", "I"), "EH": ("E",), "ER": ("RR",), "EY": ("E", "I"), "IH": ("I",),
    "IY": ("I",), "OW": ("O", "U"), "OY": ("O", "I"), "UH": ("U",), "UW": ("U",),
    # TIMIT-style extensions some aligners write
    "AX": ("E",), "AXR": ("RR",), "IX": ("I",), "UX": ("U",),
}
_CONSONANTS: dict[str, str] = {
    "B": "PP", "M": "PP", "P": "PP", "EM": "PP", "F": "FF", "V": "FF", "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD", "DX": "DD", "K": "kk", "G": "kk", "NG": "kk", "CH": "CH", "JH": "CH",
    "SH": "CH", "ZH": "CH", "S": "SS", "Z": "SS", "N": "nn", "L": "nn", "EL": "nn", "EN": "nn",
    "NX": "nn", "R": "RR", "W": "U", "Y": "I",
}
_ASPIRATE = "HH"  # takes the shape of the following vowel
#: Articulation of a vowel by its stress digit (1 primary, 2 secondary, 0 unstressed; none:
#: pocketsphinx, which does not mark stress).
_STRESS = {"1": 1.0, "2": 0.85, "0": 0.7, "": 0.9}
#: An unstressed AH is the schwa: a small, neutral opening rather than a wide "aa". Without
#: a stress mark (pocketsphinx) AH is taken to be the schwa too: in running English most
#: AH are unstressed (34 of 47 in a real BEAT2 take), and on both real takes this follows
#: the recorded jaw better (correlation 0.45 -> 0.47 and 0.35 -> 0.39).
_SCHWA = ("E",)
#: Share of a diphthong's time spent on its first part.
_DIPHTHONG_SPLIT = 0.55
#: The shortest ramp into a closure, in frames: a smoothstep over 2.5 frames changes by at
#: most 0.6 from one frame to the next.
MIN_RAMP_FRAMES = 2.5


@dataclass(frozen=True)
class Coarticulation:
    """Timing of the blends (seconds); the defaults suit conversational speech at 24-60 fps."""

    blend: float = 0.12  # width of each cross-fade between neighbouring phones
    lead: float = 0.02  # visemes start this much before their sound
    closure_ramp: float = 0.08  # longest ramp into and out of a forced closure
    closure_share: float = 0.8  # part of an m/b/p or f/v phone held fully closed


DEFAULT_COARTICULATION = Coarticulation()


@dataclass
class MouthTrack:
    """What the mouth does per frame, and where that came from.

    ``weights`` (T, len(VISEMES)) are canonical viseme weights in 0..1 whose rows add up to
    at most 1 (what is missing is the rest mouth); ``jaw`` (T,) is the opening 0..1.
    Frame ``i`` is at ``i / fps`` seconds from the first audio sample. ``source`` names the
    route (:data:`egg_core.lipsync.sources.SOURCES`), ``message`` says it in words.
    """

    weights: np.ndarray
    jaw: np.ndarray
    fps: float
    source: str = "phones"
    message: str = ""

    @property
    def num_frames(self) -> int:
        return int(len(self.jaw))

    def viseme(self, name: str) -> np.ndarray:
        """The weight curve of one canonical viseme."""
        return self.weights[:, VISEME_INDEX[name]]


# --------------------------------------------------------------------------- phones -> segments


def split_label(label: str) -> tuple[str, str]:
    """``"AH0"`` -> ``("AH", "0")``; also drops pocketsphinx's ``(2)`` variants and case."""
    base = label.strip().upper().split("(")[0]
    stress = ""
    if base and base[-1] in "012":
        base, stress = base[:-1], base[-1]
    return base, stress


def is_vowel(label: str) -> bool:
    return split_label(label)[0] in _VOWELS


def phone_visemes(label: str) -> tuple[tuple[str, ...], float]:
    """Visemes of one ARPAbet phone (two for a diphthong) and how strongly it is articulated.

    Silence marks and labels that are not ARPAbet (noise, laughter) give ``("sil",)``;
    HH gives ``()`` (it borrows the next vowel's shape, see :func:`viseme_segments`).
    """
    if label.strip().lower() in SILENCE_MARKS:
        return ("sil",), 1.0
    base, stress = split_label(label)
    if base == "AH" and stress in ("0", ""):
        return _SCHWA, _STRESS["0"]
    if base in _VOWELS:
        return _VOWELS[base], _STRESS[stress]
    if base in _CONSONANTS:
        return (_CONSONANTS[base],), 1.0
    if base == _ASPIRATE:
        return (), 1.0
    return ("sil",), 1.0


@dataclass(frozen=True)
class Segment:
    """One viseme held over [start, end] seconds with an articulation strength."""

    viseme: int  # index into VISEMES
    start: float
    end: float
    strength: float = 1.0
    closure: bool = False  # the middle of this segment must reach its viseme fully


def viseme_segments(phones: Sequence[Phone], duration: float | None = None) -> list[Segment]:
    """Phones -> viseme segments tiling time from well before 0 to well after the end.

    The segments follow each other without holes: gaps between phones are silence, and a
    phone that overlaps the previous one starts where that one ends.
    """
    ordered = sorted((p for p in phones if p.end > p.start), key=lambda p: (p.start, p.end))
    raw: list[Segment] = []
    for k, phone in enumerate(ordered):
        visemes, strength = phone_visemes(phone.label)
        if not visemes:  # HH: the shape of the vowel it leads into, weakly
            nxt = ordered[k + 1] if k + 1 < len(ordered) else None
            following = phone_visemes(nxt.label)[0] if nxt is not None and is_vowel(nxt.label) else ()
            visemes, strength = (following[:1] or ("sil",)), 0.5
        start = phone.start if not raw else max(phone.start, raw[-1].end)
        if phone.end <= start:
            continue
        if len(visemes) == 2:
            mid = start + _DIPHTHONG_SPLIT * (phone.end - start)
            parts = [(visemes[0], start, mid), (visemes[1], mid, phone.end)]
        else:
            parts = [(visemes[0], start, phone.end)]
        for name, a, b in parts:
            raw.append(Segment(VISEME_INDEX[name], a, b, strength, name in CLOSURES))
    end = max(duration or 0.0, raw[-1].end if raw else 0.0)
    out: list[Segment] = []
    t = -10.0  # the rest mouth from long before the clip ...
    for seg in raw:
        if seg.start > t + 1e-9:
            out.append(Segment(SIL, t, seg.start))
        out.append(seg)
        t = seg.end
    out.append(Segment(SIL, t, end + 10.0))  # ... to long after it
    return _merge_silence(out)


def _merge_silence(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in segments:
        if out and seg.viseme == SIL and out[-1].viseme == SIL:
            out[-1] = Segment(SIL, out[-1].start, seg.end)
        else:
            out.append(seg)
    return out


# --------------------------------------------------------------------------- blending


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _box(times: np.ndarray, start: float, end: float, width: float) -> np.ndarray:
    """A box [start, end] convolved with the smoothstep kernel of ``width`` (centred)."""
    return (_smoothstep((times - start) / width + 0.5)
            - _smoothstep((times - end) / width + 0.5))


def _frame_times(fps: float, num_frames: int) -> np.ndarray:
    return np.arange(num_frames, dtype=np.float64) / float(fps)


def _closure_bump(times: np.ndarray, segments: list[Segment], k: int, fps: float,
                  settings: Coarticulation) -> np.ndarray:
    """1 over the held middle of closure segment ``k``, smooth ramps to 0 at its neighbours."""
    seg = segments[k]
    centre = 0.5 * (seg.start + seg.end)
    half = max(0.5 * settings.closure_share * (seg.end - seg.start), 0.5 / fps + 1e-6)
    lo, hi = centre - half, centre + half

    def limit(other: Segment | None, toward_lo: bool) -> float:
        """How far a ramp may reach: to the neighbour's centre (its held part if a closure)."""
        if other is None:
            return settings.closure_ramp
        o_centre = 0.5 * (other.start + other.end)
        if other.closure:
            o_half = max(0.5 * settings.closure_share * (other.end - other.start), 0.5 / fps)
            edge = o_centre + o_half if toward_lo else o_centre - o_half
        else:
            edge = o_centre
        room = lo - edge if toward_lo else edge - hi
        # never steeper than MIN_RAMP_FRAMES frames: a closure does not snap shut
        return max(MIN_RAMP_FRAMES / fps, float(np.clip(room, 0.0, settings.closure_ramp)))

    left = limit(segments[k - 1] if k > 0 else None, True)
    right = limit(segments[k + 1] if k + 1 < len(segments) else None, False)
    rise = _smoothstep((times - (lo - left)) / left)
    fall = 1.0 - _smoothstep((times - hi) / right)
    return np.minimum(rise, fall)


def blend_segments(segments: list[Segment], fps: float, num_frames: int,
                   settings: Coarticulation = DEFAULT_COARTICULATION) -> np.ndarray:
    """(num_frames, len(VISEMES)) weights of ``segments`` sampled at the frame times."""
    times = _frame_times(fps, num_frames) + settings.lead
    weights = np.zeros((num_frames, len(VISEMES)), dtype=np.float64)
    half = 0.5 * settings.blend
    for seg in segments:
        a = max(0, int(math.floor((seg.start - half - settings.lead) * fps)))
        b = min(num_frames, int(math.ceil((seg.end + half - settings.lead) * fps)) + 1)
        if b <= a:
            continue
        weights[a:b, seg.viseme] += seg.strength * _box(times[a:b], seg.start, seg.end, settings.blend)
    closures = np.zeros_like(weights)
    for k, seg in enumerate(segments):
        if seg.closure:
            closures[:, seg.viseme] = np.maximum(closures[:, seg.viseme],
                                                 _closure_bump(times, segments, k, fps, settings))
    held = closures.sum(axis=1, keepdims=True)
    share = np.where(held > 1.0, 1.0 / np.maximum(held, 1e-12), 1.0)  # overlapping ramps share
    closures *= share
    weights = weights * (1.0 - closures.sum(axis=1, keepdims=True)) + closures
    return np.clip(weights, 0.0, 1.0)


def frames_for(duration: float, fps: float) -> int:
    """Frames that cover ``duration`` seconds at ``fps`` (the first at time 0)."""
    return max(1, int(math.floor(duration * fps + 1e-9)) + 1)


def mouth_from_phones(phones: Sequence[Phone], fps: float, num_frames: int | None = None,
                      settings: Coarticulation = DEFAULT_COARTICULATION, *, source: str = "phones",
                      message: str = "") -> MouthTrack:
    """The mouth track of a phone sequence at ``fps`` (see the module doc for how).

    ``num_frames`` defaults to the frames up to the last phone's end.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    end = max((p.end for p in phones), default=0.0)
    n = frames_for(end, fps) if num_frames is None else int(num_frames)
    weights = blend_segments(viseme_segments(phones, n / fps), fps, n, settings)
    return MouthTrack(weights.astype(np.float32), (weights @ JAW_VECTOR).astype(np.float32),
                      float(fps), source, message)


def mouth_from_jaw(jaw: np.ndarray, fps: float, *, source: str, message: str = "") -> MouthTrack:
    """A track that only knows how far the mouth opens (from a generated jaw or loudness).

    The opening is shown as the open vowel "aa" in proportion, the rest mouth otherwise, so
    shape-key characters open their mouth too; ``jaw`` is clipped to 0..1.
    """
    jaw = np.clip(np.asarray(jaw, dtype=np.float64).reshape(-1), 0.0, 1.0)
    weights = np.zeros((len(jaw), len(VISEMES)), dtype=np.float64)
    weights[:, VISEME_INDEX["aa"]] = jaw
    weights[:, SIL] = 1.0 - jaw
    return MouthTrack(weights.astype(np.float32), jaw.astype(np.float32), float(fps), source, message)
