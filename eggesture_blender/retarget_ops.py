"""Operators of the character bone map: Detect, and adding or removing rows of the list.

Registered with the other operators (``operators.CLASSES``); the list itself is drawn by
``panel.EGGESTURE_UL_bone_map`` from ``Object.eggesture_rig``.
"""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty

from . import retarget
from ._core import core

EggError = core("errors").EggError


def _target(context: bpy.types.Context) -> bpy.types.Object | None:
    obj = context.scene.eggesture.armature
    return obj if obj is not None and obj.type == "ARMATURE" else None


def _part_items(_self, _context) -> list[tuple[str, str, str]]:
    return _PART_ITEMS


_PART_ITEMS = [(name, name, f"The bone that plays {name}") for name in core("retarget").PART_NAMES] + [
    (retarget.FOLLOWER, "follows (extra bone)", "An extra bone that copies a mapped bone's motion")]


class EGGESTURE_OT_detect_bones(bpy.types.Operator):
    """Find which bone of the character plays which body part (names first, then the hierarchy) and keep the map on the armature"""

    bl_idname = "eggesture.detect_bones"
    bl_label = "Detect"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _target(context) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _target(context)
        try:
            bone_map = retarget.detect(obj, context.scene.eggesture.bone_preset)
        except EggError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        missing = bone_map.missing()
        if missing:
            self.report({"WARNING"}, f"'{obj.name}': no bone found for {', '.join(missing)}; pick them in "
                                     "the Bone Map list (or try another Preset)")
        else:
            self.report({"INFO"}, f"'{obj.name}': {retarget.describe(bone_map)}")
        return {"FINISHED"}


class EGGESTURE_OT_bone_map_add(bpy.types.Operator):
    """Add a row to the bone map: a body part, then pick its bone in the list"""

    bl_idname = "eggesture.bone_map_add"
    bl_label = "Add Bone Map Row"
    bl_options = {"REGISTER", "UNDO"}

    part: EnumProperty(name="Part", items=_part_items)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _target(context) is not None

    def invoke(self, context: bpy.types.Context, event) -> set[str]:
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = _target(context).eggesture_rig
        item = rig.bones.add()
        item.part = self.part
        rig.active_bone = len(rig.bones) - 1
        return {"FINISHED"}


class EGGESTURE_OT_bone_map_remove(bpy.types.Operator):
    """Remove the selected row of the bone map (the part is then left alone)"""

    bl_idname = "eggesture.bone_map_remove"
    bl_label = "Remove Bone Map Row"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = _target(context)
        return obj is not None and 0 <= obj.eggesture_rig.active_bone < len(obj.eggesture_rig.bones)

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = _target(context).eggesture_rig
        rig.bones.remove(rig.active_bone)
        rig.active_bone = min(rig.active_bone, len(rig.bones) - 1)
        return {"FINISHED"}


CLASSES = (EGGESTURE_OT_detect_bones, EGGESTURE_OT_bone_map_add, EGGESTURE_OT_bone_map_remove)
