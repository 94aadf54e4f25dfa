"""The real SMPL-X body, read from the user's own (licence-gated) model files.

The project's default skeleton (:data:`egg_core.skeleton.SMPLX`) has made-up human
proportions, because the SMPL-X model files may not be redistributed. Users who have
downloaded them (``SMPLX_NEUTRAL_2020.npz``, or ``SMPLX_NEUTRAL.npz`` /
``SMPLX_MALE.npz`` / ``SMPLX_FEMALE.npz`` from the v1.1 models) point the tool at their
folder and get the exact body instead:

* **where**: a folder (or the file itself) passed as an argument — the CLI flag and the
  add-on preference both arrive here that way — or else the environment variable
  ``EGGESTURE_SMPLX_DIR``. A folder is searched directly and in its ``smplx/`` sub-folder
  (the layout ``smplx.create`` expects), for the ``_2020`` file first.
* **what**: :class:`BodyModel` holds the arrays the SMPL-X forward pass uses. Its
  :meth:`BodyModel.skeleton` regresses the rest joints for a body shape and returns an
  :class:`~egg_core.skeleton.Skeleton` with the SMPL-X joint names and parents, so egg_core
  forward kinematics, metrics and BVH export use the exact proportions. The mesh data the
  Blender side needs (shaped rest vertices, faces, skinning weights, expression and
  pose-corrective directions) is exposed as plain numpy arrays.

Why the joints are exact: ``smplx.lbs`` regresses the joints from the *shaped rest mesh*
(``J = J_regressor @ (v_template + shapedirs @ [betas, expression])``) and then moves them
rigidly along the kinematic chain; pose-corrective blend shapes act on the vertices only,
after the joints are regressed. So rest joints -> parent-relative offsets -> ordinary
forward kinematics reproduce ``smplx``'s first 55 joints. The one caveat: expressions are
part of the shape vector, so a non-zero expression moves the regressed jaw/eye joints by a
little; :meth:`BodyModel.rest_joints` and :meth:`BodyModel.forward` take expressions for
that, while :meth:`BodyModel.skeleton` is the expression-neutral skeleton.

Shape coefficients (``betas``): a model file has 300 shape directions (2020/v1.1 files,
``shapedirs`` with 400 columns = 300 shape + 100 expression) or 10 (v1.0 files, 20 columns
= 10 + 10), the same split ``smplx`` makes. ``num_betas`` can select fewer. Betas of any
length (e.g. the 300 of a BEAT2 motion npz) are truncated to ``num_betas`` or zero-padded
to it (:meth:`BodyModel.fit_betas`); truncation drops the smallest principal components.

Hand poses: egg_core poses are full local rotations, which is ``smplx``'s
``flat_hand_mean=True``. With ``smplx``'s default (``flat_hand_mean=False``) the model's
mean hand pose is added to the hand joints first; :attr:`BodyModel.hands_mean` has it.

Everything here is numpy; the ``smplx`` package (and torch) are imported only by
:meth:`BodyModel.smplx_module`. Without model files or without ``smplx`` the rest of
egg_core works as before: :func:`skeleton_for_motion` falls back to
:data:`egg_core.skeleton.SMPLX` when no model folder is configured.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from egg_core.errors import EggError
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import SMPLX

ENV_VAR = "EGGESTURE_SMPLX_DIR"
GENDERS = ("neutral", "male", "female")
NUM_JOINTS = 55
NUM_POSE_FEATURES = (NUM_JOINTS - 1) * 9  # pose-corrective inputs: (R - I) of joints 1..54
SHAPE_SPACE_DIM = 300  # as in smplx: shape columns of a full model file
EXPRESSION_SPACE_DIM = 100
LEGACY_SHAPE_DIM = 10  # v1.0 files: 10 shape + 10 expression columns
REQUIRED_KEYS = (
    "v_template",
    "f",
    "J_regressor",
    "kintree_table",
    "weights",
    "shapedirs",
    "posedirs",
    "hands_meanl",
    "hands_meanr",
)

__all__ = [
    "ENV_VAR",
    "GENDERS",
    "BodyModel",
    "BodyModelError",
    "find_model_file",
    "load_body_model",
    "pose_features",
    "model_file_names",
    "resolve_model_dir",
    "skeleton_for_motion",
    "smplx_available",
]


class BodyModelError(EggError):
    """The SMPL-X model folder or file is missing, unusable, or not an SMPL-X model."""


def smplx_available() -> bool:
    """Whether the optional ``smplx`` package can be imported (without importing it)."""

    return importlib.util.find_spec("smplx") is not None


def _normalise_gender(gender: str | None) -> str:
    value = "neutral" if gender is None else str(gender).strip().lower()
    if value not in GENDERS:
        raise BodyModelError(
            f"Unknown SMPL-X gender {gender!r}; choose one of {', '.join(GENDERS)}."
        )
    return value


def model_file_names(gender: str = "neutral") -> tuple[str, ...]:
    """File names searched for ``gender``, in order of preference (2020 release first)."""
    g = _normalise_gender(gender).upper()
    return (f"SMPLX_{g}_2020.npz", f"SMPLX_{g}.npz")


def resolve_model_dir(model_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The configured model location: ``model_dir`` if given, else ``$EGGESTURE_SMPLX_DIR``.

    Returns ``None`` when neither is set (an empty variable counts as unset); the path is
    not checked here, so that a wrong setting gets a clear error from :func:`find_model_file`
    instead of being silently ignored.
    """
    if model_dir is not None and str(model_dir).strip():
        return Path(model_dir).expanduser()
    from_env = os.environ.get(ENV_VAR, "").strip()
    return Path(from_env).expanduser() if from_env else None


def find_model_file(
    model_dir: str | os.PathLike[str] | None = None, gender: str = "neutral"
) -> Path:
    """Path of the SMPL-X ``.npz`` for ``gender`` in ``model_dir`` (or ``$EGGESTURE_SMPLX_DIR``).

    ``model_dir`` may also name the ``.npz`` file itself. Raises :class:`BodyModelError`
    naming the expected files when nothing usable is there.
    """
    names = model_file_names(gender)
    location = resolve_model_dir(model_dir)
    if location is None:
        raise BodyModelError(
            "No SMPL-X model folder is set: pass the folder that holds "
            f"{' or '.join(names)} (download them from https://smpl-x.is.tue.mpg.de after "
            f"registering), or set the environment variable {ENV_VAR} to it."
        )
    if location.is_file():
        if location.suffix.lower() != ".npz":
            raise BodyModelError(
                f"{location} is not an SMPL-X .npz model file; expected {' or '.join(names)} "
                "(the .pkl versions are not supported: download the npz ones)."
            )
        return location
    if not location.is_dir():
        raise BodyModelError(
            f"The SMPL-X model folder {location} does not exist; point it (or {ENV_VAR}) at "
            f"the folder that holds {' or '.join(names)}."
        )
    folders = [location, location / "smplx"]
    for name in names:
        for folder in folders:
            if not folder.is_dir():
                continue
            for entry in sorted(folder.iterdir()):
                if entry.name.lower() == name.lower() and entry.is_file():
                    return entry
    present = sorted(
        p.name for folder in folders if folder.is_dir() for p in folder.iterdir()
        if p.name.upper().startswith("SMPLX")
    )
    found = f" It holds {', '.join(present)}." if present else " It holds no SMPLX_* file."
    hint = ""
    if any(p.lower().endswith(".pkl") for p in present):
        hint = " The .pkl model files are not supported; use the .npz files of the same release."
    raise BodyModelError(
        f"No usable SMPL-X model for gender '{_normalise_gender(gender)}' in {location}: "
        f"expected {' or '.join(names)} there or in its smplx/ sub-folder.{found}{hint}"
    )


def _parents_from_kintree(kintree: np.ndarray) -> tuple[int, ...]:
    """Row 0 of ``kintree_table``; the root is stored as -1 or as 2**32 - 1 (uint32 -1)."""
    row = np.asarray(kintree)[0].astype(np.int64)
    row[0] = -1
    return tuple(int(p) for p in row)


def _expected_parents() -> tuple[int, ...]:

    return tuple(SMPLX.parents)


LAZY_KEYS = ("posedirs",)  # large (about 120 MB) and needed only to pose the mesh


def _stored_shape(npz: Any, key: str) -> tuple[int, ...]:
    """Shape of an array in an npz from its header alone, without reading the data."""
    with npz.zip.open(key + ".npy") as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(member)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(member)
    return tuple(shape)


def _read_arrays(path: Path) -> dict[str, Any]:
    """The arrays of a model npz, without unpickling anything (files may hold pickled dicts).

    Arrays in :data:`LAZY_KEYS` are not read; their entry is the stored shape, for checking.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in REQUIRED_KEYS if k not in npz.files]
            if missing:
                raise BodyModelError(
                    f"{path} is not an SMPL-X model file: it lacks {', '.join(missing)}. "
                    "Use SMPLX_NEUTRAL_2020.npz or the SMPLX_*.npz files of the v1.1 models."
                )
            return {
                k: np.broadcast_to(np.uint8(0), _stored_shape(npz, k)) if k in LAZY_KEYS else npz[k]
                for k in REQUIRED_KEYS
            }
    except BodyModelError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise BodyModelError(
            f"Could not read the SMPL-X model file {path} ({exc}); it is damaged or not a "
            "numpy .npz file. Download it again from https://smpl-x.is.tue.mpg.de."
        ) from exc


def _shape_layout(total: int) -> tuple[int, slice]:
    """(available shape directions, expression columns) the way ``smplx`` splits shapedirs."""
    num_shape = min(total, LEGACY_SHAPE_DIM if total < SHAPE_SPACE_DIM else SHAPE_SPACE_DIM)
    if total >= SHAPE_SPACE_DIM + EXPRESSION_SPACE_DIM:
        return num_shape, slice(SHAPE_SPACE_DIM, SHAPE_SPACE_DIM + EXPRESSION_SPACE_DIM)
    return num_shape, slice(min(total, LEGACY_SHAPE_DIM), min(total, 2 * LEGACY_SHAPE_DIM))


def _frozen(a: np.ndarray, dtype: Any) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=dtype)
    out.flags.writeable = False
    return out


def pose_features(poses: Any) -> np.ndarray:
    """``(..., 486)`` pose-corrective input of ``(..., 55, 3)`` axis-angle: ``R_j - I``, joints 1..54.

    Also the values of the body mesh's corrective shape keys in Blender, which is why it is
    a function of the poses alone.
    """
    rot = axis_angle_to_matrix(np.asarray(poses, dtype=np.float64))
    return (rot[..., 1:, :, :] - np.eye(3)).reshape(rot.shape[:-3] + (NUM_POSE_FEATURES,))


class BodyModel:
    """One SMPL-X model file's arrays (float64, read-only) and the maths on them.

    Attributes: ``path``, ``gender``, ``v_template (V, 3)``, ``faces (F, 3)`` int64,
    ``j_regressor (55, V)``, ``parents`` (SMPL-X), ``lbs_weights (V, 55)``,
    ``shapedirs (V, 3, num_betas)``, ``expression_dirs (V, 3, num_expressions)``,
    ``hands_mean (30, 3)`` (left hand joints 25..39 then right 40..54), and the lazily
    loaded ``posedirs (V, 3, 486)``. Build one with :func:`load_body_model`.
    """

    def __init__(
        self,
        path: Path,
        gender: str,
        arrays: dict[str, np.ndarray],
        num_betas: int | None = None,
        num_expressions: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.gender = gender
        self._check(arrays)
        total = arrays["shapedirs"].shape[-1]
        available_betas, expr_cols = _shape_layout(total)
        available_expr = expr_cols.stop - expr_cols.start
        self.max_betas = available_betas
        self.max_expressions = available_expr
        self.num_betas = available_betas if num_betas is None else min(int(num_betas), available_betas)
        n_expr = available_expr if num_expressions is None else min(int(num_expressions), available_expr)
        self.num_expressions = n_expr
        if self.num_betas < 0 or self.num_expressions < 0:
            raise BodyModelError("num_betas and num_expressions must not be negative.")
        shapedirs = arrays["shapedirs"]
        self.v_template = _frozen(arrays["v_template"], np.float64)
        self.faces = _frozen(arrays["f"], np.int64)
        self.j_regressor = _frozen(arrays["J_regressor"], np.float64)
        self.parents = _parents_from_kintree(arrays["kintree_table"])
        self.lbs_weights = _frozen(arrays["weights"], np.float64)
        self.shapedirs = _frozen(shapedirs[:, :, : self.num_betas], np.float64)
        self.expression_dirs = _frozen(
            shapedirs[:, :, expr_cols.start : expr_cols.start + n_expr], np.float64
        )
        hands = np.concatenate([arrays["hands_meanl"], arrays["hands_meanr"]]).reshape(30, 3)
        self.hands_mean = _frozen(hands, np.float64)
        self._posedirs: np.ndarray | None = None

    def _check(self, arrays: dict[str, np.ndarray]) -> None:
        """Refuse arrays that do not fit together, naming the file and the array."""
        v = np.shape(arrays["v_template"])
        problems = []
        if len(v) != 2 or v[1] != 3:
            problems.append(f"v_template has shape {v}, expected (V, 3)")
        num_v = v[0] if v else 0
        expected = {
            "J_regressor": (NUM_JOINTS, num_v),
            "weights": (num_v, NUM_JOINTS),
            "posedirs": (num_v, 3, NUM_POSE_FEATURES),
            "kintree_table": (2, NUM_JOINTS),
            "hands_meanl": (45,),
            "hands_meanr": (45,),
        }
        for key, shape in expected.items():
            if tuple(np.shape(arrays[key])) != shape:
                problems.append(f"{key} has shape {np.shape(arrays[key])}, expected {shape}")
        sd = np.shape(arrays["shapedirs"])
        if len(sd) != 3 or sd[:2] != (num_v, 3):
            problems.append(f"shapedirs has shape {sd}, expected ({num_v}, 3, K)")
        f = np.shape(arrays["f"])
        if len(f) != 2 or f[1] != 3:
            problems.append(f"f has shape {f}, expected (F, 3)")
        elif np.size(arrays["f"]) and not 0 <= np.min(arrays["f"]) <= np.max(arrays["f"]) < num_v:
            problems.append(f"f refers to vertices outside 0..{num_v - 1}")
        if not problems and _parents_from_kintree(arrays["kintree_table"]) != _expected_parents():
            problems.append("its kintree_table is not the SMPL-X joint tree (an SMPL or SMPL+H file?)")
        if problems:
            raise BodyModelError(
                f"{self.path} is not a usable SMPL-X model: {'; '.join(problems)}. "
                "Use SMPLX_NEUTRAL_2020.npz or the SMPLX_*.npz files of the v1.1 models."
            )

    # ------------------------------------------------------------------ sizes and data

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def posedirs(self) -> np.ndarray:
        """``(V, 3, 486)`` pose-corrective directions, read from the file on first use."""
        if self._posedirs is None:
            with np.load(self.path, allow_pickle=False) as npz:
                self._posedirs = _frozen(npz["posedirs"], np.float64)
        return self._posedirs

    def fit_betas(self, betas: Any = None) -> np.ndarray:
        """``(num_betas,)`` float64: ``betas`` truncated, or zero-padded, to this model's count."""
        out = np.zeros(self.num_betas)
        if betas is None:
            return out
        b = np.asarray(betas, dtype=np.float64).reshape(-1)
        n = min(b.size, self.num_betas)
        out[:n] = b[:n]
        return out

    def fit_expressions(self, expressions: Any) -> np.ndarray:
        """``(..., num_expressions)``: the last axis truncated or zero-padded like betas."""
        e = np.asarray(expressions, dtype=np.float64)
        out = np.zeros(e.shape[:-1] + (self.num_expressions,))
        n = min(e.shape[-1], self.num_expressions)
        out[..., :n] = e[..., :n]
        return out

    # ------------------------------------------------------------------ rest shape

    def shaped_vertices(self, betas: Any = None, expressions: Any = None) -> np.ndarray:
        """Rest vertices ``v_template + shapedirs @ betas`` (+ expression offsets): ``(..., V, 3)``."""
        verts = self.v_template + np.einsum("vkl,l->vk", self.shapedirs, self.fit_betas(betas))
        if expressions is not None:
            verts = verts + self.expression_offsets(expressions)
        return verts

    def expression_offsets(self, expressions: Any) -> np.ndarray:
        """Per-vertex displacement ``(..., V, 3)`` of expression coefficients ``(..., E)``."""
        return np.einsum("vkl,...l->...vk", self.expression_dirs, self.fit_expressions(expressions))

    def rest_joints(self, betas: Any = None, expressions: Any = None) -> np.ndarray:
        """Joint positions ``(..., 55, 3)`` regressed from the shaped rest mesh, as smplx does."""
        return np.einsum("jv,...vk->...jk", self.j_regressor, self.shaped_vertices(betas, expressions))

    def skeleton(self, betas: Any = None, name: str | None = None) -> Any:
        """An :class:`egg_core.skeleton.Skeleton` with this body's rest joints for ``betas``.

        Same joint names, parents, parts and mirror table as :data:`egg_core.skeleton.SMPLX`;
        offsets are the differences of the regressed rest joints, and the root's offset is the
        rest pelvis position, so FK with root translation ``trans`` puts the pelvis where
        ``smplx`` does (``J_pelvis + transl``).
        """

        joints = self.rest_joints(betas)
        offsets = joints.copy()
        for j, parent in enumerate(self.parents):
            if parent >= 0:
                offsets[j] = joints[j] - joints[parent]
        label = name or f"smplx:{self.path.name}:{self.gender}"
        return dataclasses.replace(SMPLX, name=label, offsets=offsets)

    # ------------------------------------------------------------------ posing (numpy LBS)

    def full_pose(self, poses: Any, add_hands_mean: bool = False) -> np.ndarray:
        """``(..., 55, 3)`` axis-angle; ``add_hands_mean`` mimics smplx's ``flat_hand_mean=False``."""
        p = np.asarray(poses, dtype=np.float64)
        p = p.reshape(p.shape[:-1] + (NUM_JOINTS, 3)) if p.shape[-1] == NUM_JOINTS * 3 else p
        if p.shape[-2:] != (NUM_JOINTS, 3):
            raise BodyModelError(f"poses must be (..., 55, 3) or (..., 165), got {np.shape(poses)}.")
        if add_hands_mean:
            p = p.copy()
            p[..., 25:, :] += self.hands_mean
        return p

    def pose_features(self, poses: Any, add_hands_mean: bool = False) -> np.ndarray:
        """``(..., 486)``: the entries of ``R_j - I`` for joints 1..54, the pose-corrective input."""
        return pose_features(self.full_pose(poses, add_hands_mean))

    def pose_offsets(self, poses: Any, add_hands_mean: bool = False) -> np.ndarray:
        """Pose-corrective vertex displacements ``(..., V, 3)`` (added before skinning)."""
        return np.einsum("vkp,...p->...vk", self.posedirs, self.pose_features(poses, add_hands_mean))

    def forward(
        self,
        poses: Any,
        trans: Any = None,
        betas: Any = None,
        expressions: Any = None,
        add_hands_mean: bool = False,
        pose_correctives: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The SMPL-X forward pass in numpy: ``(vertices (..., V, 3), joints (..., 55, 3))``.

        Same maths as ``smplx.lbs`` (float64): shape and expression blend shapes, joint
        regression, pose correctives, rigid transforms down the chain, linear blend skinning,
        then translation. Memory grows with ``batch x V``; pass a few frames at a time.
        """

        full = self.full_pose(poses, add_hands_mean)
        batch = full.shape[:-2]
        v_shaped = self.shaped_vertices(betas, expressions)
        rest = np.einsum("jv,...vk->...jk", self.j_regressor, v_shaped)
        rest = np.broadcast_to(rest, batch + (NUM_JOINTS, 3))
        rot = axis_angle_to_matrix(full)
        v_posed = v_shaped
        if pose_correctives:
            v_posed = v_shaped + self.pose_offsets(full)
        v_posed = np.broadcast_to(v_posed, batch + v_posed.shape[-2:])

        glob_rot = np.empty(batch + (NUM_JOINTS, 3, 3))
        glob_pos = np.empty(batch + (NUM_JOINTS, 3))
        for j, parent in enumerate(self.parents):
            if parent < 0:
                glob_rot[..., j, :, :] = rot[..., j, :, :]
                glob_pos[..., j, :] = rest[..., j, :]
            else:
                local = rest[..., j, :] - rest[..., parent, :]
                glob_rot[..., j, :, :] = glob_rot[..., parent, :, :] @ rot[..., j, :, :]
                glob_pos[..., j, :] = glob_pos[..., parent, :] + np.einsum(
                    "...ab,...b->...a", glob_rot[..., parent, :, :], local
                )
        # Skinning transform of joint j maps a rest point x to G_j (x - rest_j) + pos_j.
        shift = glob_pos - np.einsum("...jab,...jb->...ja", glob_rot, rest)
        blend_rot = np.einsum("vj,...jab->...vab", self.lbs_weights, glob_rot)
        blend_shift = np.einsum("vj,...ja->...va", self.lbs_weights, shift)
        verts = np.einsum("...vab,...vb->...va", blend_rot, v_posed) + blend_shift
        if trans is not None:
            t = np.asarray(trans, dtype=np.float64)[..., None, :]
            verts = verts + t
            glob_pos = glob_pos + t
        return verts, glob_pos

    # ------------------------------------------------------------------ smplx (optional)

    def smplx_module(self, batch_size: int = 1, dtype: Any = None, flat_hand_mean: bool = True) -> Any:
        """``smplx.SMPLX`` (a torch module) for this file, betas/expressions/pose as here.

        Imports ``smplx`` and torch only now; raises :class:`BodyModelError` with the install
        command when ``smplx`` is missing. ``use_pca=False`` so hand poses are the 15 joint
        rotations per hand, and ``flat_hand_mean=True`` (full rotations) by default.
        """
        try:
            import smplx
            import torch
        except ImportError as exc:
            raise BodyModelError(
                "The 'smplx' package is needed for this (pip install 'eggesture[smplx]'); the "
                f"exact skeleton and mesh data work without it. ({exc})"
            ) from exc
        return smplx.SMPLX(
            model_path=str(self.path),
            gender=self.gender,
            ext="npz",
            num_betas=self.num_betas,
            num_expression_coeffs=self.num_expressions,
            use_pca=False,
            flat_hand_mean=flat_hand_mean,
            batch_size=batch_size,
            dtype=torch.float32 if dtype is None else dtype,
        )


_CACHE: dict[tuple[Any, ...], BodyModel] = {}
_CACHE_SIZE = 2


def load_body_model(
    model_dir: str | os.PathLike[str] | None = None,
    gender: str | None = "neutral",
    num_betas: int | None = None,
    num_expressions: int | None = None,
) -> BodyModel:
    """Load the SMPL-X model for ``gender`` from ``model_dir`` or ``$EGGESTURE_SMPLX_DIR``.

    ``num_betas`` / ``num_expressions``: how many shape / expression directions to use
    (``None``: all the file has, 300/100 or 10/10). The last two loaded models are cached
    (keyed by path, size and modification time), since a full file is about 230 MB.
    """
    gender = _normalise_gender(gender)
    path = find_model_file(model_dir, gender)
    try:
        stat = path.stat()
    except OSError as exc:
        raise BodyModelError(f"Could not read the SMPL-X model file {path} ({exc}).") from exc
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, gender, num_betas, num_expressions)
    if key in _CACHE:
        return _CACHE[key]
    model = BodyModel(path, gender, _read_arrays(path), num_betas, num_expressions)
    while len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = model
    return model


def skeleton_for_motion(
    motion: Any,
    model_dir: str | os.PathLike[str] | None = None,
    gender: str | None = None,
    *,
    num_betas: int | None = None,
) -> Any:
    """The skeleton to use for ``motion``: exact when SMPL-X model files are configured.

    With no ``model_dir`` and no ``$EGGESTURE_SMPLX_DIR`` this is
    :data:`egg_core.skeleton.SMPLX` (the project's own proportions). Otherwise the body
    model's skeleton for ``motion.betas`` (truncated/padded to ``num_betas``, by default all
    the shape directions the file has). ``gender`` defaults to ``motion.gender``; when no
    file exists for that gender the neutral one is used. An explicit ``gender`` without its
    file, a configured folder with no usable file, or a broken file raise
    :class:`BodyModelError` (a setting the user made should not be ignored silently).
    """

    if resolve_model_dir(model_dir) is None:
        return SMPLX
    betas = getattr(motion, "betas", None)
    if gender is None:
        wanted = str(getattr(motion, "gender", "neutral") or "neutral").strip().lower()
        gender = "neutral"
        if wanted in GENDERS and wanted != "neutral":
            try:
                find_model_file(model_dir, wanted)
                gender = wanted
            except BodyModelError:
                pass  # no file for the motion's gender: the neutral body is the documented fallback
    return load_body_model(model_dir, gender, num_betas=num_betas).skeleton(betas)
