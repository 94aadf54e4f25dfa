"""Bone names as rigs from different tools spell them, reduced to a side and a comparable base.

Why a separate step: the same upper arm is ``mixamorig:LeftArm``, ``DEF-upper_arm.L``,
``CC_Base_L_Upperarm``, ``upperarm_l``, ``J_Bip_L_UpperArm``, ``UpperArmL`` or
``upper_arm.L.001`` (a twist segment). Alias tables can only list each spelling once if
namespaces, tool prefixes, separators, case and the left/right marker are removed first;
:func:`parse_name` does that and keeps the side separately, so ``left_hand`` and
``Hand.R`` become ``("left", "hand")`` and ``("right", "hand")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BoneName", "parse_name", "is_helper", "is_end_marker"]

#: Tool prefixes that say nothing about the body part (compared after lower-casing and
#: turning separators into "_"). Longest first, so "valvebiped_bip01_" wins over "bip01_".
_PREFIXES = (
    "valvebiped_bip01_", "valvebiped_", "character1_", "bip001_", "bip01_", "cc_base_",
    "j_bip_", "jbip_", "def_", "b_", "bn_",
)  # fmt: skip

#: Markers of bones that deform or drive nothing a body part should be mapped to: twist and
#: roll segments, IK targets and poles, Rigify's mechanism/organisation/widget bones, tips.
_HELPER_WORDS = ("twist", "roll", "pole", "target", "ctrl", "tweak", "master", "socket",
                 "weapon", "prop", "helper", "corrective", "jiggle", "hair", "cloth")
_HELPER_PREFIXES = ("mch_", "org_", "vis_", "wgt_", "ik_", "fk_")
_HELPER_SUFFIXES = ("_ik", "_fk", "_end", "_nub", "_tip", "_parent")
_END_WORDS = ("end", "nub", "tip", "top")

_SEPARATORS = re.compile(r"[\s.\-:|/\\]+")
_DUPLICATE = re.compile(r"_\d{3}$")  # Blender's ".001" duplicate/segment suffix


@dataclass(frozen=True)
class BoneName:
    """A bone name taken apart: ``side`` ("left", "right" or ""), ``base`` (letters and digits
    only, e.g. ``"upperarm"``, ``"handindex1"``) and whether it carries a segment suffix
    such as Rigify's ``.001`` twist halves (``segment``)."""

    original: str
    side: str
    base: str
    tokens: tuple[str, ...]
    segment: bool


def _glued_side(name: str) -> tuple[str, str]:
    """Side letters glued to a CamelCase word: ``UpperArmL``, ``Palm1R``, ``LHand``."""
    last = name.split(":")[-1]
    match = re.search(r"(?<=[a-z0-9])([LR])$", last)
    if match:
        return ("left" if match.group(1) == "L" else "right"), last[: match.start()]
    match = re.match(r"^([LR])(?=[A-Z][a-z])", last)
    if match:
        return ("left" if match.group(1) == "L" else "right"), last[1:]
    return "", last


def parse_name(name: str) -> BoneName:
    """Split ``name`` into side and base (see the module docstring)."""
    side, rest = _glued_side(name)
    text = _SEPARATORS.sub("_", rest.lower()).strip("_")
    segment = bool(_DUPLICATE.search(text))
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix) and len(text) > len(prefix):
                text = text[len(prefix):]
                changed = True
    tokens = [t for t in text.split("_") if t]
    kept: list[str] = []
    for token in tokens:
        if token in ("l", "left"):
            side = side or "left"
        elif token in ("r", "right"):
            side = side or "right"
        elif token == "c" and not kept:  # VRoid centre marker (J_Bip_C_Hips)
            continue
        else:
            kept.append(token)
    if kept and not side:
        for word, which in (("left", "left"), ("right", "right")):
            if kept[0].startswith(word) and len(kept[0]) > len(word):
                side, kept[0] = which, kept[0][len(word):]
                break
            if kept[-1].endswith(word) and len(kept[-1]) > len(word):
                side, kept[-1] = which, kept[-1][: -len(word)]
                break
    base = "".join(kept)
    return BoneName(name, side, base, tuple(kept), segment)


def is_helper(name: str) -> bool:
    """True for bones that must never receive a body part's motion (twist, IK, mechanism...)."""
    text = _SEPARATORS.sub("_", name.lower()).strip("_")
    if text.startswith(_HELPER_PREFIXES) or text.endswith(_HELPER_SUFFIXES):
        return True
    parsed = parse_name(name)
    if any(token in ("ik", "fk", "mch", "org", "vis") for token in parsed.tokens):
        return True
    if "necktwist" in parsed.base:  # Character Creator's neck bones are called NeckTwist01/02
        return False
    return any(word in parsed.base for word in _HELPER_WORDS)


def is_end_marker(name: str) -> bool:
    """True for leaf markers such as ``HeadTop_End`` or ``Index4_nub`` that only mark a tip."""
    base = parse_name(name).base
    return any(base.endswith(word) for word in _END_WORDS)
