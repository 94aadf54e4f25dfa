"""The bone map: which of a rig's bones plays which body part, checked, saved and loaded.

A map is what the user sees and may edit (the add-on's list, ``--bone-map file.json``):
per part the bone(s) that play it, plus *followers*, extra bones that copy another mapped
bone's motion (the three palms of a robot hand, Rigify's lower FK spine), and optionally
the bone that carries root motion (by default the lowest common parent of the hips and
thighs, so a rig whose legs hang from a floor-level root still walks as one piece).

JSON form (``to_json`` / ``from_json``)::

    {"convention": "mixamo",
     "parts": {"hips": "mixamorig:Hips", "spine": ["mixamorig:Spine", "mixamorig:Spine1"], ...},
     "followers": {"Palm1L": "Palm2L"},
     "root": ""}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from egg_core.errors import EggError
from egg_core.retarget.parts import PART_NAMES, REQUIRED_PARTS, part

__all__ = ["BoneMap", "BoneMapError", "read_bone_map"]


class BoneMapError(EggError):
    """A bone map is incomplete, inconsistent with its rig, or not readable."""


@dataclass(frozen=True)
class BoneMap:
    """Part -> bones of one rig (see the module docstring); immutable, compare by value."""

    parts: Mapping[str, tuple[str, ...]]
    followers: Mapping[str, str] = field(default_factory=dict)
    convention: str = ""
    root: str = ""

    def __post_init__(self) -> None:
        parts: dict[str, tuple[str, ...]] = {}
        for name, bones in dict(self.parts).items():
            if name not in PART_NAMES:
                raise BoneMapError(f"unknown body part {name!r} in the bone map; known parts: "
                                   f"{', '.join(PART_NAMES)}")
            bones = (bones,) if isinstance(bones, str) else tuple(str(b) for b in bones)
            bones = tuple(b for b in bones if b)
            if not bones:
                continue
            if len(bones) > 1 and not part(name).chain:
                raise BoneMapError(f"part {name!r} takes one bone but the map gives {len(bones)} "
                                   f"({', '.join(bones)}); list extra bones as followers instead")
            parts[name] = bones
        followers = {str(k): str(v) for k, v in dict(self.followers).items() if k and v}
        object.__setattr__(self, "parts", {n: parts[n] for n in PART_NAMES if n in parts})
        object.__setattr__(self, "followers", followers)
        used: dict[str, str] = {}
        for name, bones in self.parts.items():
            for bone in bones:
                if bone in used:
                    raise BoneMapError(f"bone {bone!r} is mapped to both {used[bone]!r} and {name!r}; "
                                       "a bone can play one part only")
                used[bone] = name
        for bone, leader in followers.items():
            if bone in used:
                raise BoneMapError(f"bone {bone!r} is mapped to {used[bone]!r} and also follows {leader!r}")
            if leader not in used:
                raise BoneMapError(f"bone {bone!r} follows {leader!r}, which is not mapped to any part")

    # ----------------------------------------------------------------- queries

    def bones(self) -> tuple[str, ...]:
        """Every mapped bone, followers last."""
        return tuple(b for bones in self.parts.values() for b in bones) + tuple(self.followers)

    def part_of(self, bone: str) -> str | None:
        """The part ``bone`` plays (a follower plays its leader's part), or None."""
        leader = self.followers.get(bone, bone)
        for name, bones in self.parts.items():
            if leader in bones:
                return name
        return None

    def missing(self, required: Iterable[str] = REQUIRED_PARTS) -> tuple[str, ...]:
        """The ``required`` parts that have no bone."""
        return tuple(p for p in required if p not in self.parts)

    def count(self, group: str) -> int:
        """How many bones are mapped to parts of ``group`` ("finger", "arm", ...)."""
        return sum(len(b) for n, b in self.parts.items() if part(n).group == group)

    def require(self, required: Iterable[str] = REQUIRED_PARTS, rig_name: str = "the rig") -> None:
        """Raise :class:`BoneMapError` naming every missing required part."""
        missing = self.missing(required)
        if missing:
            raise BoneMapError(
                f"{rig_name} has no bone for {len(missing)} required part(s): {', '.join(missing)}. "
                "Pick the bones by hand in the bone map (or in a --bone-map JSON file), or untick "
                "the body parts that need them."
            )

    def check_bones(self, bone_names: Iterable[str], rig_name: str = "the rig") -> None:
        """Raise :class:`BoneMapError` when the map names bones that ``rig_name`` lacks."""
        present = set(bone_names)
        absent = [b for b in self.bones() if b not in present]
        if self.root and self.root not in present:
            absent.append(self.root)
        if absent:
            shown = ", ".join(absent[:8]) + (" ..." if len(absent) > 8 else "")
            raise BoneMapError(f"the bone map names {len(absent)} bone(s) that {rig_name} does not have "
                               f"({shown}); run Detect again or fix the names")

    def restricted(self, parts: Iterable[str]) -> BoneMap:
        """The same map with only the given parts (and the followers of their bones)."""
        keep = {p: b for p, b in self.parts.items() if p in set(parts)}
        kept = {b for bones in keep.values() for b in bones}
        followers = {f: lead for f, lead in self.followers.items() if lead in kept}
        return BoneMap(keep, followers, self.convention, self.root)

    # ----------------------------------------------------------------- files

    def to_json(self) -> str:
        parts = {n: (b[0] if len(b) == 1 and not part(n).chain else list(b)) for n, b in self.parts.items()}
        return json.dumps({"convention": self.convention, "parts": parts,
                           "followers": dict(self.followers), "root": self.root}, indent=2)

    @classmethod
    def from_json(cls, text: str, source: str = "bone map") -> BoneMap:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BoneMapError(f"{source} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("parts"), dict):
            raise BoneMapError(f"{source} must be a JSON object with a \"parts\" object "
                               "(part -> bone name, or a list of names for spine and neck)")
        followers = data.get("followers", {})
        if not isinstance(followers, dict):
            raise BoneMapError(f"{source}: \"followers\" must be an object (bone -> bone it follows)")
        parts = {}
        for name, bones in data["parts"].items():
            if not isinstance(bones, (str, list)) or (isinstance(bones, list) and
                                                       not all(isinstance(b, str) for b in bones)):
                raise BoneMapError(f"{source}: part {name!r} must name a bone (or a list of bones)")
            parts[name] = bones
        return cls(parts, followers, str(data.get("convention", "")), str(data.get("root", "") or ""))


def read_bone_map(path: str | os.PathLike[str]) -> BoneMap:
    """Read a ``--bone-map`` JSON file (see the module docstring for its form)."""
    p = Path(path)
    if not p.is_file():
        raise BoneMapError(f"bone map file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoneMapError(f"cannot read the bone map {p}: {exc}") from None
    return BoneMap.from_json(text, source=str(p))
