"""Write a synthetic SMPL-X model file for tests (no licensed data).

The real SMPL-X model files (``SMPLX_NEUTRAL_2020.npz``, ``SMPLX_NEUTRAL.npz``, ...) are
licence-gated, so the tests build a stand-in with the same array names, shapes and dtypes
as the real npz, filled with random but *valid* values:

=========================  ========================  =======================================
key                        shape                     content here
=========================  ========================  =======================================
``v_template``             (V, 3) float64            points clustered around human-like joints
``f``                      (F, 3) uint32             random triangles over the V vertices
``J_regressor``            (55, V) float64           non-negative, every row sums to 1
``kintree_table``          (2, 55) int64             row 0: SMPL-X parents (root 2**32-1)
``weights``                (V, 55) float64           skinning weights, each row sums to 1
``shapedirs``              (V, 3, S+E) float64       S shape then E expression directions
``posedirs``               (V, 3, 486) float64       pose-corrective directions (54 x 9)
``hands_componentsl/r``    (45, 45) float64          orthonormal hand PCA bases
``hands_meanl/r``          (45,) float64             mean hand poses
``hands_coeffsl/r``        (N, 45) float64           PCA coefficients (unused by loaders)
``lmk_faces_idx``          (51,) int64               landmark faces
``lmk_bary_coords``        (51, 3) float64           barycentric coordinates (rows sum to 1)
``dynamic_lmk_faces_idx``  (79, 17) int64            contour landmark look-up table
``dynamic_lmk_bary_coords``(79, 17, 3) float64       its barycentric coordinates
``vt`` / ``ft``            (T, 2) / (F, 3)           texture coordinates
``joint2num``/``part2num`` () object                 name -> index dictionaries (pickled)
=========================  ========================  =======================================

``S + E`` is 400 (300 shape + 100 expression) for the 2020 / v1.1 files and 20 (10 + 10)
for the original v1.0 files; both layouts can be written. The vertex count may be scaled
down, but not below 9930: ``smplx`` picks vertex 9929 (an eye) as an extra keypoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_JOINTS = 55
NUM_VERTICES = 10475  # real SMPL-X
NUM_FACES = 20908  # real SMPL-X
MIN_VERTICES = 9930  # smplx's VertexJointSelector reads vertex 9929
ROOT_PARENT = 2**32 - 1  # how the files converted from the original pickles mark the root

SMPLX_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    15, 15, 15, 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)  # fmt: skip

SMPLX_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf",
    *(f"{side}_{finger}{k}" for side in ("left", "right")
      for finger in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)),
)  # fmt: skip

# Offsets (metres, Y up, +Z forward, +X = the body's left) of the left side and the centre;
# right-side joints mirror their left twin. Only roughly human: the tests need a plausible
# tree, not the licensed proportions.
_LEFT_AND_CENTRE_OFFSETS: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.003, -0.35, 0.012),
    "left_hip": (0.06, -0.09, -0.01),
    "spine1": (-0.004, 0.11, -0.025),
    "left_knee": (0.04, -0.38, 0.0),
    "spine2": (0.0, 0.135, 0.0),
    "left_ankle": (-0.01, -0.40, -0.04),
    "spine3": (0.0, 0.055, 0.003),
    "left_foot": (0.03, -0.06, 0.12),
    "neck": (-0.003, 0.21, -0.035),
    "left_collar": (0.075, 0.12, -0.0),
    "head": (0.01, 0.09, 0.05),
    "left_shoulder": (0.12, 0.045, -0.01),
    "left_elbow": (0.26, -0.01, -0.025),
    "left_wrist": (0.25, 0.01, -0.005),
    "jaw": (0.0, 0.02, 0.05),
    "left_eye_smplhf": (0.03, 0.06, 0.08),
    "left_index1": (0.09, -0.005, 0.03),
    "left_middle1": (0.095, -0.005, 0.01),
    "left_pinky1": (0.08, -0.01, -0.035),
    "left_ring1": (0.09, -0.005, -0.012),
    "left_thumb1": (0.03, -0.015, 0.03),
    "left_index2": (0.035, -0.002, 0.0),
    "left_middle2": (0.035, -0.002, 0.0),
    "left_pinky2": (0.02, -0.002, -0.002),
    "left_ring2": (0.03, -0.002, -0.001),
    "left_thumb2": (0.03, -0.005, 0.02),
    "left_index3": (0.025, -0.001, 0.0),
    "left_middle3": (0.027, -0.001, 0.0),
    "left_pinky3": (0.018, -0.001, 0.0),
    "left_ring3": (0.025, -0.001, 0.0),
    "left_thumb3": (0.025, -0.003, 0.012),
}


def design_rest_offsets(rng: np.random.Generator) -> np.ndarray:
    """(55, 3) parent-relative rest offsets with a little random jitter per joint."""
    offsets = np.zeros((NUM_JOINTS, 3))
    for j, name in enumerate(SMPLX_JOINT_NAMES):
        if name.startswith("right_"):
            x, y, z = _LEFT_AND_CENTRE_OFFSETS["left_" + name[len("right_"):]]
            offsets[j] = (-x, y, z)
        else:
            offsets[j] = _LEFT_AND_CENTRE_OFFSETS[name]
    return offsets * rng.uniform(0.9, 1.1, size=(NUM_JOINTS, 1))


def _positions_from_offsets(offsets: np.ndarray) -> np.ndarray:
    positions = np.zeros_like(offsets)
    for j, parent in enumerate(SMPLX_PARENTS):
        positions[j] = offsets[j] if parent < 0 else positions[parent] + offsets[j]
    return positions


def _random_rows_summing_to_one(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    values = rng.uniform(0.05, 1.0, size=(rows, cols))
    return values / values.sum(axis=1, keepdims=True)


def synthetic_smplx_arrays(
    *,
    seed: int = 0,
    num_vertices: int = NUM_VERTICES,
    num_faces: int = NUM_FACES,
    num_shape: int = 300,
    num_expression: int = 100,
    root_parent: int = ROOT_PARENT,
    shape_scale: float = 0.003,
    pose_scale: float = 0.003,
    smplx_compatible: bool = True,
) -> dict[str, np.ndarray]:
    """Arrays of a random but valid SMPL-X model, keyed like the real npz.

    Every vertex belongs to one joint's cluster; the joint regressor averages a few vertices of
    each cluster (so rest joints land near the designed skeleton) and each vertex is skinned to
    its joint and that joint's parent. Blend-shape magnitudes (``shape_scale`` per unit beta,
    ``pose_scale`` per unit of rotation-matrix change) are centimetre-sized, like the real ones.
    ``smplx_compatible=False`` allows fewer than 9930 vertices (and faces) for quick tests of
    loaders other than ``smplx``.
    """
    if smplx_compatible and num_vertices < MIN_VERTICES:
        raise ValueError(f"smplx needs at least {MIN_VERTICES} vertices, got {num_vertices}")
    if num_vertices < NUM_JOINTS:
        raise ValueError(f"every joint needs vertices: at least {NUM_JOINTS}, got {num_vertices}")
    rng = np.random.default_rng(seed)
    joints = _positions_from_offsets(design_rest_offsets(rng))

    owner = np.arange(num_vertices) % NUM_JOINTS
    rng.shuffle(owner)
    v_template = joints[owner] + rng.normal(scale=0.015, size=(num_vertices, 3))

    j_regressor = np.zeros((NUM_JOINTS, num_vertices))
    for j in range(NUM_JOINTS):
        cluster = np.flatnonzero(owner == j)
        members = rng.choice(cluster, size=min(8, cluster.size), replace=False)
        j_regressor[j, members] = _random_rows_summing_to_one(rng, 1, members.size)[0]

    weights = np.zeros((num_vertices, NUM_JOINTS))
    parent_of_owner = np.array([max(SMPLX_PARENTS[j], 0) for j in owner])
    own_share = rng.uniform(0.5, 1.0, size=num_vertices)
    rows = np.arange(num_vertices)
    weights[rows, owner] += own_share
    weights[rows, parent_of_owner] += 1.0 - own_share
    weights /= weights.sum(axis=1, keepdims=True)

    num_random = min(64, num_faces)
    faces = np.stack([rng.choice(num_vertices, size=3, replace=False) for _ in range(num_random)])
    faces = np.concatenate(
        [faces, (np.arange(num_faces - num_random)[:, None] + np.array([0, 1, 2])) % num_vertices]
    ).astype(np.uint32)

    kintree = np.zeros((2, NUM_JOINTS), dtype=np.int64)
    kintree[0] = SMPLX_PARENTS
    kintree[0, 0] = root_parent
    kintree[1] = np.arange(NUM_JOINTS)

    def orthonormal(n: int) -> np.ndarray:
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        return q

    num_vt = 11313
    names_to_index = {name: i for i, name in enumerate(SMPLX_JOINT_NAMES)}
    arrays: dict[str, np.ndarray] = {
        "v_template": v_template,
        "f": faces,
        "J_regressor": j_regressor,
        "kintree_table": kintree,
        "weights": weights,
        "shapedirs": rng.normal(scale=shape_scale, size=(num_vertices, 3, num_shape + num_expression)),
        "posedirs": rng.normal(scale=pose_scale, size=(num_vertices, 3, (NUM_JOINTS - 1) * 9)),
        "hands_componentsl": orthonormal(45),
        "hands_componentsr": orthonormal(45),
        "hands_meanl": rng.normal(scale=0.15, size=45),
        "hands_meanr": rng.normal(scale=0.15, size=45),
        "hands_coeffsl": rng.normal(scale=0.3, size=(16, 45)),
        "hands_coeffsr": rng.normal(scale=0.3, size=(16, 45)),
        "lmk_faces_idx": rng.integers(0, num_faces, size=51, dtype=np.int64),
        "lmk_bary_coords": _random_rows_summing_to_one(rng, 51, 3),
        "dynamic_lmk_faces_idx": rng.integers(0, num_faces, size=(79, 17), dtype=np.int64),
        "dynamic_lmk_bary_coords": _random_rows_summing_to_one(rng, 79 * 17, 3).reshape(79, 17, 3),
        "vt": rng.uniform(size=(num_vt, 2)),
        "ft": (faces.astype(np.int64) % num_vt).astype(np.uint32),
        "joint2num": np.array(names_to_index, dtype=object),
        "part2num": np.array({"body": 0, "face": 1, "hands": 2}, dtype=object),
    }
    return arrays


def write_synthetic_smplx(path: Path | str, **options: object) -> Path:
    """Write :func:`synthetic_smplx_arrays` (same keyword options) as an uncompressed npz."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **synthetic_smplx_arrays(**options))  # type: ignore[arg-type]
    return path
