"""The real SMPL-X body in Blender: armature at the model's joints, skinned mesh, shape keys.

When the user has the (licence-gated) SMPL-X model files, "Create SMPL-X Armature" builds
the armature at the joints the model regresses for the chosen shape (``betas``) and,
optionally, the model's own mesh, posed exactly as ``smplx``'s forward pass poses it:

* **Rest mesh.** ``v_template + shapedirs @ betas`` (the shape is baked into the mesh),
  converted Y-up -> Blender Z-up with the same ``(x, y, z) -> (x, -z, y)`` and the same
  standing shift as the armature (:mod:`.armature`), so mesh and bones agree at rest.
* **Skinning.** One vertex group per bone, named after the SMPL-X joint, holding the
  model's linear-blend-skinning weights; an Armature modifier (vertex groups only, no
  envelopes, no volume preservation) is then exactly SMPL-X's LBS, because every bone's
  rest rotation is the Y-up -> Z-up change of axes (see :mod:`.armature`).
* **Pose correctives.** SMPL-X adds ``posedirs @ (R_j - I)`` to the rest mesh *before*
  skinning. That term is linear in the 486 entries of ``R_j - I`` (joints 1..54), so it is
  486 shape keys (``pose.<joint>.<row><col>``) whose values are keyed per frame from the
  motion's rotations. Shape keys are applied before the Armature modifier, exactly like
  SMPL-X. Without them the mesh is the plain LBS body (``pose_correctives=False``).
* **Expressions.** One shape key per expression coefficient (``Exp000``...), keyed from
  the motion's ``expressions``. SMPL-X also regresses the joints from the mesh *with*
  expressions, so a face expression moves the regressed joints a little (jaw, eyes,
  head). That shift ``d_j`` is linear in the expressions, and a pose-bone location of
  ``(I - R_j) d_j`` reproduces it exactly (the skinning transform of a joint with rest
  point ``J + d`` equals the one with rest point ``J`` and that extra location), so
  :func:`body_pose_channels` adds those locations and the match stays exact.

Everything the keying needs (rest joints, the expression -> joint map, the model path) is
stored on the armature as the custom property ``eggesture_body``, so a saved .blend file
can be animated again without the model file. The model maths is numpy only
(``egg_core.body_model``); neither torch nor ``smplx`` is imported here, and without model
files :func:`create_armature` builds the project's default armature as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import bpy
import numpy as np
from mathutils import Matrix

from . import armature as arm
from . import compat, keyframes
from ._core import core
from .axes import Y_UP_TO_Z_UP, smplx_from_armature, y_up_to_z_up
from .keyframes import BoneChannels

BODY_PROP = "eggesture_body"  # custom property on the armature object (see module docstring)
MESH_PROP = "eggesture_body_mesh"  # marks the body mesh object built here
CORRECTIVE_PREFIX = "pose."
EXPRESSION_PREFIX = "Exp"
#: Shape-key values are clamped to [slider_min, slider_max]; Blender allows at most +-10.
#: Pose features (entries of R - I) lie in [-2, 2]; expressions are well inside +-10.
SLIDER_LIMIT = 10.0



def _body_model_module():
    return core("body_model")


# --------------------------------------------------------------------------- names


def corrective_key_name(feature: int, joint_names: Sequence[str]) -> str:
    """Shape-key name of pose feature ``feature`` (0..485): ``pose.<joint>.<row><col>``."""
    joint, entry = divmod(int(feature), 9)
    return f"{CORRECTIVE_PREFIX}{joint_names[joint + 1]}.{entry // 3}{entry % 3}"


def expression_key_name(index: int) -> str:
    """Shape-key name of expression coefficient ``index``: ``Exp000``, ``Exp001``, ..."""
    return f"{EXPRESSION_PREFIX}{int(index):03d}"


# --------------------------------------------------------------------------- queries


def is_body_armature(obj: bpy.types.Object | None) -> bool:
    """True for an armature built by this module (it carries the body data for keying)."""
    return obj is not None and obj.type == "ARMATURE" and BODY_PROP in obj.keys()


def body_mesh_of(armature_obj: bpy.types.Object) -> bpy.types.Object | None:
    """The SMPL-X body mesh built for ``armature_obj`` (a child object), or ``None``."""
    for child in armature_obj.children:
        if child.type == "MESH" and child.get(MESH_PROP):
            return child
    return None


def _body_info(armature_obj: bpy.types.Object) -> dict[str, Any]:
    """The stored body data of a body armature as numpy arrays."""
    if not is_body_armature(armature_obj):
        raise arm.ArmatureError(
            f"Armature '{getattr(armature_obj, 'name', None)}' was not built from SMPL-X model "
            "files: click 'Create SMPL-X Armature' with the SMPL-X model folder set in the "
            "add-on preferences."
        )
    prop = armature_obj[BODY_PROP]
    num_expr = int(prop["num_expressions"])
    return {
        "rest_joints": np.asarray(prop["rest_joints"], dtype=np.float64).reshape(-1, 3),
        "expression_joint_dirs": np.asarray(
            prop["expression_joint_dirs"], dtype=np.float64
        ).reshape(-1, 3, num_expr),
        "num_expressions": num_expr,
        "joint_names": tuple(prop["joint_names"]),
    }


# --------------------------------------------------------------------------- armature


def rest_joints_z_up(body_model: Any, betas: Any = None) -> np.ndarray:
    """(55, 3) rest joints of ``body_model`` for ``betas`` where the armature puts them (Z-up).

    The same standing shift as the default armature (:func:`.armature.standing_offset`) is
    added, so the body stands on the floor without root motion.
    """
    joints = body_model.rest_joints(betas) + arm.standing_offset()
    return y_up_to_z_up(joints)


def _bone_length(j: int, heads: np.ndarray, children: dict[int, list[int]]) -> float:
    """Display length of a bone, as the default armature chooses it (deformation ignores it)."""
    reach = min((float(np.linalg.norm(heads[k] - heads[j])) for k in children.get(j, [])),
                default=0.04)
    return float(np.clip(0.6 * reach, 0.01, 0.12))


def fit_armature_to_joints(armature_obj: bpy.types.Object, heads_z: np.ndarray,
                           joint_names: Sequence[str], parents: Sequence[int]) -> None:
    """Move the SMPL-X bones' rest heads to ``heads_z`` (armature space, Z-up), keep orientation.

    Every bone keeps the rest rotation Y-up -> Z-up (bone along +Z, roll 0) that lets SMPL-X
    axis-angle be the pose quaternion. Enters and leaves edit mode on ``armature_obj`` only.
    """
    heads_z = np.asarray(heads_z, dtype=np.float64)
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents):
        children.setdefault(p, []).append(j)
    rest_rot = Matrix(Y_UP_TO_Z_UP.tolist()).to_4x4()
    view_layer = bpy.context.view_layer
    previous_active = view_layer.objects.active
    if bpy.context.mode != "OBJECT" and bpy.ops.object.mode_set.poll():
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = armature_obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = armature_obj.data.edit_bones
        missing = [name for name in joint_names if name not in edit]
        if missing:
            raise arm.ArmatureError(
                f"Armature '{armature_obj.name}' lacks the SMPL-X bone(s) {', '.join(missing[:8])}; "
                "create a new one with 'Create SMPL-X Armature'."
            )
        for j, name in enumerate(joint_names):
            bone = edit[name]
            matrix = rest_rot.copy()
            matrix.translation = heads_z[j].tolist()
            bone.matrix = matrix
            bone.length = _bone_length(j, heads_z, children)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous_active


def _store_body_info(armature_obj: bpy.types.Object, body_model: Any, betas: np.ndarray,
                     joint_names: Sequence[str]) -> None:
    """Keep what keying needs on the armature (survives saving the .blend file)."""
    rest = body_model.rest_joints(betas)
    # Joint shift per unit expression: J_regressor @ expression_dirs, (55, 3, E).
    expr_dirs = np.einsum("jv,vke->jke", body_model.j_regressor, body_model.expression_dirs)
    armature_obj[BODY_PROP] = {
        "model_path": str(body_model.path),
        "gender": str(body_model.gender),
        "betas": [float(b) for b in betas],
        "num_expressions": int(body_model.num_expressions),
        "rest_joints": rest.reshape(-1).tolist(),
        "expression_joint_dirs": expr_dirs.reshape(-1).tolist(),
        "joint_names": list(joint_names),
    }


def create_body_armature(
    collection: bpy.types.Collection,
    body_model: Any,
    betas: Any = None,
    name: str = "SMPL-X",
    with_mesh: bool = True,
    pose_correctives: bool = True,
    expressions: bool = True,
) -> bpy.types.Object:
    """An SMPL-X armature at ``body_model``'s rest joints for ``betas``, plus the body mesh.

    Built with :func:`.armature.create_smplx_armature` (bones, rest frames, root bone), then
    its bones are moved to the model's joints. ``betas`` of any length (e.g. BEAT2's 300)
    are truncated or zero-padded to the model's count.
    """
    skel = body_model.skeleton(betas)
    fitted = body_model.fit_betas(betas)
    obj = arm.create_smplx_armature(collection, name, with_mesh=False)
    fit_armature_to_joints(obj, rest_joints_z_up(body_model, fitted), skel.joint_names, skel.parents)
    _store_body_info(obj, body_model, fitted, skel.joint_names)
    if with_mesh:
        build_body_for_armature(obj, body_model, fitted, pose_correctives=pose_correctives,
                                expressions=expressions)
    return obj


def create_armature(
    collection: bpy.types.Collection,
    name: str = "SMPL-X",
    with_mesh: bool = True,
    model_dir: str | os.PathLike[str] | None = None,
    gender: str = "neutral",
    betas: Any = None,
    num_betas: int | None = None,
    pose_correctives: bool = True,
) -> bpy.types.Object:
    """What "Create SMPL-X Armature" does: the real body when model files are set, else the default.

    ``model_dir`` (the add-on preference; empty -> ``$EGGESTURE_SMPLX_DIR``) unset: the
    project's own armature and simple body, exactly as before. Set: the SMPL-X armature and
    (``with_mesh``) skinned body of that folder's model for ``gender`` and ``betas``.
    A folder without a usable file raises ``BodyModelError`` (an ``EggError``) naming the
    files it expected.
    """
    bm = _body_model_module()
    folder = str(model_dir).strip() if model_dir is not None else ""
    if bm.resolve_model_dir(folder or None) is None:
        return arm.create_smplx_armature(collection, name, with_mesh=with_mesh)
    model = bm.load_body_model(folder or None, gender, num_betas=num_betas)
    return create_body_armature(collection, model, betas, name, with_mesh=with_mesh,
                                pose_correctives=pose_correctives)


def shape_from_motion_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    """``(betas (300,), gender)`` of a BEAT2-style motion ``.npz``: the shape to build the body for.

    Raises ``MotionFormatError`` (an ``EggError``) for a missing or malformed file.
    """
    motion = core("formats.beat2").read_beat2_npz(path)
    return np.asarray(motion.betas, dtype=np.float64), str(motion.gender or "neutral")


def describe_body_model(model_dir: str | os.PathLike[str] | None = None,
                        gender: str = "neutral") -> str:
    """One line for "Check Setup": which SMPL-X model file would be used, or why none."""
    bm = _body_model_module()
    folder = str(model_dir).strip() if model_dir is not None else ""
    if bm.resolve_model_dir(folder or None) is None:
        return (f"SMPL-X body: not set (optional; set the SMPL-X folder or {bm.ENV_VAR} "
                "for the exact body)")
    try:
        return f"SMPL-X body: {bm.find_model_file(folder or None, gender)}"
    except bm.BodyModelError as exc:
        return f"SMPL-X body: {exc}"


# --------------------------------------------------------------------------- mesh


def _new_mesh(name: str, verts_z: np.ndarray, faces: np.ndarray) -> bpy.types.Mesh:
    """A triangle mesh from arrays, written with foreach_set (10k vertices in milliseconds)."""
    mesh = bpy.data.meshes.new(name)
    num_v, num_f = len(verts_z), len(faces)
    mesh.vertices.add(num_v)
    mesh.vertices.foreach_set("co", np.ascontiguousarray(verts_z, dtype=np.float32).ravel())
    mesh.loops.add(3 * num_f)
    mesh.loops.foreach_set("vertex_index", np.ascontiguousarray(faces, dtype=np.int32).ravel())
    mesh.polygons.add(num_f)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * num_f, 3, dtype=np.int32))
    mesh.update(calc_edges=True)
    if hasattr(mesh, "shade_smooth"):
        mesh.shade_smooth()
    return mesh


def _add_vertex_groups(obj: bpy.types.Object, weights: np.ndarray,
                       joint_names: Sequence[str]) -> None:
    """One vertex group per joint with the non-zero LBS weights (bones match by name)."""
    for j, name in enumerate(joint_names):
        group = obj.vertex_groups.new(name=name)
        column = weights[:, j]
        for v in np.flatnonzero(column > 0.0):
            group.add([int(v)], float(column[v]), "REPLACE")


def _add_shape_key(obj: bpy.types.Object, name: str, coords_z: np.ndarray) -> bpy.types.ShapeKey:
    key = obj.shape_key_add(name=name, from_mix=False)
    key.data.foreach_set("co", np.ascontiguousarray(coords_z, dtype=np.float32).ravel())
    key.slider_min = -SLIDER_LIMIT
    key.slider_max = SLIDER_LIMIT
    key.value = 0.0
    return key


def build_body_for_armature(
    armature_obj: bpy.types.Object,
    body_model: Any,
    betas: Any = None,
    *,
    pose_correctives: bool = True,
    expressions: bool = True,
    name: str | None = None,
) -> bpy.types.Object:
    """The skinned SMPL-X mesh for a body armature (made by :func:`create_body_armature`).

    Rest vertices for ``betas`` in the armature's space, faces, one vertex group per bone,
    an Armature modifier, and (optionally) the 486 pose-corrective and the expression
    shape keys, all at value 0. The mesh is parented to the armature with an identity
    parent inverse, so it follows the armature object's transform.
    """
    joint_names = tuple(_body_info(armature_obj)["joint_names"])
    fitted = body_model.fit_betas(betas)
    rest_y = body_model.shaped_vertices(fitted) + arm.standing_offset()
    label = name or f"{armature_obj.name} body"
    mesh = _new_mesh(label, y_up_to_z_up(rest_y), body_model.faces)
    body = bpy.data.objects.new(label, mesh)
    for collection in armature_obj.users_collection:
        collection.objects.link(body)
    body.parent = armature_obj
    body.matrix_parent_inverse = Matrix.Identity(4)
    body[MESH_PROP] = True
    _add_vertex_groups(body, body_model.lbs_weights, joint_names)
    modifier = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature_obj
    modifier.use_vertex_groups = True
    modifier.use_bone_envelopes = False
    modifier.use_deform_preserve_volume = False

    if pose_correctives or (expressions and body_model.num_expressions):
        body.shape_key_add(name="Basis", from_mix=False)
        rest_z = y_up_to_z_up(rest_y)
    if pose_correctives:
        posedirs = body_model.posedirs
        for p in range(posedirs.shape[-1]):
            _add_shape_key(body, corrective_key_name(p, joint_names), rest_z + y_up_to_z_up(posedirs[:, :, p]))
    if expressions:
        for e in range(body_model.num_expressions):
            _add_shape_key(body, expression_key_name(e),
                           rest_z + y_up_to_z_up(body_model.expression_dirs[:, :, e]))
    return body


# --------------------------------------------------------------------------- keying


def body_pose_channels(
    armature_obj: bpy.types.Object,
    poses: np.ndarray,
    trans: np.ndarray | None,
    joint_indices: Iterable[int],
    expressions: np.ndarray | None = None,
    translate: bool = True,
) -> dict[str, BoneChannels]:
    """Bone channels that pose a body armature exactly as ``smplx`` would.

    Rotations come from :func:`.armature.pose_channels`. Locations: the pelvis moves to
    ``J_pelvis + trans`` (this body's regressed pelvis, not the default skeleton's), and
    with ``expressions`` every joint whose regressed position the expressions shift by
    ``d_j`` gets ``(I - R_j) d_j`` (see the module docstring). Joints outside
    ``joint_indices`` are taken to be at rest (``R_j = I``).
    """
    info = _body_info(armature_obj)
    poses = np.asarray(poses, dtype=np.float64)
    joint_indices = sorted(set(int(j) for j in joint_indices))
    channels = arm.pose_channels(armature_obj, poses, None, joint_indices, translate=False)
    n = len(poses)
    translate = translate and trans is not None
    bone_map = arm.require_bones(armature_obj, sorted(set(joint_indices) | {0}))
    basis = arm.basis_quaternions(armature_obj, bone_map)
    a, scale = smplx_from_armature(armature_obj)
    rotations = core("rotations")

    locations: dict[int, np.ndarray] = {}
    if translate:
        head = np.array(armature_obj.data.bones[bone_map.bones[0]].head_local)
        rest_pelvis = scale * (a.T @ head)
        locations[0] = info["rest_joints"][0] + np.asarray(trans, dtype=np.float64) - rest_pelvis
    if expressions is not None:
        dirs = info["expression_joint_dirs"]
        expr = np.zeros((n, info["num_expressions"]))
        given = np.asarray(expressions, dtype=np.float64).reshape(n, -1)
        k = min(given.shape[1], expr.shape[1])
        expr[:, :k] = given[:, :k]
        shift = np.einsum("jde,te->tjd", dirs, expr)  # (T, 55, 3)
        animated = set(joint_indices)
        for j in range(len(dirs)):
            if not np.any(np.abs(dirs[j]) > 0.0) or j not in bone_map.bones:
                continue
            if j not in animated:
                continue  # at rest, (I - R_j) d_j = 0
            rot = np.asarray(rotations.axis_angle_to_matrix(poses[:, j]))
            extra = shift[:, j] - np.einsum("tab,tb->ta", rot, shift[:, j])
            locations[j] = locations.get(j, np.zeros((n, 3))) + extra

    for j, loc in locations.items():
        m = basis.get(j)
        if m is not None:
            loc = loc @ np.asarray(rotations.quat_to_matrix(m)).T
        channels.setdefault(bone_map.bones[j], BoneChannels()).location = loc / scale
    return channels


def new_key_action(key: bpy.types.Key, name: str) -> tuple[bpy.types.Action, Any]:
    """A new action animating the shape-key datablock ``key``, made active; (action, fcurves).

    The previous action keeps a fake user so no take is lost. A shape-key datablock needs
    a slot of id type KEY on 4.4+, not the OBJECT slot of :func:`compat.new_object_action`.
    """
    adt = key.animation_data or key.animation_data_create()
    if adt.action is not None:
        adt.action.use_fake_user = True
    action, slot = compat.new_action(name, "KEY", key.name)
    action.use_fake_user = True
    adt.action = action
    if slot is not None:
        adt.action_slot = slot
    return action, compat.slot_fcurves(action, slot)


def key_body_shapes(
    body_obj: bpy.types.Object,
    poses: np.ndarray,
    frames: np.ndarray,
    joint_indices: Iterable[int] | None = None,
    expressions: np.ndarray | None = None,
    base_name: str = "Gestures",
    interpolation: str = "BEZIER",
) -> bpy.types.Action | None:
    """Key the corrective and expression shape keys of ``body_obj`` for a motion, in bulk.

    Correctives of the joints in ``joint_indices`` (default: all) get ``R_j - I`` of
    ``poses`` (T, 55, 3); expression keys get ``expressions`` (T, E) when given (extra
    columns are dropped, missing ones left unkeyed). Writes a new action
    "<base_name> shapes take N" on the mesh's shape-key datablock; returns it, or ``None``
    when the mesh has no such shape keys.
    """
    shape_keys = body_obj.data.shape_keys
    if shape_keys is None:
        return None
    blocks = shape_keys.key_blocks
    joint_names = core("skeleton").SMPLX.joint_names
    frames = np.asarray(frames, dtype=np.float64)
    poses = np.asarray(poses, dtype=np.float64)
    if poses.shape != (len(frames), 55, 3):
        raise ValueError(f"poses shape {poses.shape}, want ({len(frames)}, 55, 3)")
    wanted = set(range(1, 55) if joint_indices is None else (int(j) for j in joint_indices))
    curves: list[tuple[str, str, np.ndarray]] = []
    features = core("body_model").pose_features(poses)
    for p in range(features.shape[1]):
        joint = p // 9 + 1
        key_name = corrective_key_name(p, joint_names)
        if joint in wanted and key_name in blocks:
            curves.append((key_name, joint_names[joint], features[:, p]))
    if expressions is not None:
        expr = np.asarray(expressions, dtype=np.float64).reshape(len(frames), -1)
        for e in range(expr.shape[1]):
            key_name = expression_key_name(e)
            if key_name in blocks:
                curves.append((key_name, "expressions", expr[:, e]))
    if not curves:
        return None
    interp = None if interpolation == "BEZIER" else \
        bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[interpolation].value
    action, fcurves = new_key_action(shape_keys, keyframes.next_take_name(f"{base_name} shapes"))
    for key_name, group, values in curves:
        path = f'key_blocks["{bpy.utils.escape_identifier(key_name)}"].value'
        keyframes.write_curve(fcurves, path, 0, group, frames, values, interp)
    return action


def apply_body_take(
    armature_obj: bpy.types.Object,
    poses: np.ndarray,
    trans: np.ndarray | None,
    frames: np.ndarray,
    joint_indices: Iterable[int],
    *,
    translate: bool = True,
    expressions: np.ndarray | None = None,
    base_name: str = "Gestures",
    interpolation: str = "BEZIER",
) -> bpy.types.Action:
    """Write one take on a body armature and its mesh: bones exact to ``smplx``, shape keys keyed.

    The drop-in for ``keyframes.write_take(obj, base, arm.pose_channels(...), frames)`` when
    :func:`is_body_armature` is true. Returns the armature's new action.
    """
    joint_indices = sorted(set(int(j) for j in joint_indices))
    channels = body_pose_channels(armature_obj, poses, trans, joint_indices, expressions,
                                  translate=translate)
    action = keyframes.write_take(armature_obj, base_name, channels, frames, interpolation)
    body = body_mesh_of(armature_obj)
    if body is not None:
        key_body_shapes(body, poses, frames, joint_indices, expressions, base_name, interpolation)
    return action


def apply_motion_to_body(
    armature_obj: bpy.types.Object,
    motion: Any,
    frame_start: float = 1.0,
    scene_fps: float | None = None,
    joint_indices: Iterable[int] | None = None,
    *,
    translate: bool = True,
    base_name: str | None = None,
    interpolation: str = "BEZIER",
) -> bpy.types.Action:
    """Key an egg_core ``Motion`` (poses, trans, expressions) on a body armature and its mesh.

    Frame ``i`` of the motion lands on scene frame ``frame_start + i * scene_fps / motion.fps``
    (``scene_fps``: the current scene's rate when ``None``). All 55 joints by default.
    """
    if scene_fps is None:
        scene_fps = compat.scene_fps(bpy.context.scene)
    n = int(motion.num_frames)
    frames = float(frame_start) + np.arange(n) * (float(scene_fps) / float(motion.fps))
    expressions = getattr(motion, "expressions", None)
    if expressions is not None and not np.any(expressions):
        expressions = None  # a motion without a face: leave the expression keys alone
    return apply_body_take(
        armature_obj, np.asarray(motion.poses), np.asarray(motion.trans), frames,
        range(55) if joint_indices is None else joint_indices, translate=translate,
        expressions=None if expressions is None else np.asarray(expressions),
        base_name=base_name or "Motion", interpolation=interpolation,
    )
