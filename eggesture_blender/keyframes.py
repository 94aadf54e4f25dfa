"""Bulk keyframe writer: whole F-curves at once instead of one ``keyframe_insert`` per key.

``keyframe_points.add(n)`` + ``foreach_set("co", ...)`` writes a 60 s, 55-bone take in
a few hundredths of a second where per-frame ``keyframe_insert`` needs seconds (see
bench/keyframes.py). Every run writes a *new* action named "<source> take N"; the
armature's previous action is given a fake user and parked on a muted NLA track, so
no take is ever overwritten.

Quaternion maths comes from ``egg_core.rotations`` (numpy only, safe inside Blender).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import bpy
import numpy as np

from . import compat
from ._core import core

_INTERPOLATION = {
    item.identifier: item.value
    for item in bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items
}


# --------------------------------------------------------------------------- naming


def next_take_name(base: str) -> str:
    """``"<base> take N"`` with N one higher than any existing action of that name."""
    base = base.strip() or "Gestures"
    pattern = re.compile(rf"^{re.escape(base)} take (\d+)$")
    taken = [int(m.group(1)) for a in bpy.data.actions if (m := pattern.match(a.name))]
    return f"{base} take {max(taken, default=0) + 1}"


# --------------------------------------------------------------------------- writing


@dataclass
class BoneChannels:
    """Per-frame values for one bone: quaternions (T, 4) and optionally locations (T, 3)."""

    rotation: np.ndarray | None = None
    location: np.ndarray | None = None


def write_curve(fcurves, data_path: str, index: int, group: str, frames: np.ndarray,
                values: np.ndarray, interpolation: int | None) -> bpy.types.FCurve:
    """One F-curve with ``values`` at ``frames``, written in bulk (``foreach_set``), not key by key."""
    fcurve = compat.new_fcurve(fcurves, data_path, index, group)
    n = len(frames)
    fcurve.keyframe_points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    fcurve.keyframe_points.foreach_set("co", co)
    if interpolation is not None:  # new keys are BEZIER; setting enums in bulk is the slow part
        fcurve.keyframe_points.foreach_set("interpolation", np.full(n, interpolation, dtype=np.int32))
    fcurve.update()  # sort + auto-clamped handles, as keyframe_insert would leave them
    return fcurve


def write_bone_channels(
    action: bpy.types.Action,
    channels: Mapping[str, BoneChannels],
    frames: np.ndarray,
    interpolation: str = "BEZIER",
) -> int:
    """Write quaternion / location F-curves for every bone into ``action``.

    ``frames`` (T,) are scene frame numbers (may be fractional). Quaternion signs are
    made continuous first (all bones in one vectorised call). The default BEZIER with
    auto-clamped handles passes exactly through every sample, like keys inserted by
    hand. Returns the number of F-curves written.
    """
    frames = np.asarray(frames, dtype=np.float64)
    n = len(frames)
    for bone, chan in channels.items():
        for what, value, width in (("rotation", chan.rotation, 4), ("location", chan.location, 3)):
            if value is not None and np.shape(value) != (n, width):
                raise ValueError(f"bone {bone!r}: {what} shape {np.shape(value)}, want ({n}, {width})")
    rotated = [bone for bone, chan in channels.items() if chan.rotation is not None]
    quats = np.stack([np.asarray(channels[b].rotation, dtype=np.float64) for b in rotated], axis=1) \
        if rotated else np.zeros((n, 0, 4))
    quats = np.asarray(core("rotations").quat_make_continuous(quats, axis=0))

    fcurves = compat.action_fcurves(action)
    interp = None if interpolation == "BEZIER" else _INTERPOLATION[interpolation]
    written = 0
    column = {bone: k for k, bone in enumerate(rotated)}
    for bone, chan in channels.items():
        base = f'pose.bones["{bpy.utils.escape_identifier(bone)}"]'
        if chan.rotation is not None:
            q = quats[:, column[bone]]
            for i in range(4):
                write_curve(fcurves, f"{base}.rotation_quaternion", i, bone, frames, q[:, i], interp)
                written += 1
        if chan.location is not None:
            loc = np.asarray(chan.location, dtype=np.float64)
            for i in range(3):
                write_curve(fcurves, f"{base}.location", i, bone, frames, loc[:, i], interp)
                written += 1
    return written


def keep_previous_action(obj: bpy.types.Object) -> bpy.types.Action | None:
    """Protect the object's current action (fake user + muted NLA track); return it."""
    adt = obj.animation_data
    previous = adt.action if adt is not None else None
    if previous is not None:
        previous.use_fake_user = True
        compat.push_to_nla(obj, previous, previous.name)
        compat.assign_action(obj, None)
    return previous


def write_take(
    obj: bpy.types.Object,
    base_name: str,
    channels: Mapping[str, BoneChannels],
    frames: np.ndarray,
    interpolation: str = "BEZIER",
) -> bpy.types.Action:
    """Create a new action "<base_name> take N" with ``channels`` and make it active on ``obj``.

    The previous action is kept (see :func:`keep_previous_action`). Pose bones that get
    rotation keys are switched to QUATERNION rotation mode so the curves take effect.
    """
    action = compat.new_object_action(next_take_name(base_name), obj)
    action.use_fake_user = True
    try:
        write_bone_channels(action, channels, frames, interpolation)
    except Exception:
        bpy.data.actions.remove(action)
        raise
    keep_previous_action(obj)
    compat.assign_action(obj, action)
    if obj.pose is not None:
        for bone, chan in channels.items():
            pbone = obj.pose.bones.get(bone)
            if pbone is not None and chan.rotation is not None:
                pbone.rotation_mode = "QUATERNION"
    return action
