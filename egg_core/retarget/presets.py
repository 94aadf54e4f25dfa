"""Bone-name conventions of the rigs users bring, as names after :func:`names.parse_name`.

Each convention lists, per part, the *bases* its bones carry once namespaces, tool
prefixes (``mixamorig:``, ``DEF-``, ``CC_Base_``, ``J_Bip_``), separators, case and the
side marker are gone; sided parts (``upper_arm`` ...) apply to both sides. Chain parts
(``spine``, ``neck``) list their bones from the hips up. Sources: each tool's published
bone list (Mixamo, Rigify, VRM 0.x/1.0 humanoid and VRoid, Unreal Mannequin UE4/UE5,
Character Creator / ActorCore, MakeHuman / MPFB, Quaternius, SMPL-X); see
docs/RETARGET.md for the table in words.

Fingers are not listed here: :func:`finger_of` reads every convention's finger names
(``LeftHandIndex1``, ``f_index.01``, ``index_proximal``, ``finger2-1``, ``Mid1``...).

The generated Rigify rig is a convention of its own (:data:`RIGIFY_FK`): its FK *controls*
are keyed, by exact name, because its deform bones follow them through constraints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "CONVENTIONS",
    "CONVENTION_LABELS",
    "GENERIC",
    "RIGIFY_FK",
    "RIGIFY_FK_FOLLOWERS",
    "RIGIFY_FK_SIGNATURE",
    "finger_of",
    "rigify_deform_bones",
]

Convention = Mapping[str, tuple[str, ...]]

CONVENTIONS: dict[str, Convention] = {
    "mixamo": {
        "hips": ("hips",), "spine": ("spine", "spine1", "spine2"), "neck": ("neck",),
        "head": ("head",), "shoulder": ("shoulder",), "upper_arm": ("arm",),
        "forearm": ("forearm",), "hand": ("hand",), "thigh": ("upleg",), "shin": ("leg",),
        "foot": ("foot",), "toe": ("toebase",), "eye": ("eye",),
    },
    "rigify": {  # deform bones (DEF-, prefix already stripped) and the metarig
        "hips": ("spine",), "spine": ("spine001", "spine002", "spine003"),
        "neck": ("spine004", "spine005"), "head": ("spine006",), "shoulder": ("shoulder",),
        "upper_arm": ("upperarm",), "forearm": ("forearm",), "hand": ("hand",),
        "thigh": ("thigh",), "shin": ("shin",), "foot": ("foot",), "toe": ("toe",),
        "eye": ("eye",), "jaw": ("jaw",),
    },
    "vrm": {  # VRM humanoid (0.x and 1.0) and VRoid's J_Bip_* names
        "hips": ("hips",), "spine": ("spine", "chest", "upperchest"), "neck": ("neck",),
        "head": ("head",), "shoulder": ("shoulder",), "upper_arm": ("upperarm",),
        "forearm": ("lowerarm",), "hand": ("hand",), "thigh": ("upperleg",),
        "shin": ("lowerleg",), "foot": ("foot",), "toe": ("toes", "toebase"), "eye": ("eye",),
        "jaw": ("jaw",),
    },
    "unreal": {  # UE4 / UE5 mannequin (and Unreal-like rigs such as GDQuest's Mannequiny)
        "hips": ("pelvis",),
        "spine": ("spine01", "spine02", "spine03", "spine04", "spine05"),
        "neck": ("neck01", "neck02"), "head": ("head",), "shoulder": ("clavicle",),
        "upper_arm": ("upperarm",), "forearm": ("lowerarm",), "hand": ("hand",),
        "thigh": ("thigh",), "shin": ("calf",), "foot": ("foot",), "toe": ("ball",),
        "jaw": ("jaw",),
    },
    "character_creator": {  # Character Creator / ActorCore (CC_Base_ stripped)
        "hips": ("hip",), "spine": ("waist", "spine01", "spine02"),
        "neck": ("necktwist01", "necktwist02"), "head": ("head",), "shoulder": ("clavicle",),
        "upper_arm": ("upperarm",), "forearm": ("forearm",), "hand": ("hand",),
        "thigh": ("thigh",), "shin": ("calf",), "foot": ("foot",), "toe": ("toebase",),
        "eye": ("eye",), "jaw": ("jawroot",),
    },
    "makehuman": {  # MakeHuman / MPFB default rig
        "hips": ("root",), "spine": ("spine05", "spine04", "spine03", "spine02", "spine01"),
        "neck": ("neck01", "neck02", "neck03"), "head": ("head",), "shoulder": ("clavicle",),
        "upper_arm": ("upperarm01",), "forearm": ("lowerarm01",), "hand": ("wrist",),
        "thigh": ("upperleg01",), "shin": ("lowerleg01",), "foot": ("foot",), "toe": ("toe11",),
        "eye": ("eye",), "jaw": ("jaw",),
    },
    "quaternius": {  # Quaternius characters (incl. RobotExpressive and the mitten-hand knight)
        "hips": ("hips",), "spine": ("abdomen", "torso", "torso1", "chest"), "neck": ("neck",),
        "head": ("head",), "shoulder": ("shoulder",), "upper_arm": ("upperarm",),
        "forearm": ("lowerarm",), "hand": ("hand", "palm", "palm2"), "thigh": ("upperleg",),
        "shin": ("lowerleg",), "foot": ("foot",), "toe": ("toe", "toes"),
    },
    "biovision": {  # plain mocap BVH and 3ds Max Biped names
        "hips": ("hips", "pelvis"), "spine": ("spine", "spine1", "spine2", "spine3", "chest"),
        "neck": ("neck", "neck1"), "head": ("head",), "shoulder": ("collar", "clavicle"),
        "upper_arm": ("uparm", "upperarm", "humerus"), "forearm": ("lowarm", "forearm", "radius"),
        "hand": ("hand", "wrist"), "thigh": ("upleg", "thigh", "femur", "hip"),
        "shin": ("lowleg", "calf", "shin", "knee", "tibia"), "foot": ("foot", "ankle"),
        "toe": ("toe", "toe0", "toes"),
    },
    "smplx": {  # SMPL-X names (this project's armatures, the official SMPL-X add-on)
        "hips": ("pelvis",), "spine": ("spine1", "spine2", "spine3"), "neck": ("neck",),
        "head": ("head",), "shoulder": ("collar",), "upper_arm": ("shoulder",),
        "forearm": ("elbow",), "hand": ("wrist",), "thigh": ("hip",), "shin": ("knee",),
        "foot": ("ankle",), "toe": ("foot",), "eye": ("eyesmplhf", "eye"), "jaw": ("jaw",),
    },
}  # fmt: skip

CONVENTION_LABELS: dict[str, str] = {
    "mixamo": "Mixamo", "rigify": "Rigify (deform bones / metarig)", "rigify_fk": "Rigify (FK controls)",
    "vrm": "VRM / VRoid", "unreal": "Unreal Mannequin (UE4/UE5)",
    "character_creator": "Character Creator / ActorCore", "makehuman": "MakeHuman / MPFB",
    "quaternius": "Quaternius", "biovision": "Mocap BVH / Biped", "smplx": "SMPL-X",
}


def _generic() -> dict[str, tuple[str, ...]]:
    """Every convention's names for each part, first-listed first; SMPL-X stays apart because
    its words mean other parts elsewhere (its "shoulder" is everyone else's upper arm)."""
    out: dict[str, list[str]] = {}
    for name, table in CONVENTIONS.items():
        if name in ("smplx", "makehuman"):  # "root" is the floor bone in most other rigs
            continue
        for key, bases in table.items():
            if name == "rigify" and key in ("hips", "head", "neck", "spine"):
                continue  # Rigify numbers its spine: "spine" is its hips, "spine.006" its head
            bucket = out.setdefault(key, [])
            bucket.extend(b for b in bases if b not in bucket)
    out["hand"].append("palm1")
    out["jaw"] = out.get("jaw", []) + ["jawbone", "lowerjaw"]
    return {k: tuple(v) for k, v in out.items()}


GENERIC: dict[str, tuple[str, ...]] = _generic()

# --------------------------------------------------------------------------- fingers

_FINGER_WORDS = {
    "thumb": "thumb", "index": "index", "middle": "middle", "mid": "middle", "ring": "ring",
    "pinky": "pinky", "pinkie": "pinky", "little": "pinky",
}
_MAKEHUMAN_FINGERS = {"1": "thumb", "2": "index", "3": "middle", "4": "ring", "5": "pinky"}
_SEGMENT_WORDS = {"metacarpal": 0, "proximal": 1, "intermediate": 2, "medial": 2, "distal": 3}
_FINGER = re.compile(
    r"^(?:hand)?(?:f)?(thumb|index|middle|mid|ring|pinky|pinkie|little)(?:finger)?"
    r"(metacarpal|proximal|intermediate|medial|distal|\d{0,2})$"
)
_MAKEHUMAN = re.compile(r"^finger([1-5])(\d)$")


def finger_of(base: str) -> tuple[str, int | None] | None:
    """``(finger, segment)`` for a finger bone's base name, else None.

    ``segment`` is 0 for a metacarpal, 1-3 from the knuckle outwards when the name says
    so (``proximal``, ``Index2``, ``f_index.03``), None when it does not (``ThumbL``);
    numbers are read as written, the caller orders the bones along the finger.
    The Quaternius knight's mitten (``MiddleHand``, ``Fingers``) counts as the middle finger.
    """
    if base == "middlehand":
        return "middle", 1
    if base == "fingers":
        return "middle", 2
    m = _MAKEHUMAN.match(base)
    if m:
        return _MAKEHUMAN_FINGERS[m.group(1)], int(m.group(2))
    m = _FINGER.match(base)
    if not m:
        return None
    finger = _FINGER_WORDS[m.group(1)]
    tail = m.group(2)
    if tail in _SEGMENT_WORDS:
        return finger, _SEGMENT_WORDS[tail]
    return finger, int(tail) if tail else None


# --------------------------------------------------------------------------- generated Rigify

#: Bones whose presence marks a rig generated by Rigify (its FK controls are keyed).
RIGIFY_FK_SIGNATURE = ("torso", "spine_fk.002", "upper_arm_fk.L", "forearm_fk.L", "hand_fk.L",
                       "thigh_fk.L", "shin_fk.L", "upper_arm_parent.L")


def _rigify_fk() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {
        "hips": ("torso",), "spine": ("spine_fk.002", "spine_fk.003"), "neck": ("neck",),
        "head": ("head",),
    }
    for side, s in (("left", "L"), ("right", "R")):
        table.update({
            f"{side}_shoulder": (f"shoulder.{s}",), f"{side}_upper_arm": (f"upper_arm_fk.{s}",),
            f"{side}_forearm": (f"forearm_fk.{s}",), f"{side}_hand": (f"hand_fk.{s}",),
            f"{side}_thigh": (f"thigh_fk.{s}",), f"{side}_shin": (f"shin_fk.{s}",),
            f"{side}_foot": (f"foot_fk.{s}",), f"{side}_toe": (f"toe_fk.{s}",),
        })
        for k in (1, 2, 3):
            table[f"{side}_thumb{k}"] = (f"thumb.0{k}.{s}",)
            for finger in ("index", "middle", "ring", "pinky"):
                table[f"{side}_{finger}{k}"] = (f"f_{finger}.0{k}.{s}",)
    return table


#: Part -> exact bone names of Rigify's FK controls.
RIGIFY_FK: dict[str, tuple[str, ...]] = _rigify_fk()

#: Rigify bones keyed to copy another control's motion: the FK hips control turns the pelvis
#: region about the pivot, and the lower FK spine control blends into the middle of the spine
#: (Rigify's MCH-pivot), so giving it the upper spine control's motion keeps that blend exact.
RIGIFY_FK_FOLLOWERS: dict[str, str] = {"spine_fk": "torso", "spine_fk.001": "spine_fk.002"}


def rigify_deform_bones(fk_map: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The deform (``DEF-``) bones that follow each part's FK controls on a generated Rigify rig
    -- what the skinned mesh does, for checking a take. The trunk is Rigify's own chain."""
    out: dict[str, tuple[str, ...]] = {
        "hips": ("DEF-spine",), "spine": ("DEF-spine.001", "DEF-spine.002", "DEF-spine.003"),
        "neck": ("DEF-spine.004", "DEF-spine.005"), "head": ("DEF-spine.006",),
    }
    for part, bones in fk_map.items():
        if part not in out:
            out[part] = tuple("DEF-" + b.replace("_fk", "") for b in bones)
    return out
