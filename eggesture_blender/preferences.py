"""Add-on preferences: compute backend, worker interpreter, model checkpoint, "Check Setup"."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

ADDON_ID = __package__


class EGGESTURE_AP_preferences(bpy.types.AddonPreferences):
    """Where the model runs. Defaults work when torch is importable inside Blender."""

    bl_idname = ADDON_ID

    backend: EnumProperty(
        name="Compute",
        items=[
            ("AUTO", "Automatic", "Inside Blender when torch imports here, else the external Python"),
            ("THREAD", "Inside Blender", "Run the model on a thread of Blender's own Python"),
            ("PROCESS", "External Python", "Run the model in a separate Python that has torch"),
        ],
        default="AUTO",
    )
    python_path: StringProperty(
        name="Python",
        subtype="FILE_PATH",
        description="Interpreter with torch for the external worker (empty: auto-detect)",
    )
    checkpoint_path: StringProperty(
        name="Model",
        subtype="FILE_PATH",
        description="Model checkpoint (.safetensors); empty: the model bundled with the add-on",
    )
    smplx_model_dir: StringProperty(
        name="SMPL-X Model",
        subtype="DIR_PATH",
        description="Folder with the licensed SMPL-X model files; 'Create SMPL-X Armature' then "
                    "builds the real body (empty: $EGGESTURE_SMPLX_DIR, else a simple stand-in body)",
    )
    smplx_gender: EnumProperty(
        name="Gender",
        items=[("NEUTRAL", "Neutral", "SMPLX_NEUTRAL model file"),
               ("MALE", "Male", "SMPLX_MALE model file"),
               ("FEMALE", "Female", "SMPLX_FEMALE model file")],
        default="NEUTRAL",
        description="Which SMPL-X model file 'Create SMPL-X Armature' uses",
    )
    smplx_num_betas: IntProperty(
        name="Shape Coefficients",
        min=0, max=300, default=0,
        description="Number of shape coefficients (betas) to use; 0: all the model file has",
    )
    setup_report: StringProperty(name="Setup Report", default="")

    def body_model_options(self) -> dict:
        """Keyword arguments for ``body_mesh.create_armature`` from these preferences."""
        folder = bpy.path.abspath(self.smplx_model_dir) if self.smplx_model_dir else None
        return {"model_dir": folder, "gender": self.smplx_gender.lower(),
                "num_betas": self.smplx_num_betas or None}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "backend")
        layout.prop(self, "python_path")
        layout.prop(self, "checkpoint_path")
        layout.prop(self, "smplx_model_dir")
        col = layout.column()
        col.prop(self, "smplx_gender")
        col.prop(self, "smplx_num_betas")
        row = layout.row()
        row.operator("eggesture.check_setup", icon="CHECKMARK")
        if self.setup_report:
            box = layout.box()
            for line in self.setup_report.split("\n"):
                box.label(text=line)


def get_preferences(context: bpy.types.Context | None = None) -> EGGESTURE_AP_preferences | None:
    """This add-on's preferences, or None when it is not enabled as an add-on (scripts, tests)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


CLASSES = (EGGESTURE_AP_preferences,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
