"""Scene settings of the Gestures panel, and the live job status shown while generating."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

#: Panel body parts -> egg_core skeleton part names (ROOT means "pelvis translation").
PART_GROUPS: dict[str, tuple[str, ...]] = {
    "UPPER": ("upper",),
    "HANDS": ("hands",),
    "LOWER": ("lower",),
    "HEAD": ("face", "eyes"),
    "ROOT": (),
}

_PART_ITEMS = [
    ("UPPER", "Upper Body", "Spine, neck, head, shoulders and arms (the model's main output)"),
    ("HANDS", "Hands", "All finger joints"),
    ("LOWER", "Lower Body", "Pelvis and legs (held in a relaxed stand by the model)"),
    ("HEAD", "Jaw & Eyes", "Jaw and eye joints (held at rest by the model)"),
    ("ROOT", "Root Motion", "Pelvis location from the generated translation"),
]


def _is_armature(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class EGGESTURE_PG_settings(bpy.types.PropertyGroup):
    """Inputs of one generation run (stored per scene, saved with the .blend)."""

    audio_source: EnumProperty(
        name="Audio",
        items=[
            ("STRIP", "Sound Strip", "A sound strip of this scene's sequencer"),
            ("FILE", "File", "An audio file on disk"),
        ],
        default="STRIP",
    )
    sound_strip: StringProperty(
        name="Strip", description="Sound strip to follow (empty: the first sound strip that is not muted)"
    )
    audio_file: StringProperty(name="Audio File", subtype="FILE_PATH")
    audio_start_frame: IntProperty(
        name="Start Frame", default=1, description="Frame where the audio file's first sample plays"
    )
    transcript_source: EnumProperty(
        name="Transcript",
        items=[
            ("NONE", "None", "Audio only"),
            ("TEXT", "Text", "A Text datablock (plain text, TextGrid, JSON, SRT or VTT)"),
            ("FILE", "File", "A transcript file: txt, TextGrid, JSON, SRT or VTT"),
        ],
        default="NONE",
    )
    transcript_text: PointerProperty(name="Text", type=bpy.types.Text)
    transcript_file: StringProperty(name="Transcript File", subtype="FILE_PATH")
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature)
    use_frame_range: BoolProperty(
        name="Custom Range", default=False,
        description="Key only this frame range instead of the whole audio placement",
    )
    frame_start: IntProperty(name="Start", default=1)
    frame_end: IntProperty(name="End", default=250)
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed, same gestures")
    temperature: FloatProperty(
        name="Variation", default=0.4, min=0.05, max=2.0, soft_max=1.5,  # egg_core DEFAULT_TEMPERATURE
        description="Sampling temperature: lower is calmer and more typical, higher more varied",
    )
    parts: EnumProperty(
        name="Animate", items=_PART_ITEMS, options={"ENUM_FLAG"}, default={"UPPER", "HANDS"},
    )
    device: EnumProperty(
        name="Device",
        items=[
            ("AUTO", "Auto", "GPU when available, else CPU"),
            ("CPU", "CPU", "Always the CPU"),
            ("CUDA", "CUDA", "An NVIDIA GPU (fails clearly when there is none)"),
        ],
        default="AUTO",
    )


class EGGESTURE_PG_status(bpy.types.PropertyGroup):
    """Progress of the running job (window-manager data: never saved, not undone)."""

    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    message: StringProperty(default="")
    last_report: StringProperty(default="")


CLASSES = (EGGESTURE_PG_settings, EGGESTURE_PG_status)


_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()
    bpy.types.Scene.eggesture = PointerProperty(type=EGGESTURE_PG_settings)
    bpy.types.WindowManager.eggesture_status = PointerProperty(type=EGGESTURE_PG_status)


def unregister() -> None:
    del bpy.types.WindowManager.eggesture_status
    del bpy.types.Scene.eggesture
    _unregister_classes()
