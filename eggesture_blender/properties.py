"""Scene settings of the Gestures panel, the live job status shown while generating, and the
lip-sync mouth mapping and retargeting bone map stored on each character object."""

from __future__ import annotations

import math

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ._core import core

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
    ("LOWER", "Lower Body", "Pelvis and legs: weight shifts with the feet kept on the ground "
     "(a whole-body model; a single-part model holds a relaxed stand)"),
    ("HEAD", "Face", "Jaw and eyes on the armature, and the expression shape keys of an SMPL-X "
     "body mesh (a whole-body model; a single-part model holds them at rest)"),
    ("ROOT", "Root Motion", "Pelvis location from the generated translation (untick for a seated "
     "character)"),
]


def _is_armature(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


def _is_mesh(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "MESH"


def _is_character(_self, obj: bpy.types.Object) -> bool:
    return obj.type in ("ARMATURE", "MESH")


def _preset_items() -> list[tuple[str, str, str]]:
    """Detect's presets: the naming conventions egg_core.retarget knows, and Auto."""
    retarget = core("retarget")
    items = [("auto", "Auto", "The naming convention that fits best, then the hierarchy")]
    for c in retarget.CONVENTION_CHOICES:
        if c != "auto":
            label = retarget.CONVENTION_LABELS.get(c, c)
            items.append((c, label, f"Bone names as {label} spells them"))
    return items


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
    target_mode: EnumProperty(
        name="Target",
        items=[
            ("SMPLX", "SMPL-X", "An SMPL-X armature: the generated joint rotations are keyed as they are"),
            ("CHARACTER", "Character", "Any humanoid armature (Mixamo, Rigify, VRM, Unreal, ...): the "
             "motion is retargeted onto its bones through the bone map"),
        ],
        default="SMPLX",
    )
    in_place: BoolProperty(
        name="In Place", default=False,
        description="Character target: keep only the root's up-down motion, not its travel",
    )
    bone_preset: EnumProperty(
        name="Preset", items=_preset_items(), default="auto",
        description="Naming convention Detect reads the bones with (Auto: the one that fits best)",
    )
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
        name="Animate", items=_PART_ITEMS, options={"ENUM_FLAG"},
        default={"UPPER", "HANDS", "LOWER", "HEAD", "ROOT"},
    )
    lipsync: BoolProperty(
        name="Lip Sync", default=False,
        description="Also key the character's mouth (jaw bone, viseme or ARKit shape keys) from the "
                    "phones of the speech",
    )
    lipsync_object: PointerProperty(
        name="Face", type=bpy.types.Object, poll=_is_character,
        description="Character whose mouth lip sync keys: an armature (its meshes) or one mesh "
                    "(empty: the Armature above)",
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


class EGGESTURE_PG_bone_map_item(bpy.types.PropertyGroup):
    """One row of a character's bone map: a body part and the bone that plays it."""

    part: StringProperty(name="Part", description="Body part (spine and neck may have several rows, "
                                                   "hips upwards; 'follows' rows copy the Leader's motion)")
    bone: StringProperty(name="Bone", description="Bone of this armature that plays the part")
    leader: StringProperty(name="Leader", description="For a 'follows' row: the mapped bone it copies")


class EGGESTURE_PG_rig(bpy.types.PropertyGroup):
    """A character's bone map for retargeting (stored on the armature object, saved with the .blend)."""

    bones: CollectionProperty(type=EGGESTURE_PG_bone_map_item)
    active_bone: IntProperty(default=0)
    convention: StringProperty(name="Convention", description="Naming convention the map was detected with")
    root_bone: StringProperty(name="Root Bone",
                              description="Bone that carries root motion (empty: the common parent of "
                                          "the hips and thighs)")


#: Identifiers are egg_core.lipsync.targets keys, so the stored value names the set directly.
_SET_ITEMS = [("none", "None", "No mouth shape keys")] + [
    (key, target.label, f"Shape keys of the {target.label} convention")
    for key, target in core("lipsync.targets").TARGET_SETS.items()
]


class EGGESTURE_PG_mouth_shape(bpy.types.PropertyGroup):
    """One row of the mouth mapping: a channel of the shape set drives one shape key."""

    channel: StringProperty(name="Channel", description="Channel of the shape set (viseme, vowel or blendshape)")
    mesh: PointerProperty(name="Mesh", type=bpy.types.Object, poll=_is_mesh)
    shape_key: StringProperty(name="Shape Key", description="Shape key this channel drives")
    gain: FloatProperty(name="Gain", default=1.0, min=0.0, soft_max=2.0,
                        description="Scale of the keyed value (1: as computed)")


class EGGESTURE_PG_mouth(bpy.types.PropertyGroup):
    """The mouth of a character for lip sync (stored on the object, saved with the .blend)."""

    detected: BoolProperty(default=False, description="A mapping was detected or loaded")
    shape_set: EnumProperty(name="Shape Set", items=_SET_ITEMS, default="none",
                            description="Which convention the mapped shape keys follow")
    shapes: CollectionProperty(type=EGGESTURE_PG_mouth_shape)
    active_shape: IntProperty(default=0)
    use_shapes: BoolProperty(name="Shape Keys", default=True, description="Key the mapped shape keys")
    use_jaw: BoolProperty(name="Jaw Bone", default=True, description="Rotate the jaw bone")
    jaw_armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature)
    jaw_bone: StringProperty(name="Jaw", description="Bone that opens the mouth")
    jaw_axis: EnumProperty(name="Axis", items=[(a, a, f"Rotate about the bone's local {a} axis")
                                               for a in ("X", "Y", "Z")], default="X")
    jaw_angle: FloatProperty(name="Opening", subtype="ANGLE", default=math.radians(15.0),
                             soft_min=-math.radians(45.0), soft_max=math.radians(45.0),
                             description="Rotation at full opening (\"aa\"); negative turns the other way")


CLASSES = (EGGESTURE_PG_settings, EGGESTURE_PG_status, EGGESTURE_PG_mouth_shape, EGGESTURE_PG_mouth,
           EGGESTURE_PG_bone_map_item, EGGESTURE_PG_rig)


_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()
    bpy.types.Scene.eggesture = PointerProperty(type=EGGESTURE_PG_settings)
    bpy.types.WindowManager.eggesture_status = PointerProperty(type=EGGESTURE_PG_status)
    bpy.types.Object.eggesture_mouth = PointerProperty(type=EGGESTURE_PG_mouth)
    bpy.types.Object.eggesture_rig = PointerProperty(type=EGGESTURE_PG_rig)


def unregister() -> None:
    del bpy.types.Object.eggesture_rig
    del bpy.types.Object.eggesture_mouth
    del bpy.types.WindowManager.eggesture_status
    del bpy.types.Scene.eggesture
    _unregister_classes()
