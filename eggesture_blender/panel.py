"""The "Gestures" tab of the 3D View sidebar."""

from __future__ import annotations

import bpy

from . import compat, operators, retarget


def _strip_collection_name(scene: bpy.types.Scene) -> str:
    editor = scene.sequence_editor
    return "strips_all" if editor is not None and hasattr(editor, "strips_all") else "sequences_all"


def _default_range_text(scene: bpy.types.Scene, settings) -> str:
    """Where keys will go without a custom range: the strip's placement at scene fps."""
    fps = compat.scene_fps(scene)
    if settings.audio_source == "FILE":
        return f"From frame {settings.audio_start_frame} for the audio's length ({fps:g} fps)"
    strip = _followed_strip(scene, settings)
    if strip is None:
        if compat.sound_strips(scene):
            return "Every sound strip is muted: unmute one or name it above"
        return "Add a sound strip to place the audio"
    return f"Frames {strip.frame_final_start}-{strip.frame_final_end - 1} ({fps:g} fps)"


def _followed_strip(scene: bpy.types.Scene, settings):
    """The strip a run would follow: the named one, else the first audible one (None if none)."""
    named = next((s for s in compat.sound_strips(scene) if s.name == settings.sound_strip), None)
    if named is not None:
        return named
    audible = compat.audible_sound_strips(scene)
    return audible[0] if audible else None


class EGGESTURE_PT_main(bpy.types.Panel):
    """Inputs, options and the Generate button; a progress bar replaces the button while running."""

    bl_label = "Gestures"
    bl_idname = "EGGESTURE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Gestures"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        scene = context.scene
        settings = scene.eggesture
        status = context.window_manager.eggesture_status
        layout.use_property_split = True
        layout.use_property_decorate = False

        col = layout.column(heading="Audio")
        col.prop(settings, "audio_source", expand=True)
        if settings.audio_source == "STRIP":
            if scene.sequence_editor is not None and compat.sound_strips(scene):
                col.prop_search(settings, "sound_strip", scene.sequence_editor,
                                _strip_collection_name(scene), text="Strip", icon="SOUND")
                strip = _followed_strip(scene, settings)
                if strip is not None and compat.strip_is_muted(scene, strip):
                    col.label(text=f"'{strip.name}' is muted: its audio will not play", icon="ERROR")
            else:
                col.label(text="No sound strip in this scene", icon="ERROR")
        else:
            col.prop(settings, "audio_file")
            col.prop(settings, "audio_start_frame")

        col = layout.column(heading="Transcript")
        col.prop(settings, "transcript_source", expand=True)
        if settings.transcript_source == "TEXT":
            col.prop(settings, "transcript_text")
        elif settings.transcript_source == "FILE":
            col.prop(settings, "transcript_file")
        row = col.row()
        row.enabled = not status.running
        row.operator("eggesture.transcribe", icon="OUTLINER_OB_FONT")

        col = layout.column()
        col.row().prop(settings, "target_mode", expand=True)
        col.prop(settings, "armature")
        if settings.target_mode == "SMPLX":
            col.operator("eggesture.create_armature", icon="ARMATURE_DATA")
        else:
            _draw_character(layout, settings)

        col = layout.column(heading="Frames")
        col.prop(settings, "use_frame_range")
        if settings.use_frame_range:
            sub = col.column(align=True)
            sub.prop(settings, "frame_start")
            sub.prop(settings, "frame_end")
        else:
            col.label(text=_default_range_text(scene, settings))

        col = layout.column()
        col.prop(settings, "seed")
        col.prop(settings, "temperature", slider=True)
        col.prop(settings, "device")
        layout.label(text="Animate")
        grid = layout.grid_flow(columns=2, even_columns=True, align=True)
        grid.prop(settings, "parts")

        layout.separator()
        if status.running:
            row = layout.row(align=True)
            row.progress(factor=status.progress, type="BAR", text=status.message or "Working")
            row.operator("eggesture.cancel", text="", icon="CANCEL")
        else:
            row = layout.row()
            row.scale_y = 1.5
            row.enabled = operators.active_session() is None
            row.operator("eggesture.generate", icon="PLAY")
            if status.last_report:
                layout.label(text=status.last_report, icon="INFO")


def _draw_character(layout: bpy.types.UILayout, settings) -> None:
    """Detect, the editable bone map of the chosen character, and the root-motion option."""
    obj = settings.armature
    box = layout.box()
    row = box.row(align=True)
    row.prop(settings, "bone_preset", text="")
    row.operator("eggesture.detect_bones", icon="VIEWZOOM")
    if obj is None or obj.type != "ARMATURE":
        box.label(text="Pick your character's armature above", icon="INFO")
        return
    try:
        bone_map = retarget.stored_bone_map(obj)
    except retarget.RetargetError as exc:
        box.label(text=str(exc), icon="ERROR")
        bone_map = None
    if bone_map is None:
        box.label(text="Not detected yet (Generate detects it too)", icon="INFO")
    else:
        box.label(text=retarget.describe(bone_map), icon="ERROR" if bone_map.missing() else "CHECKMARK")
    row = box.row()
    row.template_list("EGGESTURE_UL_bone_map", "", obj.eggesture_rig, "bones", obj.eggesture_rig, "active_bone",
                      rows=5)
    buttons = row.column(align=True)
    buttons.operator("eggesture.bone_map_add", text="", icon="ADD")
    buttons.operator("eggesture.bone_map_remove", text="", icon="REMOVE")
    box.prop_search(obj.eggesture_rig, "root_bone", obj.data, "bones", icon="BONE_DATA")
    box.prop(settings, "in_place")


class EGGESTURE_UL_bone_map(bpy.types.UIList):
    """A character's bone map: body part -> bone of its armature ('follows' rows copy a leader)."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.label(text=item.part if item.part != retarget.FOLLOWER else f"follows {item.leader}")
        row.prop_search(item, "bone", data.id_data.data, "bones", text="", icon="BONE_DATA")


class EGGESTURE_UL_mouth_shapes(bpy.types.UIList):
    """The mouth mapping: channel of the shape set -> mesh and shape key, with a gain."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.label(text=item.channel)
        keys = item.mesh.data.shape_keys if item.mesh is not None and item.mesh.type == "MESH" else None
        if keys is not None:
            row.prop_search(item, "shape_key", keys, "key_blocks", text="", icon="SHAPEKEY_DATA")
        else:
            row.prop(item, "mesh", text="")
        row.prop(item, "gain", text="")


class EGGESTURE_PT_lipsync(bpy.types.Panel):
    """Lip sync: which character, its detected (editable) mouth, and keying the mouth alone."""

    bl_label = "Lip Sync"
    bl_idname = "EGGESTURE_PT_lipsync"
    bl_parent_id = "EGGESTURE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Gestures"
    bl_options = {"DEFAULT_CLOSED"}

    def draw_header(self, context: bpy.types.Context) -> None:
        self.layout.prop(context.scene.eggesture, "lipsync", text="")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.eggesture
        layout.prop(settings, "lipsync_object")
        face = operators.lipsync_face(settings)
        if face is None:
            layout.label(text="Pick the Armature above or a Face object", icon="INFO")
            return
        mouth = face.eggesture_mouth
        row = layout.row(align=True)
        row.operator("eggesture.detect_mouth", icon="VIEWZOOM")
        if not mouth.detected:
            layout.label(text=f"'{face.name}': not detected yet (done on the first run)", icon="INFO")

        box = layout.box()
        header = box.row()
        header.prop(mouth, "use_jaw")
        if mouth.jaw_armature is not None:
            col = box.column(align=True)
            col.active = mouth.use_jaw
            col.prop_search(mouth, "jaw_bone", mouth.jaw_armature.data, "bones", text="Bone", icon="BONE_DATA")
            sub = col.row(align=True)
            sub.prop(mouth, "jaw_axis", expand=True)
            col.prop(mouth, "jaw_angle")
        else:
            box.label(text="No armature: no jaw bone")

        box = layout.box()
        header = box.row(align=True)
        header.prop(mouth, "use_shapes")
        header.prop(mouth, "shape_set", text="")
        remap = header.operator("eggesture.detect_mouth", text="", icon="FILE_REFRESH")
        remap.shape_set = mouth.shape_set if mouth.shape_set != "none" else "AUTO"
        row = box.row()
        row.active = mouth.use_shapes
        row.template_list("EGGESTURE_UL_mouth_shapes", "", mouth, "shapes", mouth, "active_shape", rows=4)
        buttons = row.column(align=True)
        buttons.operator("eggesture.mouth_shape_add", text="", icon="ADD")
        buttons.operator("eggesture.mouth_shape_remove", text="", icon="REMOVE")
        if 0 <= mouth.active_shape < len(mouth.shapes):
            item = mouth.shapes[mouth.active_shape]
            box.prop(item, "mesh")

        row = layout.row()
        row.enabled = operators.active_session() is None
        row.operator("eggesture.lipsync", icon="SPEAKER")


CLASSES = (EGGESTURE_PT_main, EGGESTURE_UL_bone_map, EGGESTURE_UL_mouth_shapes, EGGESTURE_PT_lipsync)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
