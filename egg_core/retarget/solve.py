"""Carry motion from one rig to another as world-space rotation deltas, rest poses corrected.

The method, per mapped target bone ``b`` playing part ``p``:

1. **Source delta.** ``Delta_k(t) = W_k(t) R_k^-1``: how far each source bone of ``p`` has
   turned from its rest orientation, in the body frame (for SMPL-X, whose rest frames are
   the identity, it is the joint's global rotation from forward kinematics).
2. **Chains.** Parts with several bones (spine, neck) are cut by position along the chain
   (cumulative rest length from the first bone's head to the part's aim). A target bone
   covering ``[u0, u1]`` takes the overlap-weighted average of the source bones' deltas
   there, then the smallest extra swing that lays its rest chord exactly onto the posed
   source chord over the same stretch, so two spine bones or five follow the same curve.
   A one-bone part reduces to the source bone's own delta.
3. **Rest correction.** ``C_b`` is the smallest rotation taking the target bone's rest
   direction (head to the next part's head, or its tail) onto the source's rest direction
   over the same stretch; the hips also line up left-right. It turns an A-pose arm (or a
   Mixamo hips bone that points down) into the source's T-pose before the source motion is
   applied, so every rest pose comes out with the same world directions.
4. **World target.** ``D_b(t) = Delta'(t) C_b`` is the bone's world delta; its pose rotation
   in its own rest frame is ``B_b = (U R_b)^T D_M^T D_b (U R_b)`` with ``M`` the nearest
   mapped bone it inherits from (``U`` = rig space to body frame). Unmapped bones (twist,
   helpers, a missing neck) keep their rest pose and so follow their parents; the bones
   mapped below them still get the right world rotation, which is how a missing bone's
   motion is folded into its neighbours.

Root motion is the source pelvis displacement (from its first frame horizontally, from
standing height vertically) scaled by the ratio of leg lengths, applied to the lowest
common parent of the hips and thighs; ``in_place`` keeps the vertical part only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from egg_core.motion import Motion
from egg_core.retarget.bonemap import BoneMap, BoneMapError
from egg_core.retarget.names import is_end_marker
from egg_core.retarget.parts import PARTS, SIDES, part
from egg_core.retarget.rig import Rig, smplx_rig
from egg_core.rotations import (
    axis_angle_to_matrix,
    matrix_to_quat,
    quat_to_matrix,
    rotation_between,
)
from egg_core.skeleton import PELVIS_HEIGHT, SMPLX, forward_kinematics

__all__ = [
    "RetargetPlan",
    "aim_part",
    "aim_vector",
    "Retargeted",
    "facing_rotation",
    "pelvis_displacement",
    "plan_retarget",
    "retarget_motion",
    "smplx_bone_map",
]


@functools.lru_cache(maxsize=1)
def smplx_bone_map() -> BoneMap:
    """Every part mapped onto the SMPL-X joints that drive it."""
    return BoneMap({p.name: p.joints for p in PARTS}, convention="smplx")


# --------------------------------------------------------------------------- geometry of a mapped rig


def aim_part(rig_map: BoneMap, name: str) -> str | None:
    """The part whose first bone marks where part ``name`` points on this rig (None: its tail)."""
    return next((a for a in part(name).aims if a in rig_map.parts), None)


def aim_vector(rig: Rig, rig_map: BoneMap, name: str, aim: str | None) -> np.ndarray:
    """Rest vector (body frame, metres) from part ``name``'s first bone to where it points.

    This is the direction the retarget lines up between two rigs, so it is also what a
    fidelity check should compare: the same ``aim`` (from :func:`aim_part` on the *target*)
    on both rigs.
    """
    bone = rig.index(rig_map.parts[name][0])
    return _aim_point(rig, rig_map, name, bone, aim) - rig.body_heads[bone]


def _aim_point(rig: Rig, rig_map: BoneMap, name: str, bone: int, aim: str | None) -> np.ndarray:
    """Body-frame point the last bone of part ``name`` points at."""
    heads = rig.body_heads
    if aim is not None and aim in rig_map.parts:
        point = heads[rig.index(rig_map.parts[aim][0])]
        if np.linalg.norm(point - heads[bone]) > 1e-6:
            return point
    ends = [k for k in rig.children[bone] if is_end_marker(rig.bone_names[k])]
    for k in ends:  # e.g. Mixamo's HeadTop_End: the tail would point at the eyes' mean instead
        if np.linalg.norm(heads[k] - heads[bone]) > 1e-6:
            return heads[k]
    return rig.body_tails[bone]


def _chain_points(rig: Rig, rig_map: BoneMap, names: list[str], aim: str | None) -> tuple[list[int], np.ndarray]:
    """Bone indices of the parts ``names`` (in order) and the chain's points: heads, then the aim."""
    bones = [rig.index(b) for n in names for b in rig_map.parts[n]]
    points = [rig.body_heads[j] for j in bones]
    points.append(_aim_point(rig, rig_map, names[-1], bones[-1], aim))
    return bones, np.asarray(points)


def _fractions(points: np.ndarray) -> np.ndarray:
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    total = float(lengths.sum())
    if total < 1e-9:
        return np.linspace(0.0, 1.0, len(points))
    return np.concatenate([[0.0], np.cumsum(lengths) / total])


def facing_rotation(rig: Rig, rig_map: BoneMap) -> np.ndarray:
    """Turn about the vertical, by a multiple of 90 degrees, that makes the rig face +Z.

    Rigs are built facing one of the axes; which one is read from the mapped bones (the
    body's left from the thighs or arms, up from hips to head). Only quarter turns are
    taken, so a rig modelled slightly askew keeps its own orientation.
    """
    heads = rig.body_heads
    pairs = [("left_thigh", "right_thigh"), ("left_upper_arm", "right_upper_arm"),
             ("left_shoulder", "right_shoulder")]
    left = None
    for a, b in pairs:
        if a in rig_map.parts and b in rig_map.parts:
            left = heads[rig.index(rig_map.parts[a][0])] - heads[rig.index(rig_map.parts[b][0])]
            break
    if left is None:
        return np.eye(3)
    forward = np.cross(left, [0.0, 1.0, 0.0])
    if np.linalg.norm(forward[[0, 2]]) < 1e-9:
        return np.eye(3)
    quarter = round(np.arctan2(forward[0], forward[2]) / (np.pi / 2)) * (np.pi / 2)
    c, s = np.cos(-quarter), np.sin(-quarter)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _body_frame(up: np.ndarray, left: np.ndarray) -> np.ndarray:
    up = up / np.linalg.norm(up)
    left = left - np.dot(left, up) * up
    left = left / np.linalg.norm(left)
    return np.stack([left, up, np.cross(left, up)], axis=1)


def _left_vector(rig: Rig, rig_map: BoneMap) -> np.ndarray | None:
    for a, b in (("left_thigh", "right_thigh"), ("left_upper_arm", "right_upper_arm")):
        if a in rig_map.parts and b in rig_map.parts:
            v = rig.body_heads[rig.index(rig_map.parts[a][0])] - rig.body_heads[rig.index(rig_map.parts[b][0])]
            if np.linalg.norm(v) > 1e-6:
                return v
    return None


def _leg_length(rig: Rig, rig_map: BoneMap) -> float | None:
    heads = rig.body_heads
    lengths = []
    for side in SIDES:
        thigh, shin, foot = (rig_map.parts.get(f"{side}_{k}") for k in ("thigh", "shin", "foot"))
        if not thigh or not shin:
            continue
        t, s = heads[rig.index(thigh[0])], heads[rig.index(shin[0])]
        lower = heads[rig.index(foot[0])] if foot else rig.body_tails[rig.index(shin[0])]
        lengths.append(np.linalg.norm(s - t) + np.linalg.norm(lower - s))
    return float(np.mean(lengths)) if lengths else None


def _lowest_common_parent(rig: Rig, bones: list[int]) -> int:
    common = None
    for j in bones:
        line = [j, *rig.ancestors(j)]
        common = line if common is None else [k for k in common if k in set(line)]
    return common[0] if common else bones[0]


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Piece:
    """One target bone's share of a source chain."""

    sources: tuple[int, ...]  # source bone indices
    weights: np.ndarray  # (n,) share of the target stretch each source bone covers
    spans: np.ndarray  # (n,) part of each source bone's own length inside the stretch
    chords: np.ndarray  # (n, 3) rest chord of each source bone (body frame, metres)
    correction: np.ndarray  # (3, 3) C_b


@dataclass(frozen=True)
class RetargetPlan:
    """Everything about one (source, target, bone map) that does not depend on the motion.

    ``bones`` are the mapped target bones (followers included); ``parents[k]`` the index in
    ``bones`` of the bone whose motion bone ``k`` inherits (-1: none); ``parts[k]`` its part.
    """

    source: Rig
    target: Rig
    bone_map: BoneMap
    bones: tuple[str, ...]
    parts: tuple[str, ...]
    parents: tuple[int, ...]
    rest_body: np.ndarray  # (K, 3, 3) U R_b
    pieces: tuple[_Piece | int, ...]  # a piece, or the index of the bone a follower copies
    root_bone: str
    root_parent: int
    root_scale: float

    def world_deltas(self, source_deltas: np.ndarray) -> np.ndarray:
        """``D_b(t)`` ``(T, K, 3, 3)`` from the source bones' deltas ``(T, Js, 3, 3)`` (body frame)."""
        src = np.asarray(source_deltas, dtype=np.float64)
        out = np.empty((src.shape[0], len(self.bones), 3, 3))
        for k, piece in enumerate(self.pieces):
            if isinstance(piece, int):
                continue
            out[:, k] = _blend(src, piece) @ piece.correction
        for k, piece in enumerate(self.pieces):
            if isinstance(piece, int):
                out[:, k] = out[:, piece]
        return out

    def local_rotations(self, deltas: np.ndarray, keyed: Iterable[str] | None = None) -> np.ndarray:
        """Pose rotations ``(T, K, 3, 3)`` in each bone's rest frame; bones not in ``keyed`` stay
        at rest (the bones mapped below them then move relative to them, as in the source)."""
        d = np.asarray(deltas, dtype=np.float64)
        rel = d.copy()
        for k, p in enumerate(self.parents):
            if p >= 0:
                rel[:, k] = np.swapaxes(d[:, p], -1, -2) @ d[:, k]
        rest = self.rest_body
        local = np.swapaxes(rest, -1, -2)[None] @ rel @ rest[None]
        if keyed is not None:
            keep = set(keyed)
            for k, bone in enumerate(self.bones):
                if bone not in keep:
                    local[:, k] = np.eye(3)
        return local

    def root_location(self, displacement: np.ndarray, deltas: np.ndarray | None = None,
                      parent_keyed: bool = True) -> np.ndarray:
        """Pose location ``(T, 3)`` of :attr:`root_bone` (rig units, its rest frame) that moves
        it by ``displacement`` ``(T, 3)`` (body frame, metres, already scaled)."""
        disp = np.asarray(displacement, dtype=np.float64) / self.target.metres_per_unit
        r = self.target.index(self.root_bone)
        rest = self.target.to_body @ self.target.rest_rotations[r]
        if self.root_parent >= 0 and parent_keyed and deltas is not None:
            disp = np.einsum("tji,tj->ti", deltas[:, self.root_parent], disp)
        return disp @ rest


def _blend(src: np.ndarray, piece: _Piece) -> np.ndarray:
    """The source rotation over one target bone's stretch of a chain ``(T, 3, 3)``."""
    if len(piece.sources) == 1:
        return src[:, piece.sources[0]]
    mats = src[:, list(piece.sources)]  # (T, n, 3, 3)
    quats = matrix_to_quat(mats)
    main = int(np.argmax(piece.weights))
    signs = np.where(np.einsum("tnq,tq->tn", quats, quats[:, main]) < 0, -1.0, 1.0)
    mean = np.einsum("tnq,n->tq", quats * signs[..., None], piece.weights)
    rot = quat_to_matrix(mean / np.linalg.norm(mean, axis=-1, keepdims=True))
    rest_chord = piece.spans @ piece.chords
    posed_chord = np.einsum("n,tnij,nj->ti", piece.spans, mats, piece.chords)
    return rotation_between(np.einsum("tij,j->ti", rot, rest_chord), posed_chord) @ rot


def _pieces_for_chain(src_points: np.ndarray, src_bones: list[int], tgt_points: np.ndarray) -> list[tuple]:
    """Per target bone: (source bones, weights, spans, chords, rest chord) over its stretch."""
    a = _fractions(src_points)
    u = _fractions(tgt_points)
    chords = np.diff(src_points, axis=0)
    out = []
    for m in range(len(tgt_points) - 1):
        u0, u1 = u[m], u[m + 1]
        idx, weights, spans = [], [], []
        for k in range(len(src_bones)):
            lo, hi = max(u0, a[k]), min(u1, a[k + 1])
            if hi - lo > 1e-9:
                idx.append(k)
                weights.append((hi - lo) / max(u1 - u0, 1e-12))
                spans.append((hi - lo) / max(a[k + 1] - a[k], 1e-12))
        if not idx:  # a zero-length target bone: the source bone it sits in
            k = int(np.clip(np.searchsorted(a, u0, side="right") - 1, 0, len(src_bones) - 1))
            idx, weights, spans = [k], [1.0], [1.0]
        w = np.asarray(weights)
        out.append((tuple(src_bones[k] for k in idx), w / w.sum(), np.asarray(spans),
                    chords[idx]))
    return out


def _effective_parents(target: Rig, bones: list[int]) -> list[int]:
    position = {j: k for k, j in enumerate(bones)}
    out = []
    for j in bones:
        out.append(next((position[a] for a in target.ancestors(j) if a in position), -1))
    return out


def plan_retarget(
    target: Rig,
    bone_map: BoneMap,
    source: Rig | None = None,
    source_map: BoneMap | None = None,
    effective_parents: Mapping[str, str | None] | None = None,
    root_bone: str | None = None,
) -> RetargetPlan:
    """Prepare retargeting from ``source`` (default SMPL-X) onto ``target`` with ``bone_map``.

    ``effective_parents`` (bone -> mapped bone or None) overrides the hierarchy where
    constraints decide what a bone follows (a Rigify rig, measured by the add-on);
    ``root_bone`` overrides the bone that carries root motion.
    """
    source = source if source is not None else smplx_rig()
    source_map = source_map if source_map is not None else smplx_bone_map()
    bone_map.check_bones(target.bone_names, f"rig {target.name!r}")
    source_map.check_bones(source.bone_names, f"rig {source.name!r}")
    target = target.with_to_body(facing_rotation(target, bone_map) @ target.to_body)
    source = source.with_to_body(facing_rotation(source, source_map) @ source.to_body)
    shared = [p.name for p in PARTS if p.name in bone_map.parts and p.name in source_map.parts]
    if not shared:
        raise BoneMapError(f"rig {target.name!r} and {source.name!r} have no mapped body part in common")

    bones: list[int] = []
    bone_parts: list[str] = []
    raw: list[tuple] = []
    src_left, tgt_left = _left_vector(source, source_map), _left_vector(target, bone_map)
    corrections: dict[str, np.ndarray] = {}
    for name in shared:
        src_names, tgt_names = [name], [name]
        if name == "spine" and "neck" not in bone_map.parts and "neck" in source_map.parts:
            src_names.append("neck")  # no neck on the target: its spine reaches the head
        aim = aim_part(bone_map, tgt_names[-1])
        src_bones, src_points = _chain_points(source, source_map, src_names, aim)
        tgt_bones, tgt_points = _chain_points(target, bone_map, tgt_names, aim)
        for m, (srcs, w, spans, chords) in enumerate(_pieces_for_chain(src_points, src_bones, tgt_points)):
            rest_chord = spans @ chords
            tgt_dir = tgt_points[m + 1] - tgt_points[m]
            if name == "hips" and src_left is not None and tgt_left is not None:
                correction = _body_frame(rest_chord, src_left) @ _body_frame(tgt_dir, tgt_left).T
            elif part(name).group == "face" and "head" in corrections:
                correction = corrections["head"]  # an eye's or jaw's tail is a guess: keep its rest to the head
            else:
                correction = rotation_between(tgt_dir, rest_chord)
            bones.append(tgt_bones[m])
            bone_parts.append(name)
            raw.append(_Piece(srcs, w, spans, chords, np.asarray(correction)))
            corrections.setdefault(name, np.asarray(correction))
    leaders = {target.bone_names[j]: k for k, j in enumerate(bones)}
    for follower, leader in bone_map.followers.items():
        if leader in leaders:
            bones.append(target.index(follower))
            bone_parts.append(bone_parts[leaders[leader]])
            raw.append(leaders[leader])

    names = [target.bone_names[j] for j in bones]
    if effective_parents is None:
        parents = _effective_parents(target, bones)
    else:
        position = {n: k for k, n in enumerate(names)}
        parents = [position.get(effective_parents.get(n) or "", -1) for n in names]
    rest_body = np.einsum("ij,kjl->kil", target.to_body, target.rest_rotations[bones])

    root_name = root_bone or bone_map.root
    if not root_name and "hips" in bone_map.parts:
        legs = [target.index(bone_map.parts[f"{s}_thigh"][0]) for s in SIDES if f"{s}_thigh" in bone_map.parts]
        hips = target.index(bone_map.parts["hips"][0])
        root_name = target.bone_names[_lowest_common_parent(target, [hips, *legs])]
    root_parent = -1
    if root_name:
        r = target.index(root_name)
        position = {j: k for k, j in enumerate(bones)}
        if root_name in names and parents[names.index(root_name)] >= 0:
            root_parent = parents[names.index(root_name)]
        elif root_name not in names:
            root_parent = next((position[a] for a in target.ancestors(r) if a in position), -1)
    src_leg, tgt_leg = _leg_length(source, source_map), _leg_length(target, bone_map)
    if src_leg and tgt_leg:
        scale = tgt_leg / src_leg
    else:
        scale = _trunk_ratio(source, source_map, target, bone_map)
    return RetargetPlan(source, target, bone_map, tuple(names), tuple(bone_parts), tuple(parents),
                        rest_body, tuple(raw), root_name, root_parent, scale)


def _trunk_ratio(source: Rig, source_map: BoneMap, target: Rig, bone_map: BoneMap) -> float:
    def span(rig: Rig, m: BoneMap) -> float | None:
        if "hips" in m.parts and "head" in m.parts:
            return float(np.linalg.norm(rig.body_heads[rig.index(m.parts["head"][0])]
                                        - rig.body_heads[rig.index(m.parts["hips"][0])]))
        return None

    a, b = span(source, source_map), span(target, bone_map)
    return b / a if a and b else 1.0


# --------------------------------------------------------------------------- SMPL-X motion onto a rig


@dataclass(frozen=True)
class Retargeted:
    """A motion on a target rig: per bone pose rotations and the root bone's pose location.

    ``rotations`` ``(T, K, 4)`` are quaternions (w first) in each bone's rest frame, as
    Blender's ``rotation_quaternion``; ``matrices`` the same as ``(T, K, 3, 3)``;
    ``deltas`` the world deltas ``D_b``. ``location`` ``(T, 3)`` is None without root motion.
    """

    bones: tuple[str, ...]
    rotations: np.ndarray
    matrices: np.ndarray
    deltas: np.ndarray
    root_bone: str
    location: np.ndarray | None
    fps: float


def pelvis_displacement(motion: Motion, scale: float = 1.0, in_place: bool = False) -> np.ndarray:
    """The SMPL-X pelvis's move ``(T, 3)`` from where it starts (horizontally) and from standing
    height (vertically), times ``scale``; ``in_place`` zeroes the horizontal part."""
    trans = motion.trans.astype(np.float64)
    pelvis = trans + SMPLX.offsets[0]
    disp = pelvis - np.array([pelvis[0, 0], PELVIS_HEIGHT, pelvis[0, 2]])
    if in_place:
        disp[:, [0, 2]] = 0.0
    return scale * disp


def retarget_motion(
    motion: Motion,
    plan: RetargetPlan,
    parts: Iterable[str] | None = None,
    root_motion: bool = True,
    in_place: bool = False,
) -> Retargeted:
    """Put an SMPL-X :class:`Motion` onto the plan's target rig.

    ``parts`` limits which parts get their motion (the others are held at rest); default
    all. ``root_motion`` adds the root bone's location (scaled by leg length), ``in_place``
    keeps only its vertical part.
    """
    if plan.source.bone_names != SMPLX.joint_names:
        raise BoneMapError("retarget_motion takes a plan made from the SMPL-X source rig")
    rot = axis_angle_to_matrix(motion.poses.astype(np.float64))
    _, globals_ = forward_kinematics(SMPLX, rot)
    deltas = plan.world_deltas(globals_)
    wanted = set(parts) if parts is not None else set(plan.parts)
    keyed = [b for b, p in zip(plan.bones, plan.parts, strict=True) if p in wanted]
    local = plan.local_rotations(deltas, keyed)
    location = None
    if root_motion and plan.root_bone:
        parent_keyed = plan.root_parent >= 0 and plan.bones[plan.root_parent] in set(keyed)
        location = plan.root_location(pelvis_displacement(motion, plan.root_scale, in_place),
                                      deltas, parent_keyed)
    return Retargeted(plan.bones, np.asarray(matrix_to_quat(local)), local, deltas, plan.root_bone,
                      location, motion.fps)
