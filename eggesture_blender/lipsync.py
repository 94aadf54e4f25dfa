"""Lip sync on the user's character: find its mouth, remember the mapping, key it as a new take.

What a character's mouth is, found by name (``egg_core.lipsync.targets``): a jaw bone on
its armature and/or shape keys of one convention (Oculus / Ready Player Me visemes, VRM
vowels, ARKit blendshapes, Rhubarb or Papagayo mouths) on its meshes. "Detect Mouth"
stores what it finds on the object as an editable mapping (``Object.eggesture_mouth``:
channel -> mesh + shape key + gain, jaw bone + hinge axis + opening angle), saved with
the .blend, so a corrected mapping is used on every later run.

Keying never replaces animation:

* **jaw** - with "Generate", its curves go into the new body take; on its own, the
  armature's current action is *copied* into a new take ("<audio> lip sync take N") whose
  jaw curves are replaced, so the body keeps moving, and the previous action is kept on a
  muted NLA track (``keyframes.keep_previous_action``);
* **shape keys** - a new action "<audio> mouth take N" on each mesh's shape-key datablock
  (``body_mesh.new_key_action``: the previous one keeps a fake user). It holds only the
  mouth keys.

Everything is written with the bulk F-curve writer (``keyframes.write_curve``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from . import body_mesh, compat, keyframes
from ._core import core

EggError = core("errors").EggError
_targets = core("lipsync.targets")

#: How far the jaw rotates at full opening ("aa") unless the mapping says otherwise.
DEFAULT_JAW_DEGREES = 15.0
AXES = ("X", "Y", "Z")
NO_SET = "none"


class LipSyncError(EggError):
    """The character has no mouth to key, or its mapping is wrong; the message says what to do."""


# --------------------------------------------------------------------------- the character


def rig_of(obj: bpy.types.Object | None) -> bpy.types.Object | None:
    """The armature of ``obj``: itself, the armature its mesh is deformed by, or its parent armature."""
    if obj is None:
        return None
    if obj.type == "ARMATURE":
        return obj
    found = obj.find_armature() if obj.type == "MESH" else None
    if found is not None:
        return found
    parent = obj.parent
    return parent if parent is not None and parent.type == "ARMATURE" else None


def character_meshes(obj: bpy.types.Object) -> list[bpy.types.Object]:
    """Meshes with shape keys that belong to ``obj``: the mesh itself, or an armature's meshes.

    An armature's meshes are its descendants and any mesh an Armature modifier binds to it
    (many imports do not parent the meshes).
    """
    if obj.type == "MESH":
        candidates = [obj]
    elif obj.type == "ARMATURE":
        candidates = [c for c in obj.children_recursive if c.type == "MESH"]
        candidates += [o for o in bpy.data.objects if o.type == "MESH" and o not in candidates
                       and any(m.type == "ARMATURE" and m.object == obj for m in o.modifiers)]
    else:
        candidates = []
    return [m for m in candidates if m.data.shape_keys is not None and len(m.data.shape_keys.key_blocks) > 1]


def _shape_key_names(mesh: bpy.types.Object) -> list[str]:
    blocks = mesh.data.shape_keys.key_blocks
    basis = mesh.data.shape_keys.reference_key
    return [k.name for k in blocks if k != basis]


def jaw_hinge(rig: bpy.types.Object, bone: str) -> tuple[str, float]:
    """(local axis, sign) that opens the mouth when the jaw bone rotates by a positive angle.

    A character faces -Y of its armature (Blender's convention); opening the mouth turns
    the chin from forward to down, a positive rotation about the armature's +X. The hinge
    is the bone's local axis (X or Z; Y runs along the bone) closest to the armature's X,
    and the sign says whether it points along +X or -X.
    """
    m = np.array(rig.data.bones[bone].matrix_local.to_3x3().normalized())  # columns = local axes
    along_x = {axis: float(m[0, AXES.index(axis)]) for axis in ("X", "Z")}
    axis = max(along_x, key=lambda a: abs(along_x[a]))
    return axis, (1.0 if along_x[axis] >= 0 else -1.0)


# --------------------------------------------------------------------------- detection


def detect_mouth(obj: bpy.types.Object, shape_set: str | None = None) -> str:
    """Find the mouth of ``obj`` and store it as its mapping (replacing the stored one).

    ``shape_set`` forces a set (a key of ``TARGET_SETS``); by default the set the shape-key
    names cover best. Returns a one-line summary of what was found.
    """
    mouth = obj.eggesture_mouth
    rig = rig_of(obj)
    bone = _targets.find_jaw_bone(rig.data.bones.keys()) if rig is not None else None
    mouth.jaw_armature = rig
    mouth.jaw_bone = bone or ""
    if bone:
        axis, sign = jaw_hinge(rig, bone)
        mouth.jaw_axis, mouth.jaw_angle = axis, sign * math.radians(DEFAULT_JAW_DEGREES)
    meshes = character_meshes(obj)
    names = [n for mesh in meshes for n in _shape_key_names(mesh)]
    if shape_set and shape_set != NO_SET:
        target = _targets.target_set(shape_set)
    else:
        match = _targets.detect_set(names)
        target = match.target if match is not None else None
    mouth.shapes.clear()
    for mesh in meshes if target is not None else ():
        for channel, key in target.match(_shape_key_names(mesh)).items():
            item = mouth.shapes.add()
            item.channel, item.mesh, item.shape_key, item.gain = channel, mesh, key, 1.0
    mouth.shape_set = target.key if target is not None and len(mouth.shapes) else NO_SET
    mouth.active_shape = 0
    mouth.detected = True
    return describe_mapping(obj)


def describe_mapping(obj: bpy.types.Object) -> str:
    """What the stored mapping of ``obj`` keys, in one line."""
    mouth = obj.eggesture_mouth
    parts = []
    if mouth.jaw_bone:
        parts.append(f"jaw bone '{mouth.jaw_bone}' ({math.degrees(mouth.jaw_angle):+.0f}° about {mouth.jaw_axis})")
    if len(mouth.shapes):
        label = _targets.TARGET_SETS[mouth.shape_set].label if mouth.shape_set in _targets.TARGET_SETS \
            else "shape keys"
        meshes = sorted({s.mesh.name for s in mouth.shapes if s.mesh is not None})
        parts.append(f"{len(mouth.shapes)} {label} on {', '.join(repr(m) for m in meshes)}")
    if not parts:
        return f"No mouth found on '{obj.name}'"
    return f"Mouth of '{obj.name}': " + " and ".join(parts)


def missing_mouth_message(obj: bpy.types.Object) -> str:
    return (f"No jaw bone or mouth shape keys found on '{obj.name}': add a jaw bone (e.g. named 'jaw') "
            "or viseme shape keys (viseme_aa ..., aa ih ou ee oh, jawOpen ...), or map them in the "
            "Lip Sync panel.")


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class JawPlan:
    armature: str
    bone: str
    axis: int  # 0, 1, 2: the bone's local X, Y, Z
    angle: float  # radians at full opening (signed: the direction that opens)


@dataclass(frozen=True)
class ShapePlan:
    mesh: str
    shape_key: str
    channel: str
    gain: float


@dataclass(frozen=True)
class MouthPlan:
    """What one run keys, resolved (and checked) before any work starts."""

    face: str
    shape_set: str
    jaw: JawPlan | None
    shapes: tuple[ShapePlan, ...]

    def describe(self) -> str:
        parts = [f"jaw bone '{self.jaw.bone}'"] if self.jaw else []
        if self.shapes:
            parts.append(f"{len(self.shapes)} shape keys")
        return " and ".join(parts)


def mouth_plan(obj: bpy.types.Object | None) -> MouthPlan:
    """The stored mapping of ``obj`` checked against the scene (detected first if never done).

    Raises :class:`LipSyncError` when there is no character, nothing to key, or the mapping
    names a bone, mesh, shape key or channel that does not exist.
    """
    if obj is None:
        raise LipSyncError("No character for lip sync: pick the Armature in the Gestures panel, or a "
                           "Face object in the Lip Sync panel.")
    mouth = obj.eggesture_mouth
    if not mouth.detected:
        detect_mouth(obj)
    jaw = None
    if mouth.use_jaw and mouth.jaw_bone:
        rig = mouth.jaw_armature
        if rig is None or rig.type != "ARMATURE" or mouth.jaw_bone not in rig.data.bones:
            raise LipSyncError(f"The lip-sync jaw bone '{mouth.jaw_bone}' is not on armature "
                               f"'{getattr(rig, 'name', None)}': pick the bone again in the Lip Sync "
                               "panel, or click Detect Mouth.")
        jaw = JawPlan(rig.name, mouth.jaw_bone, AXES.index(mouth.jaw_axis), float(mouth.jaw_angle))
    shapes: list[ShapePlan] = []
    if mouth.use_shapes and len(mouth.shapes):
        target = _target_of(mouth.shape_set, obj)
        for item in mouth.shapes:
            if not item.shape_key:
                continue  # a row the user has not filled in yet
            if item.channel not in target.channels:
                raise LipSyncError(f"'{item.channel}' is not a {target.label} channel (mapping of "
                                   f"'{obj.name}'); use one of {', '.join(target.channels)}.")
            mesh = item.mesh
            if mesh is None or mesh.data.shape_keys is None or item.shape_key not in mesh.data.shape_keys.key_blocks:
                raise LipSyncError(f"Shape key '{item.shape_key}' (lip-sync channel {item.channel}) is not on "
                                   f"mesh '{getattr(mesh, 'name', None)}': pick it again in the Lip Sync "
                                   "panel, or click Detect Mouth.")
            shapes.append(ShapePlan(mesh.name, item.shape_key, item.channel, float(item.gain)))
    if jaw is None and not shapes:
        if (mouth.jaw_bone and not mouth.use_jaw) or (len(mouth.shapes) and not mouth.use_shapes):
            raise LipSyncError(f"Lip sync would key nothing on '{obj.name}': tick Jaw Bone or Shape Keys "
                               "in the Lip Sync panel.")
        raise LipSyncError(missing_mouth_message(obj))
    return MouthPlan(obj.name, mouth.shape_set, jaw, tuple(shapes))


def _target_of(key: str, obj: bpy.types.Object):
    if key not in _targets.TARGET_SETS:
        raise LipSyncError(f"The lip-sync mapping of '{obj.name}' has shape keys but no shape set: "
                           "choose the set in the Lip Sync panel, or click Detect Mouth.")
    return _targets.TARGET_SETS[key]


# --------------------------------------------------------------------------- mapping files


def mapping_to_dict(obj: bpy.types.Object) -> dict[str, Any]:
    """The stored mapping as the JSON document :func:`load_mapping` reads."""
    mouth = obj.eggesture_mouth
    jaw = None
    if mouth.jaw_bone:
        jaw = {"armature": mouth.jaw_armature.name if mouth.jaw_armature else None, "bone": mouth.jaw_bone,
               "axis": mouth.jaw_axis, "angle_deg": round(math.degrees(mouth.jaw_angle), 3),
               "enabled": bool(mouth.use_jaw)}
    return {"format": "eggesture-mouth", "version": 1, "set": mouth.shape_set, "jaw": jaw,
            "use_shapes": bool(mouth.use_shapes),
            "shapes": [{"channel": s.channel, "mesh": s.mesh.name if s.mesh else None,
                        "shape_key": s.shape_key, "gain": round(float(s.gain), 4)} for s in mouth.shapes]}


def _mapping_error(path: str, message: str) -> LipSyncError:
    return LipSyncError(f"Mouth mapping {path}: {message}")


def load_mapping(obj: bpy.types.Object, path: str | Path) -> str:
    """Replace the mapping of ``obj`` with the JSON file at ``path`` (see docs/LIPSYNC.md).

    ``shapes`` is a list of ``{"channel", "shape_key", "mesh"?, "gain"?}`` or a
    ``{channel: shape_key}`` object; a shape key without a mesh is looked up on every mesh of
    the character. ``jaw`` is ``{"bone", "axis"?, "angle_deg"?}`` or null (no jaw).
    Returns the summary line; raises :class:`LipSyncError` naming what is wrong.
    """
    path = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LipSyncError(f"Mouth mapping file not found: {path}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _mapping_error(path, f"not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise _mapping_error(path, "expected a JSON object with 'set', 'shapes' and 'jaw'")
    key = str(data.get("set") or NO_SET).lower()
    shapes = data.get("shapes") or []
    if isinstance(shapes, dict):
        shapes = [{"channel": c, "shape_key": k} for c, k in shapes.items()]
    if shapes and key not in _targets.TARGET_SETS:
        raise _mapping_error(path, f"'set' must be one of {', '.join(_targets.TARGET_SETS)} (got '{key}')")
    meshes = {m.name: m for m in character_meshes(obj)}
    rows = []
    for i, row in enumerate(shapes):
        if not isinstance(row, dict) or not row.get("channel") or not row.get("shape_key"):
            raise _mapping_error(path, f"shapes[{i}] needs 'channel' and 'shape_key'")
        mesh = _mesh_for(row, meshes, path, i)
        rows.append((str(row["channel"]), mesh, str(row["shape_key"]), float(row.get("gain", 1.0))))
    mouth = obj.eggesture_mouth
    jaw = data.get("jaw")
    rig = rig_of(obj)
    if jaw:
        if not isinstance(jaw, dict) or not jaw.get("bone"):
            raise _mapping_error(path, "'jaw' must be null or an object with 'bone'")
        if jaw.get("armature"):
            rig = bpy.data.objects.get(str(jaw["armature"]))
        if rig is None or rig.type != "ARMATURE" or jaw["bone"] not in rig.data.bones:
            raise _mapping_error(path, f"no bone '{jaw['bone']}' on armature '{getattr(rig, 'name', None)}'")
        axis = str(jaw.get("axis") or jaw_hinge(rig, jaw["bone"])[0]).upper()
        if axis not in AXES:
            raise _mapping_error(path, f"jaw 'axis' must be X, Y or Z (got '{axis}')")
        angle = jaw.get("angle_deg")
        angle = jaw_hinge(rig, jaw["bone"])[1] * DEFAULT_JAW_DEGREES if angle is None else float(angle)
        mouth.jaw_armature, mouth.jaw_bone, mouth.jaw_axis = rig, str(jaw["bone"]), axis
        mouth.jaw_angle = math.radians(angle)
        mouth.use_jaw = bool(jaw.get("enabled", True))
    else:
        mouth.jaw_armature, mouth.jaw_bone = rig, ""
    mouth.shapes.clear()
    for channel, mesh, shape_key, gain in rows:
        item = mouth.shapes.add()
        item.channel, item.mesh, item.shape_key, item.gain = channel, mesh, shape_key, gain
    mouth.shape_set = key if rows else NO_SET
    mouth.use_shapes = bool(data.get("use_shapes", True))
    mouth.detected = True
    mouth_plan(obj)  # every bone, mesh, key and channel exists
    return describe_mapping(obj)


def _mesh_for(row: dict, meshes: dict[str, bpy.types.Object], path: str, i: int) -> bpy.types.Object:
    name = row.get("mesh")
    if name:
        mesh = meshes.get(name) or bpy.data.objects.get(name)
        if mesh is None or mesh.type != "MESH":
            raise _mapping_error(path, f"shapes[{i}]: no mesh named '{name}'")
        return mesh
    for mesh in meshes.values():
        if row["shape_key"] in mesh.data.shape_keys.key_blocks:
            return mesh
    raise _mapping_error(path, f"shapes[{i}]: no mesh of the character has a shape key '{row['shape_key']}'")


# --------------------------------------------------------------------------- keying


def _jaw_rotation_curves(pbone: bpy.types.PoseBone, axis: int, angle: np.ndarray) -> tuple[str, list[np.ndarray]]:
    """(data path, per-index values) that rotate ``pbone`` by ``angle`` about its local ``axis``."""
    mode = pbone.rotation_mode
    if mode in ("QUATERNION", "AXIS_ANGLE"):
        e = np.zeros(3)
        e[axis] = 1.0
        if mode == "QUATERNION":
            half = 0.5 * angle
            return "rotation_quaternion", [np.cos(half)] + [np.sin(half) * e[i] for i in range(3)]
        return "rotation_axis_angle", [angle] + [np.full_like(angle, e[i]) for i in range(3)]
    return "rotation_euler", [angle if i == axis else None for i in range(3)]


def _remove_curves(fcurves, paths: Iterable[str]) -> None:
    paths = set(paths)
    for fc in [fc for fc in fcurves if fc.data_path in paths]:
        fcurves.remove(fc)


def _jaw_take(rig: bpy.types.Object, base_name: str) -> bpy.types.Action:
    """A new take for the jaw: a copy of the current action (the body keeps moving), or a new one."""
    adt = rig.animation_data
    previous = adt.action if adt is not None else None
    name = keyframes.next_take_name(base_name)
    if previous is not None and any(True for _ in compat.iter_fcurves(previous)):
        action = previous.copy()
        action.name = name
    else:
        action = compat.new_object_action(name, rig)
    action.use_fake_user = True
    keyframes.keep_previous_action(rig)
    compat.assign_action(rig, action)
    return action


def key_jaw(jaw: JawPlan, opening: np.ndarray, frames: np.ndarray, base_name: str,
            action: bpy.types.Action | None = None) -> bpy.types.Action:
    """Key the jaw bone from ``opening`` (0..1 per frame) into ``action`` or a new take."""
    rig = bpy.data.objects[jaw.armature]
    pbone = rig.pose.bones[jaw.bone]
    if action is None:
        action = _jaw_take(rig, f"{base_name} lip sync")
    fcurves = compat.action_fcurves(action)
    base = f'pose.bones["{bpy.utils.escape_identifier(jaw.bone)}"]'
    _remove_curves(fcurves, (f"{base}.{p}" for p in ("rotation_quaternion", "rotation_axis_angle",
                                                      "rotation_euler")))
    prop, values = _jaw_rotation_curves(pbone, jaw.axis, np.asarray(opening, np.float64) * jaw.angle)
    for index, curve in enumerate(values):
        if curve is not None:
            keyframes.write_curve(fcurves, f"{base}.{prop}", index, jaw.bone, frames, curve, None)
    return action


def key_shapes(shapes: Sequence[ShapePlan], shape_set: str, weights: np.ndarray, frames: np.ndarray,
               base_name: str) -> list[bpy.types.Action]:
    """Key the mapped shape keys, one new "<base> mouth take N" action per mesh."""
    channels = _targets.TARGET_SETS[shape_set].channel_values(weights)
    per_mesh: dict[str, dict[str, np.ndarray]] = {}
    for shape in shapes:
        keyed = per_mesh.setdefault(shape.mesh, {})
        value = shape.gain * channels[shape.channel].astype(np.float64)
        keyed[shape.shape_key] = keyed.get(shape.shape_key, 0.0) + value  # two channels, one key: added
    actions = []
    for mesh_name, keyed in per_mesh.items():
        shape_keys = bpy.data.objects[mesh_name].data.shape_keys
        action, fcurves = body_mesh.new_key_action(shape_keys, keyframes.next_take_name(f"{base_name} mouth"))
        for key_name, values in keyed.items():
            block = shape_keys.key_blocks[key_name]
            path = f'key_blocks["{bpy.utils.escape_identifier(key_name)}"].value'
            keyframes.write_curve(fcurves, path, 0, "mouth", frames,
                                  np.clip(values, block.slider_min, block.slider_max), None)
        actions.append(action)
    return actions


def key_mouth(plan: MouthPlan, weights: np.ndarray, jaw: np.ndarray, frames: np.ndarray,
              base_name: str, body_action: bpy.types.Action | None = None) -> list[bpy.types.Action]:
    """Key a mouth track (viseme ``weights`` (T, 15), ``jaw`` (T,), on scene ``frames``) as planned.

    ``body_action``: the new body take of the same armature, which then also gets the jaw
    curves (one take for body and jaw). Returns every action written.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if len(frames) != len(jaw) or len(weights) != len(jaw):
        raise ValueError(f"{len(frames)} frames for a mouth track of {len(jaw)}")
    actions: list[bpy.types.Action] = []
    if plan.jaw is not None:
        rig = bpy.data.objects[plan.jaw.armature]
        own = body_action if body_action is not None and rig.animation_data is not None \
            and rig.animation_data.action == body_action else None
        actions.append(key_jaw(plan.jaw, jaw, frames, base_name, own))
    if plan.shapes:
        actions += key_shapes(plan.shapes, plan.shape_set, weights, frames, base_name)
    return actions


def mouth_frames(audio_frame: float, scene_fps: float, track_fps: float, count: int,
                 frame_start: float, frame_end: float) -> tuple[np.ndarray, np.ndarray]:
    """Scene frames of a track's samples and which of them fall in [frame_start, frame_end]."""
    frames = audio_frame + np.arange(count) * (scene_fps / track_fps)
    keep = (frames >= frame_start - 1e-6) & (frames <= frame_end + 1e-6)
    return frames, keep
