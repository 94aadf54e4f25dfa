"""Find which bone of an unknown rig plays which body part (the add-on's Detect button).

Names first, structure second. Every bone name is reduced to a side and a base
(:mod:`.names`); the convention whose names fit best (:mod:`.presets`) is tried first and
every other convention's names after it. Names are then checked against the hierarchy
(the forearm must hang below the upper arm, the foot below the shin -- an IK foot parented
to the root is no foot), and where no name fits the part is found from the hierarchy and
the rest positions: the highest bone on the midline is the head, the chains reaching
furthest out to either side are the arms (the hand is where they fan out into fingers),
the chains reaching lowest are the legs. The spine and neck are always taken from the
hierarchy: the bones between the hips and the head, split where the arms branch off,
so rigs with two spine bones or five map the same way. Fingers are looked for below the
forearm whatever side their names claim (one of the Quaternius rigs has its left thumb
named ``Thumb.R``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egg_core.retarget.bonemap import BoneMap, BoneMapError
from egg_core.retarget.names import BoneName, is_end_marker, is_helper, parse_name
from egg_core.retarget.parts import FINGERS, SIDES, finger_part
from egg_core.retarget.presets import (
    CONVENTIONS,
    GENERIC,
    RIGIFY_FK,
    RIGIFY_FK_FOLLOWERS,
    RIGIFY_FK_SIGNATURE,
    finger_of,
)
from egg_core.retarget.rig import Rig

__all__ = ["detect_bone_map", "detect_convention", "CONVENTION_CHOICES"]

#: What :func:`detect_bone_map` accepts as ``convention``.
CONVENTION_CHOICES = ("auto", "rigify_fk", *CONVENTIONS)

_SINGLE_KEYS = ("hips", "head", "jaw")
_SIDED_KEYS = ("shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot", "toe", "eye")


@dataclass
class _Scan:
    """Per-bone facts the rules below look at, computed once."""

    rig: Rig
    names: list[BoneName]
    usable: list[bool]  # not a helper (twist, IK, mechanism) and not a tip marker
    depth: list[int]
    heads: np.ndarray  # body frame, metres
    tails: np.ndarray
    height: float
    floor: float
    lateral: int  # body axis (0 = x, 2 = z) along which the arms spread

    @classmethod
    def of(cls, rig: Rig) -> _Scan:
        names = [parse_name(n) for n in rig.bone_names]
        usable = [not (is_helper(n) or is_end_marker(n)) for n in rig.bone_names]
        depth = [len(rig.ancestors(j)) for j in range(rig.num_bones)]
        heads, tails = rig.body_heads, rig.body_tails
        points = np.concatenate([heads, tails])
        height = float(np.ptp(points[:, 1])) or 1.0
        spread = np.ptp(points, axis=0)
        lateral = 0 if spread[0] >= spread[2] else 2
        return cls(rig, names, usable, depth, heads, tails, height, float(points[:, 1].min()), lateral)

    def side_sign(self, side: str) -> float:
        return 1.0 if side == "left" else -1.0

    def length(self, j: int) -> float:
        return float(np.linalg.norm(self.tails[j] - self.heads[j]))

    def on_midline(self, j: int) -> bool:
        centre = float(np.median(self.heads[:, self.lateral]))
        return abs(self.heads[j, self.lateral] - centre) < 0.06 * self.height


def detect_convention(rig: Rig) -> str:
    """The naming convention that names most of ``rig``'s body parts ("" when none fits)."""
    if all(n in rig.bone_names for n in RIGIFY_FK_SIGNATURE):
        return "rigify_fk"
    scan = _Scan.of(rig)
    best, best_score = "", 0
    for name, table in CONVENTIONS.items():
        score = 0
        for key, bases in table.items():
            wanted = set(bases)
            sides = SIDES if key in _SIDED_KEYS else ("",)
            for side in sides:
                score += sum(1 for j, n in enumerate(scan.names)
                             if scan.usable[j] and n.side == side and n.base in wanted)
        if score > best_score:
            best, best_score = name, score
    return best


def detect_bone_map(rig: Rig, convention: str = "auto") -> BoneMap:
    """A :class:`BoneMap` for ``rig``: every part found, missing ones left out (check with
    :meth:`BoneMap.require`). ``convention`` forces one naming convention (a preset) instead
    of the best-fitting one; "auto" lets the names decide."""
    if convention not in CONVENTION_CHOICES:
        raise BoneMapError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTION_CHOICES)}")
    if convention == "auto":
        convention = detect_convention(rig)
    if convention == "rigify_fk":
        return _rigify_fk_map(rig)
    aliases = _aliases(convention)
    return _Detector(_Scan.of(rig), aliases, convention or "structure").run()


def _aliases(convention: str) -> dict[str, tuple[str, ...]]:
    """Names to try per part key: the convention's own first, then everyone else's."""
    own = CONVENTIONS.get(convention, {})
    out: dict[str, tuple[str, ...]] = {}
    for key in set(GENERIC) | set(own):
        first = list(own.get(key, ()))
        rest = [] if convention == "smplx" else [b for b in GENERIC.get(key, ()) if b not in first]
        out[key] = tuple(first + rest)
    return out


def _rigify_fk_map(rig: Rig) -> BoneMap:
    present = set(rig.bone_names)
    parts = {name: tuple(b for b in bones if b in present) for name, bones in RIGIFY_FK.items()}
    followers = {f: lead for f, lead in RIGIFY_FK_FOLLOWERS.items() if f in present and lead in present}
    return BoneMap({k: v for k, v in parts.items() if v}, followers, "rigify_fk", "torso")


class _Detector:
    def __init__(self, scan: _Scan, aliases: dict[str, tuple[str, ...]], convention: str):
        self.s = scan
        self.rig = scan.rig
        self.aliases = aliases
        self.convention = convention
        self.parts: dict[str, tuple[int, ...]] = {}
        self.followers: dict[int, int] = {}

    # --------------------------------------------------------------- lookup helpers

    def find(self, key: str, side: str, among: set[int] | None = None) -> list[int]:
        """Bones named like part ``key`` on ``side``, best alias first, then shallowest."""
        found: list[tuple[int, int, int]] = []
        bases = self.aliases.get(key, ())
        rank = {b: i for i, b in enumerate(bases)}
        for j, name in enumerate(self.s.names):
            if not self.s.usable[j] or name.base not in rank:
                continue
            if name.segment and key in _SIDED_KEYS:  # Rigify's ".001" halves are twist segments
                continue
            if name.side != side or (among is not None and j not in among):
                continue
            found.append((rank[name.base], self.s.depth[j], j))
        return [j for _, _, j in sorted(found)]

    def taken(self) -> set[int]:
        return {j for bones in self.parts.values() for j in bones} | set(self.followers)

    def below(self, j: int) -> set[int]:
        return set(self.rig.descendants(j))

    # --------------------------------------------------------------- the search

    def run(self) -> BoneMap:
        head = self._head()
        hips = self._hips(head)
        for side in SIDES:
            self._arm(side)
            self._leg(side, hips)
        self._trunk(hips, head)
        for side in SIDES:
            self._fingers(side)
        self._face(head)
        names = self.rig.bone_names
        return BoneMap({p: tuple(names[j] for j in bones) for p, bones in self.parts.items()},
                       {names[f]: names[lead] for f, lead in self.followers.items()}, self.convention)

    def _head(self) -> int | None:
        candidates = self.find("head", "")
        if candidates:
            j = max(candidates, key=lambda k: self.s.heads[k, 1])
        else:  # the highest bone on the midline that is not a tip marker
            mid = [k for k in range(self.rig.num_bones) if self.s.usable[k] and self.s.on_midline(k)]
            if not mid:
                return None
            top = max(mid, key=lambda k: self.s.heads[k, 1])
            j = self.rig.parents[top] if not self.rig.children[top] and self.rig.parents[top] >= 0 \
                and self.s.length(top) < 0.03 * self.s.height else top
        self.parts["head"] = (j,)
        return j

    def _hips(self, head: int | None) -> int | None:
        low = self.s.floor + 0.25 * self.s.height  # a floor-level "root" is never the hips
        candidates = [j for j in self.find("hips", "") if self.s.heads[j, 1] > low]
        if head is not None:
            above = [j for j in candidates if self.rig.is_ancestor(j, head)]
            candidates = above or candidates
        if candidates:
            j = candidates[0]
        elif head is not None:  # structure: the head's ancestor where the legs branch off
            j = self._leg_branch(head)
            if j is None:
                return None
        else:
            return None
        self.parts["hips"] = (j,)
        return j

    def _leg_branch(self, head: int) -> int | None:
        """The head's ancestor from which a chain hangs down to the floor (the pelvis)."""
        trunk = [head, *self.rig.ancestors(head)]
        best = None
        for j in trunk[1:]:
            for child in self.rig.children[j]:
                if child in trunk:
                    continue
                reach = min(self.s.heads[k, 1] for k in [child, *self.rig.descendants(child)])
                if reach < self.s.floor + 0.15 * self.s.height and self.s.heads[j, 1] > self.s.floor + 0.3 * self.s.height:
                    best = j
        return best

    # --------------------------------------------------------------- arms

    def _arm(self, side: str) -> None:
        upper = forearm = hand = None
        named = self.find("upper_arm", side)
        for cand in named:
            fore = self.find("forearm", side, self.below(cand))
            if fore:
                upper, forearm = cand, fore[0]
                break
        if upper is None and named:  # an upper arm by name with nothing below it: map only that
            self.parts[f"{side}_upper_arm"] = (named[0],)
            collar = self.find("shoulder", side, set(self.rig.ancestors(named[0])))
            if collar:
                self.parts[f"{side}_shoulder"] = (collar[0],)
            return
        if upper is None:
            chain = self._structural_limb(side, arm=True)
            if chain is None:
                return
            collar, upper, forearm, hand = chain
            if collar is not None:
                self.parts[f"{side}_shoulder"] = (collar,)
        self.parts[f"{side}_upper_arm"] = (upper,)
        self.parts[f"{side}_forearm"] = (forearm,)
        if hand is None:
            hand = self._hand(side, forearm)
        if hand is not None:
            self.parts[f"{side}_hand"] = (hand,)
        if f"{side}_shoulder" not in self.parts:
            collar = self.find("shoulder", side, set(self.rig.ancestors(upper)))
            if collar:
                self.parts[f"{side}_shoulder"] = (collar[0],)

    def _hand(self, side: str, forearm: int) -> int | None:
        region = self.below(forearm)
        candidates = self.find("hand", side, region)
        if not candidates:
            candidates = [j for j in region if self.s.usable[j] and self.s.names[j].base.startswith("palm")]
        if not candidates:  # structure: the first bone below the forearm that fans out
            j = forearm
            while True:
                kids = [k for k in self.rig.children[j] if self.s.usable[k]]
                if not kids:
                    return None if j == forearm else j
                if j != forearm and len(kids) >= 2:
                    return j
                j = max(kids, key=lambda k: len(self.rig.descendants(k)))
        if len(candidates) == 1:
            return candidates[0]

        def fingers_below(j: int) -> tuple[int, int]:
            found = [finger_of(self.s.names[k].base) for k in self.below(j)]
            return (sum(1 for f in found if f and f[0] == "middle"), sum(1 for f in found if f))

        return max(candidates, key=fingers_below)

    def _structural_limb(self, side: str, arm: bool) -> tuple[int | None, int, int, int | None] | None:
        """(collar, upper, lower, end) of the chain reaching furthest out (arm) or lowest (leg).

        The chain runs from where the left and right chains meet (the chest, the pelvis)
        out to the tip, so it does not matter how far from the midline a collar starts.
        """
        s = self.s
        centre = float(np.median(s.heads[:, s.lateral]))
        tips = {}
        for which in SIDES:
            sign = s.side_sign(which)
            leaves = [j for j in range(self.rig.num_bones) if s.usable[j] and not self.rig.children[j]
                      and sign * (s.tails[j, s.lateral] - centre) > 0.02 * s.height]
            if not leaves:
                return None
            if arm:
                tips[which] = max(leaves, key=lambda j, sign=sign: sign * s.tails[j, s.lateral])
            else:
                tips[which] = min(leaves, key=lambda j: s.tails[j, 1])
        tip = tips[side]
        other = next(tips[o] for o in SIDES if o != side)
        other_line = set(self.rig.ancestors(other))
        chain: list[int] = []
        for j in [tip, *self.rig.ancestors(tip)]:
            if j in other_line:
                break
            if s.usable[j]:
                chain.append(j)
        chain.reverse()
        if len(chain) < 2:
            return None
        if arm:
            if len(chain) < 3:  # upper arm, forearm and hand at least
                return None
            collar = None
            if len(chain) >= 4 and s.length(chain[0]) < 0.6 * s.length(chain[1]):
                collar, chain = chain[0], chain[1:]
            upper = chain[0]
            hand = next((j for j in chain[1:] if sum(s.usable[k] for k in self.rig.children[j]) >= 2),
                        chain[-1] if len(chain) >= 3 else None)
            end = hand if hand is not None else chain[-1]
            target = s.heads[upper] + 0.56 * (s.heads[end] - s.heads[upper])
            middle = [j for j in chain[1:] if j != hand and (hand is None or self.rig.is_ancestor(j, hand))]
            if not middle:
                return None
            lower = min(middle, key=lambda j: np.linalg.norm(s.heads[j] - target))
            return collar, upper, lower, hand
        upper = chain[0]
        ankle_height = s.floor + 0.12 * s.height
        feet = [j for j in chain[1:] if s.heads[j, 1] < ankle_height]
        end = feet[0] if feet else None
        stop = end if end is not None else chain[-1]
        target = 0.5 * (s.heads[upper, 1] + s.heads[stop, 1])
        middle = [j for j in chain[1:] if j != end and (end is None or self.rig.is_ancestor(j, end))]
        if not middle:
            return None
        lower = min(middle, key=lambda j: abs(s.heads[j, 1] - target))
        return None, upper, lower, end

    # --------------------------------------------------------------- legs

    def _leg(self, side: str, hips: int | None) -> None:
        thigh = shin = foot = None
        named = self.find("thigh", side)
        for cand in named:
            lower = self.find("shin", side, self.below(cand))
            if lower:
                thigh, shin = cand, lower[0]
                break
        if thigh is None and named:  # a thigh by name with nothing below it: map only that
            self.parts[f"{side}_thigh"] = (named[0],)
            return
        if thigh is None:
            chain = self._structural_limb(side, arm=False)
            if chain is None:
                return
            _, thigh, shin, foot = chain
        self.parts[f"{side}_thigh"] = (thigh,)
        self.parts[f"{side}_shin"] = (shin,)
        if foot is None:
            found = self.find("foot", side, self.below(shin))
            foot = found[0] if found else None
        if foot is not None:
            self.parts[f"{side}_foot"] = (foot,)
            toes = self.find("toe", side, self.below(foot))
            if not toes:
                kids = [k for k in self.rig.children[foot] if self.s.usable[k]]
                toes = kids[:1] if len(kids) == 1 else []
            if toes:
                self.parts[f"{side}_toe"] = (toes[0],)

    # --------------------------------------------------------------- trunk

    def _trunk(self, hips: int | None, head: int | None) -> None:
        if hips is None or head is None or not self.rig.is_ancestor(hips, head):
            return
        path = [head, *self.rig.ancestors(head)]
        trunk = list(reversed(path[: path.index(hips) + 1]))  # hips ... head
        between = [j for j in trunk[1:-1] if self.s.usable[j]]
        if not between:
            return
        chest = self._chest(trunk, between)
        cut = between.index(chest) + 1 if chest in between else len(between)
        spine, neck = between[:cut], between[cut:]
        if spine:
            self.parts["spine"] = tuple(spine)
        if neck:
            self.parts["neck"] = tuple(neck)

    def _chest(self, trunk: list[int], between: list[int]) -> int | None:
        """The trunk bone the arms hang from (by hierarchy, else the highest one below them)."""
        arm_roots = [self.parts[k][0] for side in SIDES for k in (f"{side}_shoulder", f"{side}_upper_arm")
                     if k in self.parts]
        if not arm_roots:
            return between[-1] if len(between) > 1 else between[0]
        on_trunk = set(trunk)
        for root in arm_roots:
            anc = next((a for a in self.rig.ancestors(root) if a in on_trunk), None)
            if anc is not None and anc in between:
                return anc
            if anc is not None and anc == trunk[0]:
                return None  # the arms hang from the hips: every trunk bone is spine
        level = min(self.s.heads[r, 1] for r in arm_roots)
        below = [j for j in between if self.s.heads[j, 1] < level - 1e-6 * self.s.height]
        return below[-1] if below else None

    # --------------------------------------------------------------- fingers, face

    def _fingers(self, side: str) -> None:
        forearm = self.parts.get(f"{side}_forearm", (None,))[0]
        hand = self.parts.get(f"{side}_hand", (None,))[0]
        root = forearm if forearm is not None else hand
        if root is None:
            return
        taken = self.taken()
        region = [j for j in self.rig.descendants(root) if self.s.usable[j] and j not in taken]
        by_finger: dict[str, list[tuple[int, int | None]]] = {f: [] for f in FINGERS}
        for j in region:
            found = finger_of(self.s.names[j].base)
            if found:
                by_finger[found[0]].append((j, found[1]))
        mapped: set[int] = set()
        for finger, bones in by_finger.items():
            bones.sort(key=lambda b: (self.s.depth[b[0]], b[1] or 0))
            if finger != "thumb":
                bones = [b for b in bones if b[1] != 0]
                if len(bones) > 3:
                    bones = bones[len(bones) - 3:]
            for k, (j, _) in enumerate(bones[:3], start=1):
                self.parts[finger_part(side, finger, k)] = (j,)
                mapped.add(j)
        if hand is None or forearm is None:
            return
        for j in self.rig.children[forearm]:  # sibling palms of a hand that is several bones
            if j == hand or j in mapped or not self.s.usable[j] or self.rig.is_ancestor(j, hand):
                continue
            if any(k in mapped for k in self.rig.descendants(j)):
                self.followers[j] = hand

    def _face(self, head: int | None) -> None:
        if head is None:
            return
        region = self.below(head)
        for side in SIDES:
            eyes = self.find("eye", side, region)
            if eyes:
                self.parts[f"{side}_eye"] = (eyes[0],)
        jaw = self.find("jaw", "", region)
        if jaw:
            self.parts["jaw"] = (jaw[0],)
