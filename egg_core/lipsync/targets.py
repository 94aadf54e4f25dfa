"""The mouth controls characters carry, found by name, and the canonical visemes mapped onto them.

Why a table per set: a character is rigged for one convention - Oculus / Ready Player Me
visemes, VRM's five vowels, Apple ARKit blendshapes, or the Preston Blair mouth chart in
its Rhubarb (A-H, X) or Papagayo (AI, O, E, ...) naming - and each convention splits the
mouth differently. Every set here is a matrix from the 15 canonical visemes
(:data:`egg_core.lipsync.visemes.VISEMES`) to the set's channels, so one
:class:`~egg_core.lipsync.visemes.MouthTrack` drives any of them. The weights are
phonetic judgement (which shapes a sound uses, how far); channels a sound does not use
stay 0, so a set with fewer shapes shows the nearest one.

Names are matched after normalisation (lower case, letters and digits only) against
aliases, either the whole name or - for distinctive aliases - its end, so
``"Wolf3D_Head.viseme_aa"``, ``"vrc.v_aa"``, ``"blendShape1.jawOpen"`` and
``"Face.M_F00_000_00_Fcl_MTH_A"`` are all found. :func:`detect_set` picks the set that
the names cover best; short, ambiguous names ("A", "E") only count inside a set that
is mostly present.

This module is pure Python + numpy: the Blender add-on uses it on its main thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from egg_core.lipsync.visemes import JAW_OPENING, VISEME_INDEX, VISEMES, MouthTrack

# --------------------------------------------------------------------------- names


def normalize_name(name: str) -> str:
    """``"viseme_AA"`` -> ``"visemeaa"``: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _name_variants(name: str) -> list[str]:
    """The whole name and its last part after a ``.``, ``:``, ``|`` or ``/`` (exporters prefix them)."""
    parts = [name] + [p for p in re.split(r"[.:|/]", name)[-1:] if p != name]
    return [n for n in (normalize_name(p) for p in parts) if n]


#: Aliases of this length or more may also match the end of a longer name.
_SUFFIX_MIN = 5


# --------------------------------------------------------------------------- sets


@dataclass(frozen=True)
class TargetSet:
    """One convention of mouth shapes: its channels, how visemes drive them, their names."""

    key: str  # "oculus", "vrm", "arkit", "rhubarb", "preston_blair"
    label: str
    channels: tuple[str, ...]
    matrix: np.ndarray  # (len(VISEMES), len(channels)): viseme weight -> channel value
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # channel -> normalised names
    min_found: int = 3  # fewer channels found than this: the set is not taken to be present

    def channel_values(self, weights: np.ndarray | MouthTrack) -> dict[str, np.ndarray]:
        """Per channel, its value per frame (0..1) for a track or its viseme ``weights`` (T, 15)."""
        weights = weights.weights if isinstance(weights, MouthTrack) else weights
        values = np.clip(np.asarray(weights, dtype=np.float64) @ self.matrix, 0.0, 1.0)
        return {name: values[:, i].astype(np.float32) for i, name in enumerate(self.channels)}

    def match(self, names: Iterable[str]) -> dict[str, str]:
        """Channel -> the first of ``names`` that is one of its aliases."""
        found: dict[str, str] = {}
        for name in names:
            variants = _name_variants(name)
            for channel in self.channels:
                if channel in found:
                    continue
                for alias in self.aliases.get(channel, ()):
                    if any(v == alias or (len(alias) >= _SUFFIX_MIN and v.endswith(alias))
                           for v in variants):
                        found[channel] = name
                        break
        return found


def _matrix(rows: Mapping[str, Mapping[str, float]], channels: tuple[str, ...]) -> np.ndarray:
    m = np.zeros((len(VISEMES), len(channels)), dtype=np.float64)
    col = {c: i for i, c in enumerate(channels)}
    for viseme, row in rows.items():
        for channel, weight in row.items():
            m[VISEME_INDEX[viseme], col[channel]] = weight
    return m


def _prefixed(names: Iterable[str], prefixes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_name(p + n) for n in names for p in prefixes))


# Oculus / Ready Player Me / VRChat: the canonical set itself. VRChat spells three of them
# differently (vrc.v_ih, vrc.v_oh, vrc.v_ou).
_VRCHAT_VOWELS = {"I": "ih", "O": "oh", "U": "ou"}
OCULUS = TargetSet(
    "oculus", "Oculus / Ready Player Me visemes (viseme_aa ...)", VISEMES,
    np.eye(len(VISEMES)),
    {v: _prefixed([v], ["viseme_", "vrc.v_", "v_"])
        + ((normalize_name("vrc.v_" + _VRCHAT_VOWELS[v]),) if v in _VRCHAT_VOWELS else ())
     for v in VISEMES},
)

# VRM 1.0 expressions (aa ih ou ee oh), VRM 0.x presets (A I U E O), VRoid mesh keys (Fcl_MTH_A).
_VRM_CHANNELS = ("aa", "ih", "ou", "ee", "oh")
_VRM_NAMES = {"aa": ("aa", "a"), "ih": ("ih", "i"), "ou": ("ou", "u"), "ee": ("ee", "e"),
              "oh": ("oh", "o")}
VRM = TargetSet(
    "vrm", "VRM vowels (aa ih ou ee oh)", _VRM_CHANNELS,
    _matrix({
        "aa": {"aa": 1.0}, "E": {"ee": 1.0}, "I": {"ih": 1.0}, "O": {"oh": 1.0}, "U": {"ou": 1.0},
        "FF": {"ih": 0.2}, "TH": {"ee": 0.25}, "DD": {"ee": 0.25}, "kk": {"aa": 0.2, "ee": 0.1},
        "CH": {"ou": 0.35, "ih": 0.15}, "SS": {"ih": 0.35}, "nn": {"ee": 0.2}, "RR": {"ou": 0.3},
    }, _VRM_CHANNELS),
    {c: tuple(dict.fromkeys(
        [normalize_name(n) for n in names]
        + [normalize_name(p + n) for n in names for p in ("vrm_", "mouth_")]
        + [normalize_name("fcl_mth_" + names[1])]))
     for c, names in _VRM_NAMES.items()},
)

# Apple ARKit face blendshapes, the mouth subset speech uses. mouthClose is left out: it
# closes the lips *against* an open jaw, and m/b/p already bring the jaw to 0.
_ARKIT_CHANNELS = (
    "jawOpen", "mouthFunnel", "mouthPucker", "mouthPressLeft", "mouthPressRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugUpper", "mouthStretchLeft", "mouthStretchRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthLowerDownLeft", "mouthLowerDownRight",
)


def _both(name: str, weight: float) -> dict[str, float]:
    return {f"{name}Left": weight, f"{name}Right": weight}


_ARKIT_ROWS: dict[str, dict[str, float]] = {
    "PP": {**_both("mouthPress", 0.5), "mouthRollLower": 0.3, "mouthRollUpper": 0.2},
    "FF": {"mouthRollLower": 0.6, **_both("mouthUpperUp", 0.3)},
    "TH": {**_both("mouthUpperUp", 0.2), **_both("mouthStretch", 0.1)},
    "DD": {**_both("mouthStretch", 0.15)},
    "kk": {**_both("mouthStretch", 0.1)},
    "CH": {"mouthFunnel": 0.6, "mouthPucker": 0.3, **_both("mouthUpperUp", 0.2)},
    "SS": {**_both("mouthStretch", 0.4), **_both("mouthSmile", 0.2)},
    "nn": {**_both("mouthStretch", 0.1)},
    "RR": {"mouthFunnel": 0.3, "mouthPucker": 0.3},
    "aa": {**_both("mouthLowerDown", 0.3)},
    "E": {**_both("mouthStretch", 0.4), **_both("mouthSmile", 0.2), **_both("mouthLowerDown", 0.2)},
    "I": {**_both("mouthStretch", 0.5), **_both("mouthSmile", 0.4)},
    "O": {"mouthFunnel": 0.8, "mouthPucker": 0.2},
    "U": {"mouthPucker": 0.9, "mouthFunnel": 0.4, "mouthShrugUpper": 0.1},
}
for _v, _row in _ARKIT_ROWS.items():  # jawOpen is the jaw opening itself
    _row["jawOpen"] = JAW_OPENING[_v]


def _arkit_aliases(channel: str) -> tuple[str, ...]:
    names = [channel]
    for side, short in (("Left", "L"), ("Right", "R")):
        if channel.endswith(side):
            names += [channel[: -len(side)] + "_" + short]
    return tuple(dict.fromkeys(normalize_name(n) for n in names))


ARKIT = TargetSet(
    "arkit", "ARKit blendshapes (jawOpen, mouthFunnel ...)", _ARKIT_CHANNELS,
    _matrix(_ARKIT_ROWS, _ARKIT_CHANNELS),
    {c: _arkit_aliases(c) for c in _ARKIT_CHANNELS},
    min_found=1,  # jawOpen alone already opens the mouth
)

# Preston Blair mouth chart, Rhubarb Lip Sync naming: A closed (MBP), B clenched teeth,
# C open (E), D wide (AI), E rounded (O), F puckered (U, W), G F/V, H L, X rest.
_RHUBARB_CHANNELS = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
RHUBARB = TargetSet(
    "rhubarb", "Rhubarb mouth shapes (A-H, X)", _RHUBARB_CHANNELS,
    _matrix({
        "sil": {"X": 1.0}, "PP": {"A": 1.0}, "FF": {"G": 1.0}, "TH": {"B": 1.0}, "DD": {"B": 1.0},
        "kk": {"B": 1.0}, "CH": {"B": 0.5, "F": 0.5}, "SS": {"B": 1.0}, "nn": {"B": 0.6, "H": 0.4},
        "RR": {"E": 0.6, "B": 0.4}, "aa": {"D": 1.0}, "E": {"C": 1.0}, "I": {"B": 0.6, "C": 0.4},
        "O": {"E": 1.0}, "U": {"F": 1.0},
    }, _RHUBARB_CHANNELS),
    {c: _prefixed([c], ["", "mouth_", "rhubarb_", "shape_", "lip_"]) for c in _RHUBARB_CHANNELS},
    min_found=4,
)

# Preston Blair mouth chart, Papagayo naming.
_PRESTON_CHANNELS = ("AI", "O", "E", "U", "etc", "L", "WQ", "MBP", "FV", "rest")
PRESTON_BLAIR = TargetSet(
    "preston_blair", "Preston Blair / Papagayo (AI, O, E, U, etc, L, WQ, MBP, FV, rest)",
    _PRESTON_CHANNELS,
    _matrix({
        "sil": {"rest": 1.0}, "PP": {"MBP": 1.0}, "FF": {"FV": 1.0}, "TH": {"etc": 1.0},
        "DD": {"etc": 1.0}, "kk": {"etc": 1.0}, "CH": {"etc": 0.6, "WQ": 0.4}, "SS": {"etc": 1.0},
        "nn": {"etc": 0.5, "L": 0.5}, "RR": {"etc": 0.6, "WQ": 0.4}, "aa": {"AI": 1.0},
        "E": {"E": 1.0}, "I": {"E": 0.5, "AI": 0.5}, "O": {"O": 1.0}, "U": {"U": 0.6, "WQ": 0.4},
    }, _PRESTON_CHANNELS),
    {c: _prefixed([c], ["", "mouth_", "phoneme_", "viseme_"]) for c in _PRESTON_CHANNELS},
    min_found=4,
)

#: Every set, in the order preferred when several are fully present (visemes made for
#: speech before ARKit's general face shapes).
TARGET_SETS: dict[str, TargetSet] = {s.key: s for s in (OCULUS, ARKIT, VRM, PRESTON_BLAIR, RHUBARB)}


def target_set(key: str) -> TargetSet:
    """The set called ``key`` (:data:`TARGET_SETS`); ValueError listing them otherwise."""
    try:
        return TARGET_SETS[key.lower()]
    except KeyError:
        raise ValueError(f"unknown mouth shape set '{key}'; use one of {', '.join(TARGET_SETS)}") from None


@dataclass(frozen=True)
class SetMatch:
    """A set found among shape-key names: which channel is which name, and how much is there."""

    target: TargetSet
    found: dict[str, str]  # channel -> shape-key name

    @property
    def coverage(self) -> float:
        return len(self.found) / len(self.target.channels)


def detect_set(names: Iterable[str]) -> SetMatch | None:
    """The set best covered by ``names`` (shape-key names), or None when none is present.

    A set counts when at least its ``min_found`` channels are named; among those the
    highest share of the set wins, ties going to the order of :data:`TARGET_SETS`.
    """
    names = list(names)
    best: SetMatch | None = None
    for target in TARGET_SETS.values():
        found = target.match(names)
        if len(found) < target.min_found:
            continue
        match = SetMatch(target, found)
        if best is None or match.coverage > best.coverage + 1e-9:
            best = match
    return best


# --------------------------------------------------------------------------- jaw bones

#: Prefixes rigging tools put before bone names (lower case, removed before matching).
_BONE_PREFIXES = ("def-", "def_", "def.", "cc_base_", "bip01_", "bip01 ", "valvebiped.bip01_",
                  "j_bip_c_", "facial_c_", "c_", "b_")
#: Normalised jaw bone names, best first (controls before deform bones).
_JAW_NAMES = ("jaw", "jawmaster", "jawroot", "lowerjaw", "jawlower", "jawbone", "jawjoint",
              "mandible")
#: Bones whose name contains "jaw" but that are not the jaw hinge (Rigify's ORG-/MCH- helpers,
#: upper jaws, teeth, end bones, IK targets).
_NOT_JAW = ("upper", "teeth", "tongue", "end", "tip", "ik", "target", "mch", "org", "helper")

#: A left or right bone ("jaw.L", "Jaw_R.001", "LeftJaw"): part of the jaw line, not its hinge.
_SIDED = re.compile(r"([._ \-](l|r)([._]\d+)?$)|left|right", re.IGNORECASE)


def _bone_core(name: str) -> tuple[str, bool]:
    """Normalised bone name without tool prefixes; and whether it was a deform (DEF-) bone."""
    base = name.split(":")[-1].strip().lower()  # mixamorig:Jaw -> jaw
    deform = base.startswith(("def-", "def_", "def."))
    for prefix in _BONE_PREFIXES:
        if base.startswith(prefix) and len(base) > len(prefix):
            base = base[len(prefix):]
            break
    return normalize_name(base), deform


def find_jaw_bone(names: Iterable[str]) -> str | None:
    """The bone among ``names`` that opens the mouth (e.g. ``jaw``, ``mixamorig:Jaw``,
    ``CC_Base_JawRoot``, ``DEF-jaw``), or None.

    Exact jaw names win over names that merely contain "jaw"; control bones win over
    deform (DEF-) bones, whose constraints would override keys; ORG-/MCH- helper bones of
    Rigify and bones such as "upper_jaw" or "jaw_end" are never chosen.
    """
    ranked: list[tuple[int, int, str]] = []
    for order, name in enumerate(names):
        core, deform = _bone_core(name)
        if any(bad in core for bad in _NOT_JAW) or _SIDED.search(name):
            continue
        if core in _JAW_NAMES:
            rank = _JAW_NAMES.index(core)
        elif "jaw" in core:
            rank = len(_JAW_NAMES)
        else:
            continue
        ranked.append((rank + (100 if deform else 0), order, name))
    return min(ranked)[2] if ranked else None
