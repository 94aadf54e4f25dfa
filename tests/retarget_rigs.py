"""Synthetic rigs for the retargeting tests: the SMPL-X body rebuilt the way other tools build it.

Each rig is made from SMPL-X's own rest joints so the expected world directions are known,
then changed the ways real rigs differ: other bone names, bone frames with arbitrary rolls
(Blender keeps a bone's Y axis along head -> tail, the roll is free), Z-up armature space,
an A-pose, more or fewer spine bones, twist bones, no fingers, no neck, centimetres.
``evaluate`` poses such a rig exactly as Blender evaluates an armature
(``pose = parent_pose @ parent_rest^-1 @ rest @ basis``), so a test can read world
directions off it the way the add-on tests read them off ``pose.bones[...].matrix``.
"""

from __future__ import annotations

import numpy as np

from egg_core.retarget.rig import Rig
from egg_core.rotations import axis_angle_to_matrix, rotation_between
from egg_core.skeleton import SMPLX

#: Blender's Z-up from the body's Y-up: (x, y, z) -> (x, -z, y).
Z_UP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])

MIXAMO = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "left_knee": "LeftLeg",
    "right_knee": "RightLeg", "left_ankle": "LeftFoot", "right_ankle": "RightFoot",
    "left_foot": "LeftToeBase", "right_foot": "RightToeBase", "neck": "Neck", "head": "Head",
    "left_collar": "LeftShoulder", "right_collar": "RightShoulder", "left_shoulder": "LeftArm",
    "right_shoulder": "RightArm", "left_elbow": "LeftForeArm", "right_elbow": "RightForeArm",
    "left_wrist": "LeftHand", "right_wrist": "RightHand",
}
for _side, _s in (("left", "Left"), ("right", "Right")):
    for _f, _m in (("index", "Index"), ("middle", "Middle"), ("ring", "Ring"), ("pinky", "Pinky"), ("thumb", "Thumb")):
        for _k in (1, 2, 3):
            MIXAMO[f"{_side}_{_f}{_k}"] = f"{_s}Hand{_m}{_k}"

UNREAL = {
    "pelvis": "pelvis", "neck": "neck_01", "head": "head", "jaw": None,
    "left_hip": "thigh_l", "right_hip": "thigh_r", "left_knee": "calf_l", "right_knee": "calf_r",
    "left_ankle": "foot_l", "right_ankle": "foot_r", "left_foot": "ball_l", "right_foot": "ball_r",
    "left_collar": "clavicle_l", "right_collar": "clavicle_r", "left_shoulder": "upperarm_l",
    "right_shoulder": "upperarm_r", "left_elbow": "lowerarm_l", "right_elbow": "lowerarm_r",
    "left_wrist": "hand_l", "right_wrist": "hand_r",
}
for _side, _s in (("left", "l"), ("right", "r")):
    for _f in ("index", "middle", "ring", "pinky", "thumb"):
        for _k in (1, 2, 3):
            UNREAL[f"{_side}_{_f}{_k}"] = f"{_f}_0{_k}_{_s}"

_SPINE = ("spine1", "spine2", "spine3")


def _frame_along(direction: np.ndarray, roll: float) -> np.ndarray:
    """A bone frame (columns x, y, z) with y along ``direction`` and a roll about it."""
    y = direction / np.linalg.norm(direction)
    base = rotation_between(np.array([0.0, 1.0, 0.0]), y)
    return base @ axis_angle_to_matrix(np.array([0.0, roll, 0.0]))


def build_rig(
    names: dict[str, str | None],
    spine: tuple[str, ...] = ("Spine", "Spine1", "Spine2"),
    a_pose_deg: float = 0.0,
    roll_seed: int | None = 0,
    twist: bool = False,
    fingers: bool = True,
    z_up: bool = True,
    units: float = 1.0,
    name: str = "synthetic",
    turn_deg: float = 0.0,
    floor_root: str | None = None,
) -> Rig:
    """A rig shaped like SMPL-X's rest pose (see the module docstring).

    ``names`` maps SMPL-X joints to bone names (None or absent: no such bone); ``spine`` names
    the bones that replace spine1-3, spread evenly between pelvis and neck; ``a_pose_deg``
    lowers both arms about the forward axis at the shoulder; ``twist`` adds a twist bone
    halfway along each upper arm and forearm; ``turn_deg`` turns the whole rig about the
    vertical; ``floor_root`` adds a bone of that name on the floor that parents the hips and the thighs.
    """
    rest = SMPLX.rest_positions() + np.array([0.0, 1.317, 0.0])
    index = {n: i for i, n in enumerate(SMPLX.joint_names)}
    heads = {n: rest[i].copy() for n, i in index.items()}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        pivot = heads[f"{side}_shoulder"]
        lower = axis_angle_to_matrix(np.array([0.0, 0.0, -sign * np.radians(a_pose_deg)]))
        for n in list(heads):
            if n.startswith(side) and any(k in n for k in ("elbow", "wrist", "index", "middle", "ring",
                                                           "pinky", "thumb")):
                heads[n] = pivot + lower @ (heads[n] - pivot)
    bones: list[tuple[str, str | None, np.ndarray, np.ndarray]] = []  # name, parent, head, tail
    made: dict[str, str] = {}  # SMPL-X joint -> bone that stands for it as a parent

    def add(bone: str, parent: str | None, head: np.ndarray, tail: np.ndarray) -> None:
        bones.append((bone, parent, head, tail))

    if floor_root:
        add(floor_root, None, np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.2, 0.0]))
    pelvis, neck = heads["pelvis"], heads["neck"]
    spine_heads = [pelvis + (neck - pelvis) * (k + 1) / (len(spine) + 1) for k in range(len(spine))]
    hips_tail = spine_heads[0] if spine else neck
    add(names["pelvis"], floor_root, pelvis, hips_tail)
    made["pelvis"] = names["pelvis"]
    parent = names["pelvis"]
    for k, bone in enumerate(spine):
        tail = spine_heads[k + 1] if k + 1 < len(spine) else neck
        add(bone, parent, spine_heads[k], tail)
        parent = bone
    for j in ("spine1", "spine2", "spine3"):
        made[j] = parent  # the collars and neck hang from the top spine bone
    children: dict[str, list[str]] = {}
    for j, p in enumerate(SMPLX.parents):
        if p >= 0:
            children.setdefault(SMPLX.joint_names[p], []).append(SMPLX.joint_names[j])
    up_tip = np.array([0.0, 0.1, 0.0])
    for j, joint in enumerate(SMPLX.joint_names):
        if joint == "pelvis" or joint in _SPINE:
            continue
        bone = names.get(joint)
        if bone is None or (not fingers and any(f in joint for f in ("index", "middle", "ring", "pinky", "thumb"))):
            p = SMPLX.joint_names[SMPLX.parents[j]]
            made[joint] = made.get(p, names["pelvis"])
            continue
        p = SMPLX.joint_names[SMPLX.parents[j]]
        kids = [c for c in children.get(joint, []) if c in heads and "eye" not in c and c != "jaw"]
        if joint.endswith("wrist"):
            tail = heads[joint.replace("wrist", "middle1")]
        elif kids:
            tail = np.mean([heads[c] for c in kids], axis=0)
        elif joint == "head":
            tail = heads[joint] + up_tip
        else:
            offset = heads[joint] - heads[p]
            tail = heads[joint] + 0.5 * offset
        parent_bone = made.get(p, names["pelvis"])
        if floor_root and joint in ("left_hip", "right_hip"):
            parent_bone = floor_root  # Quaternius: the legs hang from the floor bone, not the hips
        add(bone, parent_bone, heads[joint], tail)
        made[joint] = bone
        if twist and joint.endswith(("shoulder", "elbow")):
            mid = 0.5 * (heads[joint] + tail)
            twist_name = f"{bone}_twist"
            add(twist_name, bone, mid, tail)
            made[joint] = twist_name
    rng = np.random.default_rng(roll_seed)
    turn = axis_angle_to_matrix(np.array([0.0, np.radians(turn_deg), 0.0]))
    out_heads = np.array([turn @ h for _, _, h, _ in bones])
    out_tails = np.array([turn @ t for _, _, _, t in bones])
    frames = np.array([_frame_along(t - h, 0.0 if roll_seed is None else rng.uniform(-np.pi, np.pi))
                       for h, t in zip(out_heads, out_tails, strict=True)])
    names_out = [b[0] for b in bones]
    parents = [names_out.index(b[1]) if b[1] is not None else -1 for b in bones]
    to_body = np.eye(3)
    if z_up:  # store as Blender does: armature space Z-up, to_body maps it back
        out_heads, out_tails = out_heads @ Z_UP.T, out_tails @ Z_UP.T
        frames = Z_UP @ frames
        to_body = Z_UP.T
    return Rig(name, tuple(names_out), tuple(parents), out_heads / units, out_tails / units, frames,
               to_body, units)


def evaluate(rig: Rig, bones: tuple[str, ...], rotations: np.ndarray,
             root: str = "", location: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World rotations ``(T, J, 3, 3)`` and heads ``(T, J, 3)`` (rig space) of ``rig`` posed with
    pose rotations ``(T, K, 3, 3)`` of ``bones`` (others at rest), Blender's way."""
    T = rotations.shape[0]
    basis = np.broadcast_to(np.eye(3), (T, rig.num_bones, 3, 3)).copy()
    for k, b in enumerate(bones):
        basis[:, rig.index(b)] = rotations[:, k]
    loc = np.zeros((T, rig.num_bones, 3))
    if root and location is not None:
        loc[:, rig.index(root)] = location
    world = np.empty((T, rig.num_bones, 3, 3))
    heads = np.empty((T, rig.num_bones, 3))
    R = rig.rest_rotations
    for j in rig.order:
        p = rig.parents[j]
        if p < 0:
            parent_rot, parent_head = np.eye(3)[None], np.zeros(3)[None]
            offset_rot, offset = R[j], rig.heads[j]
        else:
            parent_rot, parent_head = world[:, p], heads[:, p]
            offset_rot = R[p].T @ R[j]
            offset = R[p].T @ (rig.heads[j] - rig.heads[p])
        frame = parent_rot @ offset_rot  # the bone's rest frame carried by its parent
        world[:, j] = frame @ basis[:, j]
        heads[:, j] = (parent_head + np.einsum("tij,j->ti", parent_rot, offset)
                       + np.einsum("tij,tj->ti", frame, loc[:, j]))
    return world, heads
