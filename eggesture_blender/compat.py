"""The one place that knows which Blender version is running.

Blender 4.4 introduced *slotted* actions (layers -> strips -> channelbags, one
channelbag per slot) and Blender 5.0 removed the legacy ``Action.fcurves``. Blender
4.4 also renamed the sequencer's ``sequences`` to ``strips``. Everything else in the
add-on calls the helpers below and never touches these APIs directly, so supporting
another version means editing this file only.

Tested on the bpy wheels 4.2 LTS and 5.0.1 (see tests/test_blender_compat.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bpy

#: True on Blender 4.4+ where actions have layers, strips and slots.
HAS_SLOTTED_ACTIONS: bool = "slots" in bpy.types.Action.bl_rna.properties

#: The RNA ``id_type`` used for the slot of an action that animates an object.
_OBJECT_ID_TYPE = "OBJECT"


def blender_version() -> tuple[int, int, int]:
    """Return the running Blender version, e.g. ``(5, 0, 1)``."""
    return tuple(bpy.app.version)  # type: ignore[return-value]


def new_action(name: str, id_type: str, slot_name: str) -> tuple[bpy.types.Action, Any]:
    """A new empty action and the slot that animates an ID of ``id_type`` (None on 4.2).

    On 4.4+ the action gets one layer with one keyframe strip and that slot's channelbag;
    see :func:`slot_fcurves` for its F-curves.
    """
    action = bpy.data.actions.new(name)
    slot = None
    if HAS_SLOTTED_ACTIONS:
        slot = action.slots.new(id_type=id_type, name=slot_name)
        action.layers.new("Layer").strips.new(type="KEYFRAME").channelbag(slot, ensure=True)
    return action, slot


def slot_fcurves(action: bpy.types.Action, slot: Any) -> Any:
    """The F-curves of ``slot`` in an action made by :func:`new_action` (4.2: ``action.fcurves``)."""
    if slot is None:
        return action.fcurves
    return action.layers[0].strips[0].channelbag(slot, ensure=True).fcurves


def new_object_action(name: str, obj: bpy.types.Object) -> bpy.types.Action:
    """Create an empty action ready to animate ``obj`` (with one layer, strip and slot on 4.4+)."""
    return new_action(name, _OBJECT_ID_TYPE, obj.name)[0]


def _action_slot(action: bpy.types.Action) -> Any:
    """The first object slot of ``action`` (4.4+); creates one when the action has none."""
    for slot in action.slots:
        if slot.target_id_type in (_OBJECT_ID_TYPE, "UNSPECIFIED"):
            return slot
    return action.slots.new(id_type=_OBJECT_ID_TYPE, name="Object")


def action_fcurves(action: bpy.types.Action) -> Any:
    """The F-curve collection of ``action`` for its object slot.

    4.2: ``Action.fcurves``. 4.4+: the channelbag of the first keyframe strip of the
    first layer for the action's object slot, created on demand. Both collections
    offer ``new(data_path, index=, action_group=)``, ``find``, ``remove`` and iteration.
    """
    if not HAS_SLOTTED_ACTIONS:
        return action.fcurves
    slot = _action_slot(action)
    if len(action.layers) == 0:
        action.layers.new("Layer")
    layer = action.layers[0]
    if len(layer.strips) == 0:
        layer.strips.new(type="KEYFRAME")
    return layer.strips[0].channelbag(slot, ensure=True).fcurves


def iter_fcurves(action: bpy.types.Action) -> Iterator[bpy.types.FCurve]:
    """Every F-curve of ``action`` in every channelbag (read-only; does not create anything)."""
    if not HAS_SLOTTED_ACTIONS:
        yield from action.fcurves
        return
    for layer in action.layers:
        for strip in layer.strips:
            for bag in getattr(strip, "channelbags", ()):
                yield from bag.fcurves


def new_fcurve(fcurves: Any, data_path: str, index: int, group: str) -> bpy.types.FCurve:
    """Add one F-curve to a collection returned by :func:`action_fcurves`, in channel group ``group``.

    The group keyword is ``action_group`` on 4.2's ``Action.fcurves`` and ``group_name``
    on 4.4+ channelbags.
    """
    if HAS_SLOTTED_ACTIONS:
        return fcurves.new(data_path, index=index, group_name=group)
    return fcurves.new(data_path, index=index, action_group=group)


def assign_action(obj: bpy.types.Object, action: bpy.types.Action | None) -> None:
    """Make ``action`` the active action of ``obj`` (and pick its slot on 4.4+)."""
    adt = obj.animation_data or obj.animation_data_create()
    adt.action = action
    if action is not None and HAS_SLOTTED_ACTIONS and adt.action_slot is None:
        adt.action_slot = _action_slot(action)


def push_to_nla(obj: bpy.types.Object, action: bpy.types.Action, track_name: str) -> None:
    """Keep ``action`` as a muted NLA strip on a new track of ``obj`` so it is never lost."""
    adt = obj.animation_data or obj.animation_data_create()
    track = adt.nla_tracks.new()
    track.name = track_name
    start = int(action.frame_range[0])
    strip = track.strips.new(action.name, start, action)
    if HAS_SLOTTED_ACTIONS and hasattr(strip, "action_slot") and strip.action_slot is None:
        strip.action_slot = _action_slot(action)
    track.mute = True


def sequence_editor_strips(scene: bpy.types.Scene, *, all_levels: bool = True) -> list[Any]:
    """All strips of the scene's sequencer (4.4+: ``strips``; 4.2: ``sequences``)."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    if hasattr(editor, "strips"):
        return list(editor.strips_all if all_levels else editor.strips)
    return list(editor.sequences_all if all_levels else editor.sequences)


def sound_strips(scene: bpy.types.Scene) -> list[Any]:
    """The scene's sound strips, ordered by start frame then channel (the first is the default)."""
    strips = [s for s in sequence_editor_strips(scene) if s.type == "SOUND"]
    return sorted(strips, key=lambda s: (s.frame_start, s.channel, s.name))


def strip_is_muted(scene: bpy.types.Scene, strip: Any) -> bool:
    """True when ``strip`` is not heard on playback: it, its channel or an enclosing meta strip is muted.

    Channels carry their own mute toggle (``editor.channels[n].mute``; a meta strip has its
    own ``channels``), on 4.2 and 4.4+ alike; a strip inside a meta strip is silent when the
    meta strip is.
    """
    editor = scene.sequence_editor
    node = strip
    while node is not None:
        if getattr(node, "mute", False):
            return True
        parent = node.parent_meta() if hasattr(node, "parent_meta") else None
        channels = getattr(parent if parent is not None else editor, "channels", None)
        channel = getattr(node, "channel", 0)
        if channels is not None and 0 <= channel < len(channels) and getattr(channels[channel], "mute", False):
            return True
        node = parent
    return False


def audible_sound_strips(scene: bpy.types.Scene) -> list[Any]:
    """:func:`sound_strips` without the muted ones (the first is what the user hears first)."""
    return [s for s in sound_strips(scene) if not strip_is_muted(scene, s)]


#: The highest sequencer channel (Blender's MAXSEQ).
_MAX_CHANNEL = 128


def free_channel(scene: bpy.types.Scene, frame_start: float, frame_end: float, ignore: Any = None) -> int | None:
    """The lowest sequencer channel with no top-level strip in ``[frame_start, frame_end)``; None if full."""
    busy = {s.channel for s in sequence_editor_strips(scene, all_levels=False)
            if s != ignore and s.frame_final_start < frame_end and frame_start < s.frame_final_end}
    return next((channel for channel in range(1, _MAX_CHANNEL + 1) if channel not in busy), None)



def new_sound_strip(scene: bpy.types.Scene, name: str, filepath: str, channel: int, frame_start: int) -> Any:
    """Add a sound strip to the scene's sequencer (used by tests and the batch script).

    Raises RuntimeError on a build without sound-strip creation (the 4.2 wheel).
    """
    editor = scene.sequence_editor or scene.sequence_editor_create()
    collection = editor.strips if hasattr(editor, "strips") else editor.sequences
    if not hasattr(collection, "new_sound"):
        raise RuntimeError("this Blender build cannot create sound strips")
    return collection.new_sound(name, filepath, channel, frame_start)


def scene_fps(scene: bpy.types.Scene) -> float:
    """The scene frame rate, honouring ``fps_base`` (29.97 = 30000/1001)."""
    return scene.render.fps / scene.render.fps_base
