"""The "Gestures" tab of the 3D View sidebar."""

from __future__ import annotations

import bpy

from . import compat, operators


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
        col.prop(settings, "armature")
        col.operator("eggesture.create_armature", icon="ARMATURE_DATA")

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


CLASSES = (EGGESTURE_PT_main,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
