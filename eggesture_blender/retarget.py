"""Any armature as a gesture target: read its rest pose, keep its bone map, key a retargeted take.

This module only translates between Blender and ``egg_core.retarget`` (which does the
bone detection and the maths): an armature's bones become a ``Rig`` (rest matrices in
armature space, the object's world transform as the way into the body frame), the bone
map lives on the armature object so it is remembered with the .blend, and the solved pose
rotations are written with the bulk keyframe writer as a new take (the previous action is
kept) -- no constraints are added, nothing is baked.

Rigs whose controls follow each other through constraints (a generated Rigify rig) are
measured before keying: every mapped control is given a random rotation once, the
armature is evaluated, and the control whose motion each one inherits is read off the
result. With that, keying FK controls is as exact as keying plain bones. For Rigify the
take also switches the arms (and legs, when animated) to FK and makes the neck and head
follow the chest, by keying those switches in the take itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import bpy
import numpy as np

from . import compat, keyframes
from ._core import core
from .axes import Y_UP_TO_Z_UP
from .keyframes import BoneChannels

EggError = core("errors").EggError
log = logging.getLogger("eggesture_blender.retarget")


class RetargetError(EggError):
    """The chosen character cannot be animated as set up (the message says what to change)."""


# --------------------------------------------------------------------------- the rig


def rig_from_armature(obj: bpy.types.Object):
    """The armature's rest pose as an ``egg_core.retarget.Rig`` (armature space, object transform)."""
    rig_mod = core("retarget.rig")
    if obj is None or obj.type != "ARMATURE":
        raise RetargetError("Pick an armature as the character (an object of type Armature).")
    bones = list(obj.data.bones)
    if not bones:
        raise RetargetError(f"Armature '{obj.name}' has no bones.")
    world = np.array(obj.matrix_world.to_3x3())
    scale = np.linalg.norm(world, axis=0)
    if np.linalg.det(world) <= 0 or np.ptp(scale) > 0.01 * scale.mean():
        raise RetargetError(
            f"Armature '{obj.name}' is mirrored or scaled unevenly ({', '.join(f'{s:.3g}' for s in scale)}): "
            "apply its scale (Object > Apply > Scale) or give it the same scale on every axis."
        )
    index = {b.name: i for i, b in enumerate(bones)}
    rest = np.array([np.array(b.matrix_local.to_3x3()) for b in bones])
    rest /= np.linalg.norm(rest, axis=1, keepdims=True)  # bones may carry scale; keep the frame
    return rig_mod.Rig(
        obj.name,
        tuple(b.name for b in bones),
        tuple(index[b.parent.name] if b.parent is not None else -1 for b in bones),
        np.array([tuple(b.head_local) for b in bones]),
        np.array([tuple(b.tail_local) for b in bones]),
        rest,
        Y_UP_TO_Z_UP.T @ (world / scale),
        float(scale.mean()),
    )


# --------------------------------------------------------------------------- the stored map


#: The ``part`` of a list row whose bone copies another bone's motion (its ``leader``).
FOLLOWER = "follows"


def stored_bone_map(obj: bpy.types.Object):
    """The bone map kept on ``obj`` (None when Detect has not been run on it)."""
    rig = getattr(obj, "eggesture_rig", None)
    if rig is None or not len(rig.bones):
        return None
    parts: dict[str, list[str]] = {}
    followers: dict[str, str] = {}
    for item in rig.bones:
        if not item.bone:
            continue
        if item.part == FOLLOWER:
            followers[item.bone] = item.leader
        else:
            parts.setdefault(item.part, []).append(item.bone)
    try:
        return core("retarget").BoneMap(parts, followers, rig.convention, rig.root_bone)
    except core("retarget").BoneMapError as exc:
        raise RetargetError(f"The bone map of '{obj.name}' is inconsistent: {exc}") from None


def store_bone_map(obj: bpy.types.Object, bone_map) -> None:
    """Keep ``bone_map`` on ``obj`` as the editable list the panel shows."""
    rig = obj.eggesture_rig
    rig.bones.clear()
    for part, bones in bone_map.parts.items():
        for bone in bones:
            item = rig.bones.add()
            item.part, item.bone = part, bone
    for bone, leader in bone_map.followers.items():
        item = rig.bones.add()
        item.part, item.bone, item.leader = FOLLOWER, bone, leader
    rig.convention = bone_map.convention
    rig.root_bone = bone_map.root
    rig.active_bone = 0


def detect(obj: bpy.types.Object, convention: str = "auto"):
    """Detect ``obj``'s bone map (``convention``: "auto" or a preset) and store it on ``obj``."""
    bone_map = core("retarget").detect_bone_map(rig_from_armature(obj), convention)
    store_bone_map(obj, bone_map)
    return bone_map


def describe(bone_map) -> str:
    """One line for the panel: how much is mapped and what required part is missing."""
    retarget = core("retarget")
    text = (f"{len(bone_map.bones())} bones mapped, {bone_map.count('finger')} finger bones "
            f"({retarget.CONVENTION_LABELS.get(bone_map.convention, bone_map.convention or 'by structure')})")
    missing = bone_map.missing()
    return text + (f"; missing: {', '.join(missing)}" if missing else "")


def required_parts(joint_indices: Iterable[int], translate: bool) -> tuple[str, ...]:
    """The parts a take needs for the SMPL-X joints it animates (and the hips for root motion)."""
    retarget = core("retarget")
    names = {core("skeleton").SMPLX.joint_names[j] for j in joint_indices}
    wanted = set(retarget.parts_for_joints(names)) | ({"hips"} if translate else set())
    return tuple(p for p in retarget.REQUIRED_PARTS if p in wanted)


def bone_map_for(obj: bpy.types.Object, joint_indices: Iterable[int], translate: bool, store: bool = True):
    """The stored bone map of ``obj`` (detected first if it has none, and then kept on ``obj``
    when ``store``), checked against the armature and the parts the take animates; raises
    :class:`RetargetError` naming what is missing."""
    rig = rig_from_armature(obj)
    bone_map = stored_bone_map(obj)
    if bone_map is None:
        bone_map = core("retarget").detect_bone_map(rig)
        if store:
            store_bone_map(obj, bone_map)
    try:
        bone_map.check_bones(rig.bone_names, f"armature '{obj.name}'")
        bone_map.require(required_parts(joint_indices, translate), f"Armature '{obj.name}'")
    except core("retarget").BoneMapError as exc:
        raise RetargetError(f"{exc} (Gestures panel > Character > Bone Map)") from None
    return bone_map


def notes(obj: bpy.types.Object) -> list[str]:
    """What a take on ``obj`` will change besides its keys (shown before generating)."""
    out = []
    if obj is not None and obj.type == "ARMATURE" and obj.data.pose_position == "REST":
        out.append(f"Armature '{obj.name}' shows its Rest Position: it is switched to Pose Position "
                   "so the take shows.")
    bone_map = stored_bone_map(obj) if obj is not None and obj.type == "ARMATURE" else None
    if bone_map is not None and is_rigify(bone_map):
        out.append(f"Rigify rig '{obj.name}': the take keys its FK controls and switches its arms "
                   "(and legs, when animated) to FK.")
    return out


# --------------------------------------------------------------------------- Rigify


def is_rigify(bone_map) -> bool:
    return bone_map.convention == "rigify_fk"


@dataclass(frozen=True)
class Switch:
    """A Rigify custom property the take keys: ``pose.bones[bone][prop] = value``."""

    bone: str
    prop: str
    value: float


def rigify_switches(obj: bpy.types.Object, legs: bool) -> list[Switch]:
    """FK on for the arms (and legs), limbs following their parents, neck and head following the chest."""
    wanted = [Switch("torso", "neck_follow", 1.0), Switch("torso", "head_follow", 1.0)]
    limbs = ["upper_arm_parent"] + (["thigh_parent"] if legs else [])
    for limb in limbs:
        for side in ("L", "R"):
            wanted += [Switch(f"{limb}.{side}", "IK_FK", 1.0), Switch(f"{limb}.{side}", "FK_limb_follow", 0.0)]
    pose = obj.pose.bones
    return [s for s in wanted if s.bone in pose and s.prop in pose[s.bone].keys()]


#: Rigify controls that sit between keyed FK controls and must hold still for the take.
RIGIFY_HOLD = ("root", "hips", "chest", "palm.L", "palm.R", "thumb.01_master.L", "thumb.01_master.R",
               *(f"f_{f}.01_master.{s}" for f in ("index", "middle", "ring", "pinky") for s in "LR"))


# --------------------------------------------------------------------------- measuring what follows what


class _PoseState:
    """Save and restore the pose channels, rotation modes, custom properties and animation
    state a measurement touches, so measuring never changes the user's scene."""

    def __init__(self, obj: bpy.types.Object, bones: Iterable[str], switches: Iterable[Switch]):
        self.obj = obj
        pose = obj.pose.bones
        self.bones = [pose[b] for b in dict.fromkeys(bones) if b in pose]
        self.channels = [(pb.rotation_mode, tuple(pb.rotation_quaternion), tuple(pb.rotation_euler),
                          tuple(pb.rotation_axis_angle), tuple(pb.location), tuple(pb.scale))
                         for pb in self.bones]
        self.switches = [(s, pose[s.bone][s.prop]) for s in switches]
        adt = obj.animation_data
        self.adt = adt
        self.action = adt.action if adt is not None else None
        self.slot = getattr(adt, "action_slot", None) if adt is not None else None
        self.use_nla = adt.use_nla if adt is not None else None

    def quiet(self) -> None:
        """Stop animation from overriding what is set by hand while measuring."""
        if self.adt is not None:
            self.adt.action = None
            self.adt.use_nla = False

    def restore(self) -> None:
        for pb, (mode, quat, euler, axis_angle, loc, scale) in zip(self.bones, self.channels, strict=True):
            pb.rotation_mode = mode
            pb.rotation_quaternion, pb.rotation_euler, pb.rotation_axis_angle = quat, euler, axis_angle
            pb.location, pb.scale = loc, scale
        for switch, value in self.switches:
            self.obj.pose.bones[switch.bone][switch.prop] = value
        if self.adt is not None:
            self.adt.use_nla = self.use_nla
            self.adt.action = self.action
            if self.slot is not None and getattr(self.adt, "action_slot", None) is None:
                self.adt.action_slot = self.slot


def _evaluated_rotations(obj: bpy.types.Object, bones: list[str]) -> np.ndarray:
    bpy.context.view_layer.update()
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    out = np.array([np.array(evaluated.pose.bones[b].matrix.to_3x3()) for b in bones])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def measure_inheritance(obj: bpy.types.Object, bones: list[str], hold: Iterable[str] = (),
                        switches: Iterable[Switch] = ()) -> tuple[dict[str, str | None], list[str]]:
    """For each of ``bones``: the bone among them whose rotation it inherits (None: none).

    Returns that map and the bones whose rotation follows no single one of them rigidly
    (blended by constraints, or overridden by their own constraints): keys on those would not
    show as computed. ``hold`` bones are kept at rest and ``switches`` set while measuring.
    """
    rotations = core("rotations")
    hold = [b for b in hold if b in obj.pose.bones]
    switches = list(switches)
    state = _PoseState(obj, [*bones, *hold], switches)
    try:
        state.quiet()
        for switch in switches:
            obj.pose.bones[switch.bone][switch.prop] = switch.value
        for pb in state.bones:
            pb.rotation_mode = "QUATERNION"
            pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
            pb.location = (0.0, 0.0, 0.0)
        rest = _evaluated_rotations(obj, bones)
        rng = np.random.default_rng(0)
        axes = rng.normal(size=(len(bones), 3))
        spins = 0.4 * axes / np.linalg.norm(axes, axis=1, keepdims=True) * rng.uniform(0.5, 1.0, (len(bones), 1))
        quats = np.asarray(rotations.axis_angle_to_quat(spins))
        for b, q in zip(bones, quats, strict=True):
            obj.pose.bones[b].rotation_quaternion = tuple(q)
        moved = _evaluated_rotations(obj, bones)
    finally:
        state.restore()
        bpy.context.view_layer.update()
    basis = np.asarray(rotations.quat_to_matrix(quats))
    frame_rest, frame_moved = rest, moved @ np.swapaxes(basis, -1, -2)  # what each bone's basis acts in
    parents: dict[str, str | None] = {}
    loose: list[str] = []
    for k, b in enumerate(bones):
        candidates = [(np.abs(frame_moved[k] - frame_rest[k]).max(), None)]
        for c in range(len(bones)):
            if c != k:
                carried = moved[c] @ rest[c].T @ frame_rest[k]
                candidates.append((np.abs(frame_moved[k] - carried).max(), bones[c]))
        error, parent = min(candidates, key=lambda e: e[0])
        parents[b] = parent
        if error > 1e-4:
            loose.append(b)
    return parents, loose


# --------------------------------------------------------------------------- keying a take


def _has_constraints(obj: bpy.types.Object) -> bool:
    return any(len(pb.constraints) for pb in obj.pose.bones)


def apply_take(
    obj: bpy.types.Object,
    poses: np.ndarray,
    trans: np.ndarray,
    frames: np.ndarray,
    joint_indices: Iterable[int],
    translate: bool = True,
    in_place: bool = False,
    base_name: str = "Gestures",
    fps: float = 30.0,
) -> bpy.types.Action:
    """Retarget SMPL-X ``poses`` / ``trans`` onto ``obj`` and key them as a new take at ``frames``.

    Bones of parts outside ``joint_indices`` are held at rest; root motion (scaled by leg
    length, ``in_place`` keeping only its vertical part) goes on the lowest common parent
    of the hips and thighs when ``translate``. Raises :class:`RetargetError` for a map that
    does not fit the take.
    """
    retarget = core("retarget")
    joint_indices = list(joint_indices)
    bone_map = bone_map_for(obj, joint_indices, translate)
    rig = rig_from_armature(obj)
    rigify = is_rigify(bone_map)
    names = {core("skeleton").SMPLX.joint_names[j] for j in joint_indices}
    parts = set(retarget.parts_for_joints(names))
    switches = rigify_switches(obj, legs=bool(parts & {"left_thigh", "right_thigh"})) if rigify else []
    hold = [b for b in RIGIFY_HOLD if b in obj.pose.bones] if rigify else []
    mapped = list(bone_map.bones())
    inherits = None
    if _has_constraints(obj):
        inherits, loose = measure_inheritance(obj, mapped, hold, switches)
        if loose:
            log.warning("'%s': constraints blend or override %s; their keys may not show as computed "
                        "(mute those constraints or map other bones)", obj.name, ", ".join(loose))
    plan = retarget.plan_retarget(rig, bone_map, effective_parents=inherits)
    motion = core("motion").Motion(poses=poses, trans=trans, fps=fps)
    moved = retarget.retarget_motion(motion, plan, parts=parts, root_motion=translate, in_place=in_place)

    channels = {bone: BoneChannels(rotation=moved.rotations[:, k])
                for k, bone in enumerate(moved.bones) if plan.parts[k] in parts}
    resting = [bone for k, bone in enumerate(moved.bones) if plan.parts[k] not in parts]
    if translate and moved.location is not None:
        channels.setdefault(moved.root_bone, BoneChannels()).location = moved.location
    # What the take holds still: stale values left by the previous action (it is parked on a muted
    # track, its last evaluated pose stays) would skew the bones keyed here.
    constants: list[tuple[str, str, int, float]] = []
    held = [b for b in dict.fromkeys(resting + _unmapped_ancestors(rig, set(channels)) + hold)
            if b not in channels and not obj.pose.bones[b].constraints]
    for bone in dict.fromkeys([*channels, *held]):
        chan = channels.get(bone)
        if chan is None or chan.rotation is None:
            constants += [(bone, "rotation_quaternion", i, v) for i, v in enumerate((1.0, 0.0, 0.0, 0.0))]
        if chan is None or chan.location is None:
            constants += [(bone, "location", i, 0.0) for i in range(3)]
        constants += [(bone, "scale", i, 1.0) for i in range(3)]
    action = keyframes.write_take(obj, base_name, channels, frames)
    _key_constants(obj, action, constants, frames)
    for bone in held:
        obj.pose.bones[bone].rotation_mode = "QUATERNION"
    if switches:
        _key_switches(obj, action, switches, frames)
    if obj.data.pose_position == "REST":  # a rig shown in its rest position would not show the take
        obj.data.pose_position = "POSE"
    return action


def _unmapped_ancestors(rig, keyed: set[str]) -> list[str]:
    """Bones above a keyed bone that are not keyed themselves (held at rest for the take)."""
    out: dict[str, None] = {}
    for bone in keyed:
        for a in rig.ancestors(rig.index(bone)):
            name = rig.bone_names[a]
            if name not in keyed:
                out[name] = None
    return list(out)


def _bone_path(bone: str) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"]'


def _key_constants(obj: bpy.types.Object, action: bpy.types.Action,
                   constants: list[tuple[str, str, int, float]], frames: np.ndarray) -> None:
    """Channels that hold one value over the take: two keys each (first and last frame)."""
    fcurves = compat.action_fcurves(action)
    ends = np.unique(np.array([frames[0], frames[-1]], dtype=np.float64))
    for bone, prop, index, value in constants:
        keyframes.write_curve(fcurves, f"{_bone_path(bone)}.{prop}", index, bone, ends, np.full(len(ends), value),
                              None)


def _key_switches(obj: bpy.types.Object, action: bpy.types.Action, switches: list[Switch],
                  frames: np.ndarray) -> None:
    """Key Rigify's switches over the take (two keys each) and set them now."""
    fcurves = compat.action_fcurves(action)
    ends = np.unique(np.array([frames[0], frames[-1]], dtype=np.float64))
    for s in switches:
        path = f'{_bone_path(s.bone)}["{bpy.utils.escape_identifier(s.prop)}"]'
        keyframes.write_curve(fcurves, path, 0, s.bone, ends, np.full(len(ends), s.value), None)
        obj.pose.bones[s.bone][s.prop] = s.value
