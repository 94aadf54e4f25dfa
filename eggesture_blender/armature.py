"""SMPL-X armatures: build one, recognise existing ones, and turn SMPL-X poses into bone channels.

Rest frames. SMPL-X local rotations are relative to a rest pose in which every joint
frame equals the Y-up body frame. Blender applies a pose bone's quaternion in the
bone's own rest frame, so if every bone's rest matrix (armature space) is the Y-up ->
Z-up change of axes ``C = (x, y, z) -> (x, -z, y)`` -- i.e. every bone points along
Blender +Z with roll 0 -- then the SMPL-X axis-angle *is* the pose quaternion, with no
basis change, and the pelvis location is the Y-up translation itself. That is what
:func:`create_smplx_armature` builds. Armatures made elsewhere (the official SMPL-X
add-on, FBX imports with a rotated object) may have other rest frames; for those
:func:`basis_quaternions` computes the per-bone change of basis and
:func:`pose_channels` applies it (identity for our own armatures).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Matrix

from ._core import core
from .axes import Y_UP_TO_Z_UP, smplx_from_armature, y_up_to_z_up
from .keyframes import BoneChannels

ROOT_BONE = "root"

#: Alternative names seen in SMPL-X armatures from other tools (Meshcapade drops "_smplhf").
_ALIASES = {
    "left_eye_smplhf": ("left_eye",),
    "right_eye_smplhf": ("right_eye",),
}


class ArmatureError(core("errors").EggError):
    """The target armature cannot be driven (the message lists what is wrong)."""


def smplx_skeleton():
    """The project's SMPL-X skeleton (egg_core.skeleton.SMPLX)."""
    return core("skeleton").SMPLX


# --------------------------------------------------------------------------- bone lookup


@dataclass(frozen=True)
class BoneMap:
    """Which bone of an armature drives which SMPL-X joint."""

    bones: dict[int, str]  # joint index -> bone name
    missing: tuple[str, ...]  # SMPL-X joint names with no bone


def map_bones(obj: bpy.types.Object, joint_indices: Iterable[int] | None = None) -> BoneMap:
    """Find the bone for every SMPL-X joint (exact name, or a known alias)."""
    skel = smplx_skeleton()
    indices = range(skel.num_joints) if joint_indices is None else joint_indices
    names = obj.data.bones.keys() if obj is not None and obj.type == "ARMATURE" else []
    present = set(names)
    found: dict[int, str] = {}
    missing: list[str] = []
    for j in indices:
        joint = skel.joint_names[j]
        for candidate in (joint, *_ALIASES.get(joint, ())):
            if candidate in present:
                found[j] = candidate
                break
        else:
            missing.append(joint)
    return BoneMap(found, tuple(missing))


def require_bones(obj: bpy.types.Object | None, joint_indices: Iterable[int]) -> BoneMap:
    """:func:`map_bones`, raising :class:`ArmatureError` that lists every missing bone."""
    if obj is None or obj.type != "ARMATURE":
        raise ArmatureError(
            "No target armature: pick an armature in the Gestures panel or click "
            "'Create SMPL-X Armature'."
        )
    bone_map = map_bones(obj, joint_indices)
    if bone_map.missing:
        raise ArmatureError(
            f"Armature '{obj.name}' lacks {len(bone_map.missing)} SMPL-X bone(s): "
            f"{', '.join(bone_map.missing)}. "
            "For your own character set Target to 'Character' (the motion is retargeted onto its "
            "bones); else use an armature from the SMPL-X add-on, click 'Create SMPL-X Armature', "
            "or untick the body parts whose bones are missing."
        )
    return bone_map


# --------------------------------------------------------------------------- building


def _segment_mesh(name: str, rest_z: np.ndarray, parents: Sequence[int], joint_names: Sequence[str]):
    """A low-poly tube per parent->child segment plus a head ball, one vertex group per bone."""
    sides = 8
    ring = np.stack([np.cos(np.linspace(0, 2 * np.pi, sides, endpoint=False)),
                     np.sin(np.linspace(0, 2 * np.pi, sides, endpoint=False))], axis=1)
    verts: list[np.ndarray] = []
    faces: list[tuple[int, ...]] = []
    groups: dict[str, list[int]] = {}

    def add_tube(a: np.ndarray, b: np.ndarray, radius: float, group: str) -> None:
        axis = b - a
        length = float(np.linalg.norm(axis))
        if length < 1e-6:
            return
        axis /= length
        helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        u = np.cross(axis, helper)
        u /= np.linalg.norm(u)
        v = np.cross(axis, u)
        base = sum(len(x) for x in verts)
        circle = radius * (ring[:, :1] * u + ring[:, 1:] * v)
        verts.append(np.concatenate([a + circle, b + circle, [a - axis * radius * 0.5],
                                     [b + axis * radius * 0.5]]))
        for k in range(sides):
            k2 = (k + 1) % sides
            faces.append((base + k, base + k2, base + sides + k2, base + sides + k))
            faces.append((base + 2 * sides, base + k2, base + k))
            faces.append((base + 2 * sides + 1, base + sides + k, base + sides + k2))
        groups.setdefault(group, []).extend(range(base, base + 2 * sides + 2))

    for child, parent in enumerate(parents):
        if parent < 0:
            continue
        length = float(np.linalg.norm(rest_z[child] - rest_z[parent]))
        name_p = joint_names[parent]
        if "eye" in joint_names[child] or "jaw" in joint_names[child]:
            continue
        finger = any(f in name_p for f in ("index", "middle", "ring", "pinky", "thumb"))
        radius = 0.009 if finger or "wrist" in name_p else min(0.06, max(0.02, 0.22 * length))
        add_tube(rest_z[parent], rest_z[child], radius, name_p)
    if "head" in joint_names:
        h = joint_names.index("head")
        add_tube(rest_z[h] - np.array([0, 0, 0.02]), rest_z[h] + np.array([0, 0, 0.2]), 0.09, "head")

    mesh = bpy.data.meshes.new(name)
    all_verts = np.concatenate(verts) if verts else np.zeros((0, 3))
    mesh.from_pydata(all_verts.tolist(), [], faces)
    mesh.update()
    return mesh, groups


def create_smplx_armature(
    collection: bpy.types.Collection,
    name: str = "SMPL-X",
    with_mesh: bool = True,
) -> bpy.types.Object:
    """Build an SMPL-X armature (55 joints + "root") in its rest pose, optionally with a body mesh.

    Every bone's rest matrix is :data:`Y_UP_TO_Z_UP` (bone along +Z, roll 0) with its head
    at the joint's rest position converted to Z-up, so SMPL-X local axis-angle applies
    as the pose quaternion directly. Uses bpy.data only (no operators, no mode changes
    of the user's objects except entering/leaving edit mode on the new armature).
    """
    skel = smplx_skeleton()
    rest_y = np.asarray(skel.rest_positions(), dtype=np.float64) + standing_offset()
    rest_z = y_up_to_z_up(rest_y)
    children: dict[int, list[int]] = {}
    for j, p in enumerate(skel.parents):
        children.setdefault(p, []).append(j)

    arm = bpy.data.armatures.new(name)
    arm.display_type = "STICK"
    obj = bpy.data.objects.new(name, arm)
    collection.objects.link(obj)
    obj["eggesture_smplx"] = True

    rest_rot = Matrix(Y_UP_TO_Z_UP.tolist()).to_4x4()
    view_layer = bpy.context.view_layer
    previous_active = view_layer.objects.active
    previous_mode = bpy.context.mode
    if previous_mode != "OBJECT" and bpy.ops.object.mode_set.poll():
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = arm.edit_bones
        root = edit.new(ROOT_BONE)
        root.matrix = rest_rot
        root.length = 0.15
        for j, joint in enumerate(skel.joint_names):
            bone = edit.new(joint)
            matrix = rest_rot.copy()
            matrix.translation = rest_z[j].tolist()
            bone.matrix = matrix
            kids = children.get(j, [])
            reach = min((np.linalg.norm(rest_z[k] - rest_z[j]) for k in kids), default=0.04)
            bone.length = float(np.clip(0.6 * reach, 0.01, 0.12))
            parent = skel.parents[j]
            bone.parent = edit[ROOT_BONE] if parent < 0 else edit[skel.joint_names[parent]]
            bone.use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous_active

    for pbone in obj.pose.bones:
        pbone.rotation_mode = "QUATERNION"

    if with_mesh:
        mesh, groups = _segment_mesh(f"{name} body", rest_z, skel.parents, skel.joint_names)
        body = bpy.data.objects.new(f"{name} body", mesh)
        collection.objects.link(body)
        body.parent = obj
        for group, members in groups.items():
            vg = body.vertex_groups.new(name=group)
            vg.add(members, 1.0, "REPLACE")
        modifier = body.modifiers.new("Armature", "ARMATURE")
        modifier.object = obj
    return obj


# --------------------------------------------------------------------------- driving


def _matrix_to_quat(m: np.ndarray) -> np.ndarray:
    return np.asarray(core("rotations").matrix_to_quat(np.asarray(m, dtype=np.float64)))


def basis_quaternions(obj: bpy.types.Object, bone_map: BoneMap) -> dict[int, np.ndarray | None]:
    """Per joint, the quaternion m with pose_q = m * q_smplx * m^-1 (None when m is identity).

    The SMPL-X frame maps to the armature's space by ``A = R_obj^-1 C`` (C: Y-up -> Z-up
    world, R_obj: the object's world rotation); a bone with rest rotation B then needs
    ``M = B^T A``.
    """
    a, _ = smplx_from_armature(obj)
    out: dict[int, np.ndarray | None] = {}
    for j, name in bone_map.bones.items():
        b = np.array(obj.data.bones[name].matrix_local.to_3x3().normalized())
        m = b.T @ a
        out[j] = None if np.allclose(m, np.eye(3), atol=1e-6) else _matrix_to_quat(m)
    return out


def standing_offset() -> np.ndarray:
    """Y-up shift that puts the rest skeleton's feet on the floor (BEAT2's standing ``trans``).

    egg_core's rest offsets place the pelvis where SMPL-X puts it with zero translation
    (well below the origin); a created armature is shifted by the translation of a
    person standing upright so it stands on Blender's floor even without root motion.
    """
    return np.array([0.0, float(getattr(core("skeleton"), "STANDING_TRANS_Y", 0.0)), 0.0])


def pelvis_displacement(obj: bpy.types.Object, pelvis_bone: str, trans: np.ndarray) -> np.ndarray:
    """Y-up displacement (metres) of the pelvis from the armature's rest pelvis, per frame.

    The target pelvis position comes from egg_core's forward kinematics (so it follows
    whatever convention the skeleton uses for ``trans``); the rest position is the
    armature's own pelvis bone head, so armatures of other heights stay on the floor.
    """
    skel = smplx_skeleton()
    fk = core("skeleton").forward_kinematics
    trans = np.asarray(trans, dtype=np.float64)
    eye = np.broadcast_to(np.eye(3), (len(trans), skel.num_joints, 3, 3))
    positions, _ = fk(skel, eye, trans)
    a, scale = smplx_from_armature(obj)
    rest = scale * (a.T @ np.array(obj.data.bones[pelvis_bone].head_local))
    return positions[:, 0, :] - rest


def pose_channels(
    obj: bpy.types.Object,
    poses: np.ndarray,
    trans: np.ndarray | None,
    joint_indices: Iterable[int],
    translate: bool = True,
) -> dict[str, BoneChannels]:
    """Bone channels that make ``obj`` follow SMPL-X ``poses`` (T, 55, 3) and ``trans`` (T, 3).

    Raises :class:`ArmatureError` naming missing bones. The pelvis gets location keys
    when ``translate`` and ``trans`` is given.
    """
    rotations = core("rotations")
    joint_indices = list(joint_indices)
    translate = translate and trans is not None
    bone_map = require_bones(obj, sorted(set(joint_indices) | ({0} if translate else set())))
    basis = basis_quaternions(obj, bone_map)
    _, scale = smplx_from_armature(obj)
    channels: dict[str, BoneChannels] = {}
    poses = np.asarray(poses, dtype=np.float64)
    for j in joint_indices:
        q = np.asarray(rotations.axis_angle_to_quat(poses[:, j, :]))
        m = basis[j]
        if m is not None:
            q = np.asarray(rotations.quat_multiply(rotations.quat_multiply(m, q),
                                                   rotations.quat_conjugate(m)))
        channels[bone_map.bones[j]] = BoneChannels(rotation=q)
    if translate:
        disp = pelvis_displacement(obj, bone_map.bones[0], trans)
        m = basis[0]
        if m is not None:
            disp = disp @ np.asarray(rotations.quat_to_matrix(m)).T
        channels.setdefault(bone_map.bones[0], BoneChannels()).location = disp / scale
    return channels
