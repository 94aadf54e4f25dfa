"""A rig's rest pose as the retargeter needs it, whatever program it comes from.

A :class:`Rig` is a bone tree with, per bone, its rest head and tail positions and its
rest orientation, all in the rig's own space and units, plus the rotation and scale that
take that space into the body frame of :mod:`egg_core.skeleton` (metres, Y up, +Z the
way the body faces, +X its left). Blender armatures (rest matrices in armature space,
object transform on top), BVH skeletons (offsets, every joint's rest orientation the
identity) and SMPL-X itself are all expressed this way, so one retargeter serves the
add-on, the BVH export and the training data reader.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from egg_core.errors import EggError
from egg_core.skeleton import SMPLX, Skeleton

__all__ = ["Rig", "RigError", "rig_from_skeleton", "smplx_rig"]


class RigError(EggError):
    """A rig cannot be retargeted as given (the message says what is wrong with it)."""


@dataclass(frozen=True, eq=False)
class Rig:
    """Rest pose of a bone tree (see the module docstring).

    - ``heads``, ``tails``: ``(J, 3)`` rest positions in rig units; a bone points head -> tail.
    - ``rest_rotations``: ``(J, 3, 3)`` each bone's rest frame (its axes as columns) in rig
      space; a bone's pose rotation is applied in this frame (Blender's bone matrix, the
      identity for BVH).
    - ``to_body``: ``(3, 3)`` rotation from rig space to the body frame.
    - ``metres_per_unit``: rig units to metres (0.01 for centimetres, an object scale...).
    """

    name: str
    bone_names: tuple[str, ...]
    parents: tuple[int, ...]
    heads: np.ndarray
    tails: np.ndarray
    rest_rotations: np.ndarray
    to_body: np.ndarray = field(default_factory=lambda: np.eye(3))
    metres_per_unit: float = 1.0

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.bone_names)
        n = len(names)
        parents = tuple(int(p) for p in self.parents)
        heads = np.array(self.heads, dtype=np.float64, copy=True)
        tails = np.array(self.tails, dtype=np.float64, copy=True)
        rest = np.array(self.rest_rotations, dtype=np.float64, copy=True)
        to_body = np.array(self.to_body, dtype=np.float64, copy=True)
        if n == 0:
            raise RigError(f"rig {self.name!r} has no bones")
        if len(set(names)) != n:
            raise RigError(f"rig {self.name!r}: bone names are not unique")
        if len(parents) != n or heads.shape != (n, 3) or tails.shape != (n, 3) or rest.shape != (n, 3, 3):
            raise RigError(f"rig {self.name!r}: {n} bones but {len(parents)} parents, heads {heads.shape}, "
                           f"tails {tails.shape}, rest rotations {rest.shape}")
        if not all(np.all(np.isfinite(a)) for a in (heads, tails, rest, to_body)):
            raise RigError(f"rig {self.name!r}: rest positions or rotations are not finite")
        if any(not -1 <= p < n or p == j for j, p in enumerate(parents)):
            raise RigError(f"rig {self.name!r}: a parent index is out of range")
        for j in range(n):  # no cycles: every chain of parents ends at a root within n steps
            p, steps = parents[j], 0
            while p >= 0:
                p, steps = parents[p], steps + 1
                if steps > n:
                    raise RigError(f"rig {self.name!r}: the parents of bone {names[j]!r} form a cycle")
        for what, m in (("rest rotations", rest), ("to_body", to_body[None])):
            if not np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-4):
                raise RigError(f"rig {self.name!r}: {what} must be rotations (orthonormal); "
                               "a sheared or mirrored bone or object cannot be retargeted")
        if not (np.isfinite(self.metres_per_unit) and self.metres_per_unit > 0):
            raise RigError(f"rig {self.name!r}: metres_per_unit must be positive, got {self.metres_per_unit}")
        for a in (heads, tails, rest, to_body):
            a.setflags(write=False)
        object.__setattr__(self, "bone_names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "heads", heads)
        object.__setattr__(self, "tails", tails)
        object.__setattr__(self, "rest_rotations", rest)
        object.__setattr__(self, "to_body", to_body)
        object.__setattr__(self, "metres_per_unit", float(self.metres_per_unit))

    @property
    def num_bones(self) -> int:
        return len(self.bone_names)

    def index(self, name: str) -> int:
        """Index of bone ``name`` (RigError naming the rig when absent)."""
        try:
            return self._index[name]
        except KeyError:
            raise RigError(f"rig {self.name!r} has no bone called {name!r}") from None

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.bone_names)}

    @functools.cached_property
    def children(self) -> tuple[tuple[int, ...], ...]:
        kids: list[list[int]] = [[] for _ in self.bone_names]
        for j, p in enumerate(self.parents):
            if p >= 0:
                kids[p].append(j)
        return tuple(tuple(k) for k in kids)

    @functools.cached_property
    def order(self) -> tuple[int, ...]:
        """Bone indices with every parent before its children."""
        out: list[int] = []
        stack = [j for j, p in reversed(list(enumerate(self.parents))) if p < 0]
        while stack:
            j = stack.pop()
            out.append(j)
            stack.extend(reversed(self.children[j]))
        return tuple(out)

    def ancestors(self, j: int) -> list[int]:
        """Parent, grandparent, ... of bone ``j`` (nearest first)."""
        out = []
        p = self.parents[j]
        while p >= 0:
            out.append(p)
            p = self.parents[p]
        return out

    def is_ancestor(self, a: int, b: int) -> bool:
        """True when bone ``a`` is a (strict) ancestor of bone ``b``."""
        return a in self.ancestors(b)

    def descendants(self, j: int) -> list[int]:
        """Every bone below ``j`` (depth first)."""
        out: list[int] = []
        stack = list(reversed(self.children[j]))
        while stack:
            k = stack.pop()
            out.append(k)
            stack.extend(reversed(self.children[k]))
        return out

    def to_body_points(self, points: np.ndarray) -> np.ndarray:
        """Rig-space positions or vectors ``(..., 3)`` in body-frame metres."""
        return self.metres_per_unit * (np.asarray(points, dtype=np.float64) @ self.to_body.T)

    @functools.cached_property
    def body_heads(self) -> np.ndarray:
        return self.to_body_points(self.heads)

    @functools.cached_property
    def body_tails(self) -> np.ndarray:
        return self.to_body_points(self.tails)

    def with_to_body(self, to_body: np.ndarray) -> Rig:
        """The same rig seen through another rig-to-body rotation (e.g. turned to face +Z)."""
        return Rig(self.name, self.bone_names, self.parents, self.heads, self.tails,
                   self.rest_rotations, to_body, self.metres_per_unit)


def rig_from_skeleton(
    skeleton: Skeleton,
    end_sites: Mapping[int, np.ndarray] | None = None,
    tails: Mapping[int, np.ndarray] | None = None,
) -> Rig:
    """A :class:`Rig` for a BVH-style skeleton: every rest orientation the identity.

    Tails follow the usual BVH reading: a joint with one child points at it, one with
    several at their mean, a leaf at its ``End Site`` (else half its own bone further
    on). ``tails`` (joint index -> position) overrides any of them.
    """
    heads = skeleton.rest_positions()
    n = skeleton.num_joints
    kids: list[list[int]] = [[] for _ in range(n)]
    for j, p in enumerate(skeleton.parents):
        if p >= 0:
            kids[p].append(j)
    out = np.empty((n, 3))
    sites = dict(end_sites or {})
    for j in range(n):
        if kids[j]:
            out[j] = heads[kids[j]].mean(axis=0)
        elif j in sites and np.linalg.norm(sites[j]) > 1e-9:
            out[j] = heads[j] + np.asarray(sites[j], dtype=np.float64)
        else:
            offset = np.asarray(skeleton.offsets[j], dtype=np.float64)
            length = float(np.linalg.norm(offset)) if skeleton.parents[j] >= 0 else 0.0
            direction = offset / length if length > 1e-9 else np.array([0.0, 1.0, 0.0])
            out[j] = heads[j] + direction * max(0.5 * length, 0.02)
        if np.linalg.norm(out[j] - heads[j]) < 1e-9:  # children on top of the joint
            out[j] = heads[j] + np.array([0.0, 0.02, 0.0])
    for j, tail in dict(tails or {}).items():
        out[j] = np.asarray(tail, dtype=np.float64)
    rest = np.broadcast_to(np.eye(3), (n, 3, 3))
    return Rig(skeleton.name, skeleton.joint_names, skeleton.parents, heads, out, rest)


@functools.lru_cache(maxsize=1)
def smplx_rig() -> Rig:
    """The SMPL-X skeleton as a :class:`Rig` (the source of every retarget).

    Leaf joints get tails in the directions their parts point: the head up, the eyes and
    the balls of the feet forward, the jaw forward and down, finger tips straight on.
    """
    names = SMPLX.joint_names
    heads = SMPLX.rest_positions()
    tails: dict[int, np.ndarray] = {}
    ahead = {"head": (0.0, 0.10, 0.0), "jaw": (0.0, -0.02, 0.05),
             "left_eye_smplhf": (0.0, 0.0, 0.03), "right_eye_smplhf": (0.0, 0.0, 0.03),
             "left_foot": (0.0, 0.0, 0.06), "right_foot": (0.0, 0.0, 0.06)}
    for name, step in ahead.items():
        j = names.index(name)
        tails[j] = heads[j] + np.array(step)
    for side in ("left", "right"):  # the hand points at the middle knuckle, not the fingers' mean
        tails[names.index(f"{side}_wrist")] = heads[names.index(f"{side}_middle1")]
    for j, name in enumerate(names):
        if name.endswith("3") and any(f in name for f in ("index", "middle", "ring", "pinky", "thumb")):
            offset = np.asarray(SMPLX.offsets[j], dtype=np.float64)
            tails[j] = heads[j] + 0.8 * offset
    return rig_from_skeleton(SMPLX, tails=tails)
