"""The body parts a bone map speaks of, and which SMPL-X joints carry each part's motion.

Why parts and not SMPL-X joint names: rigs split the body differently. A rig may have two
spine bones or five, one neck bone or none, mitten hands or none at all; a part names the
role ("spine", "left_forearm") and says which SMPL-X joints move it, so the same map
works in both directions (SMPL-X onto a rig, a mocap BVH onto SMPL-X).

``spine`` and ``neck`` are *chains*: they take any number of bones, listed from the hips
upwards, and the motion of their SMPL-X joints is spread over them by position along the
chain. Every other part takes one bone. A part's *aim* is the next part along the body
(the forearm for the upper arm, the middle finger for the hand): the rest direction from
a bone to its aim is what the retargeter lines up between two rigs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FINGERS",
    "PARTS",
    "PART_NAMES",
    "REQUIRED_PARTS",
    "SIDES",
    "Part",
    "finger_part",
    "part",
    "parts_for_joints",
]

SIDES = ("left", "right")
FINGERS = ("thumb", "index", "middle", "ring", "pinky")


@dataclass(frozen=True)
class Part:
    """One role in a body: its SMPL-X joints, the parts it aims at, and how it is grouped.

    - ``joints``: SMPL-X joint names whose rotations drive the part (several for a chain).
    - ``aims``: parts whose first bone's head marks where this part points, first found wins;
      empty when the part points along its own bone (head, toes, finger tips).
    - ``chain``: takes any number of bones (spine, neck).
    - ``required``: a full-body retarget refuses to run without it.
    - ``group``: "trunk", "arm", "leg", "finger" or "face" (for counts and messages).
    """

    name: str
    joints: tuple[str, ...]
    aims: tuple[str, ...] = ()
    chain: bool = False
    required: bool = False
    group: str = "trunk"


def finger_part(side: str, finger: str, k: int) -> str:
    """``finger_part("left", "index", 2)`` -> ``"left_index2"`` (k = 1 at the knuckle)."""
    return f"{side}_{finger}{k}"


def _build() -> tuple[Part, ...]:
    parts = [
        Part("hips", ("pelvis",), ("spine", "neck", "head"), required=True),
        Part("spine", ("spine1", "spine2", "spine3"), ("neck", "head"), chain=True),
        Part("neck", ("neck",), ("head",), chain=True),
        Part("head", ("head",), required=True),
        Part("jaw", ("jaw",), group="face"),
    ]
    for s in SIDES:
        parts += [
            Part(f"{s}_eye", (f"{s}_eye_smplhf",), group="face"),
            Part(f"{s}_shoulder", (f"{s}_collar",), (f"{s}_upper_arm",), group="arm"),
            Part(f"{s}_upper_arm", (f"{s}_shoulder",), (f"{s}_forearm",), required=True, group="arm"),
            Part(f"{s}_forearm", (f"{s}_elbow",), (f"{s}_hand",), required=True, group="arm"),
            Part(f"{s}_hand", (f"{s}_wrist",),
                 tuple(finger_part(s, f, 1) for f in ("middle", "ring", "index", "pinky")),
                 required=True, group="arm"),
            Part(f"{s}_thigh", (f"{s}_hip",), (f"{s}_shin",), required=True, group="leg"),
            Part(f"{s}_shin", (f"{s}_knee",), (f"{s}_foot",), required=True, group="leg"),
            Part(f"{s}_foot", (f"{s}_ankle",), (f"{s}_toe",), group="leg"),
            Part(f"{s}_toe", (f"{s}_foot",), group="leg"),
        ]
        for f in FINGERS:
            for k in (1, 2, 3):
                aims = (finger_part(s, f, k + 1),) if k < 3 else ()
                parts.append(Part(finger_part(s, f, k), (f"{s}_{f}{k}",), aims, group="finger"))
    return tuple(parts)


PARTS: tuple[Part, ...] = _build()
PART_NAMES: tuple[str, ...] = tuple(p.name for p in PARTS)
REQUIRED_PARTS: tuple[str, ...] = tuple(p.name for p in PARTS if p.required)
_BY_NAME = {p.name: p for p in PARTS}


def part(name: str) -> Part:
    """The part called ``name``; KeyError lists the known names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown body part {name!r}; known parts: {', '.join(PART_NAMES)}") from None


def parts_for_joints(joint_names: set[str] | frozenset[str]) -> tuple[str, ...]:
    """The parts driven by any of the given SMPL-X joints (for "animate only these parts")."""
    return tuple(p.name for p in PARTS if set(p.joints) & set(joint_names))
