"""BEAT2 motion npz (``smplxflame_30/<id>.npz``) read and write.

The layout is the one of the real BEAT2 takes, checked key by key against
``2_scott_0_1_1.npz``; :func:`write_beat2_npz` reproduces it exactly so the files
open in the BEAT2/EMAGE tools and in the official SMPL-X Blender add-on (which reads
``trans``, ``gender``, ``mocap_frame_rate``, ``betas`` and ``poses``):

==================  ==========  ===========  ======================================
key                 dtype       shape        meaning
==================  ==========  ===========  ======================================
``betas``           float32     (300,)       body shape
``poses``           float32     (T, 165)     55 joints x axis-angle, SMPL-X order
``expressions``     float64     (T, 100)     FLAME expression coefficients
``trans``           float64     (T, 3)       root translation, metres, Y-up
``model``           <U (0-d)    ()           "smplx2020"
``gender``          <U (0-d)    ()           "neutral"
``mocap_frame_rate`` int32 (0-d) ()          30
==================  ==========  ===========  ======================================

Stored uncompressed (``np.savez``), in that key order, like the originals.
Reading is more forgiving than writing: ``poses`` may be ``(T, 55, 3)``; ``betas`` and
``expressions`` may be missing (zeros) or shorter than 300/100 (zero-padded, as other
SMPL-X datasets store 10 or 16 betas and 10 or 50 expressions); ``gender`` and
``model`` default to "neutral"/"smplx2020"; the AMASS spelling ``mocap_framerate`` is
accepted. Pickled (object) arrays are refused: loading them could run code.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from egg_core.atomic import atomic_write, check_target
from egg_core.errors import MotionFormatError
from egg_core.motion import NUM_BETAS, NUM_EXPRESSIONS, NUM_JOINTS, Motion

__all__ = ["BEAT2_KEYS", "read_beat2_npz", "write_beat2_npz"]

_GENDERS = ("neutral", "male", "female")  # the SMPL-X Blender add-on's model choices

#: Keys of a BEAT2 npz, in the order the originals store them.
BEAT2_KEYS = ("betas", "poses", "expressions", "trans", "model", "gender", "mocap_frame_rate")


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise MotionFormatError(f"Motion file not found: {path}")
    if path.is_dir():
        raise MotionFormatError(f"{path} is a folder; give the path of a BEAT2 .npz motion file.")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise MotionFormatError(
                f"{path} is not an npz archive (a BEAT2 motion is a numpy .npz with keys "
                f"{', '.join(BEAT2_KEYS)})."
            )
        loaded = np.load(path, allow_pickle=False)
        with loaded as data:
            return {key: data[key] for key in data.files}
    except MotionFormatError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise MotionFormatError(
                f"{path} stores Python objects (pickled arrays), which are not loaded for "
                "safety; save the motion with plain numeric and string arrays."
            ) from exc
        raise MotionFormatError(f"{path} is not a readable npz file ({exc}).") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise MotionFormatError(
            f"{path} is not a readable npz file ({exc}); is it a BEAT2 motion (.npz)?"
        ) from exc


def _numeric(path: Path, key: str, value: np.ndarray) -> np.ndarray:
    if value.dtype.kind not in "fiu":
        raise MotionFormatError(f"{path}: key '{key}' has dtype {value.dtype}; expected numbers.")
    return value


def _pad_columns(path: Path, key: str, value: np.ndarray, width: int) -> np.ndarray:
    """Zero-pad the last axis of ``value`` to ``width``; refuse a wider one."""
    if value.shape[-1] > width:
        raise MotionFormatError(
            f"{path}: key '{key}' has {value.shape[-1]} coefficients per row; at most {width} "
            "are supported."
        )
    if value.shape[-1] == width:
        return value
    pad = [(0, 0)] * (value.ndim - 1) + [(0, width - value.shape[-1])]
    return np.pad(value, pad)


def _text(path: Path, key: str, data: dict[str, np.ndarray], default: str) -> str:
    if key not in data:
        return default
    value = data[key]
    if value.size != 1 or value.dtype.kind not in "US":
        raise MotionFormatError(
            f"{path}: key '{key}' should be a single string, got dtype {value.dtype} shape {value.shape}."
        )
    item = value.reshape(()).item()
    return item.decode("utf-8", errors="replace") if isinstance(item, bytes) else str(item)


def read_beat2_npz(path: str | os.PathLike[str]) -> Motion:
    """Read a BEAT2 (SMPL-X + FLAME) motion npz into a :class:`Motion`.

    Raises :class:`MotionFormatError` naming the key when a required key (``poses``,
    ``trans``, ``mocap_frame_rate``) is missing or any key has the wrong shape/type.
    """
    path = Path(path)
    data = _load_arrays(path)

    for key in ("poses", "trans"):
        if key not in data:
            raise MotionFormatError(
                f"{path}: required key '{key}' is missing (found: {', '.join(sorted(data)) or 'none'}); "
                "is this a BEAT2 SMPL-X motion file?"
            )
    poses = _numeric(path, "poses", data["poses"])
    if poses.ndim == 3 and poses.shape[1:] == (NUM_JOINTS, 3):
        poses = poses.reshape(poses.shape[0], NUM_JOINTS * 3)
    if poses.ndim != 2 or poses.shape[1] != NUM_JOINTS * 3 or poses.shape[0] < 1:
        raise MotionFormatError(
            f"{path}: key 'poses' has shape {poses.shape}; expected (T, 165): axis-angle of the "
            "55 SMPL-X joints per frame (SMPL/SMPL-H files with 24/52 joints are not supported)."
        )
    num_frames = poses.shape[0]

    trans = _numeric(path, "trans", data["trans"])
    if trans.shape != (num_frames, 3):
        raise MotionFormatError(
            f"{path}: key 'trans' has shape {trans.shape}; expected ({num_frames}, 3) to match 'poses'."
        )

    rate_key = "mocap_frame_rate" if "mocap_frame_rate" in data else "mocap_framerate"
    if rate_key not in data:
        raise MotionFormatError(
            f"{path}: required key 'mocap_frame_rate' is missing; the frame rate of the motion "
            "is unknown (BEAT2 files store 30)."
        )
    rate = _numeric(path, rate_key, data[rate_key])
    if rate.size != 1 or not math.isfinite(float(rate.reshape(()))) or float(rate.reshape(())) <= 0:
        raise MotionFormatError(
            f"{path}: key '{rate_key}' should be one positive number, got {rate!r}."
        )
    fps = float(rate.reshape(()))

    if "betas" in data:
        betas = _numeric(path, "betas", data["betas"])
        if betas.ndim == 2 and betas.shape[0] == 1:
            betas = betas[0]
        if betas.ndim != 1:
            raise MotionFormatError(
                f"{path}: key 'betas' has shape {betas.shape}; expected ({NUM_BETAS},)."
            )
        betas = _pad_columns(path, "betas", betas, NUM_BETAS)
    else:
        betas = None

    if "expressions" in data:
        expressions = _numeric(path, "expressions", data["expressions"])
        if expressions.ndim != 2 or expressions.shape[0] != num_frames:
            raise MotionFormatError(
                f"{path}: key 'expressions' has shape {expressions.shape}; expected "
                f"({num_frames}, {NUM_EXPRESSIONS}) to match 'poses'."
            )
        expressions = _pad_columns(path, "expressions", expressions, NUM_EXPRESSIONS)
    else:
        expressions = None

    try:
        return Motion(
            poses=poses,
            trans=trans,
            fps=fps,
            betas=betas,
            expressions=expressions,
            gender=_text(path, "gender", data, "neutral"),
            model=_text(path, "model", data, "smplx2020"),
        )
    except MotionFormatError as exc:
        raise MotionFormatError(f"{path}: {exc}") from exc


def _beat2_arrays(motion: Motion) -> dict[str, np.ndarray]:
    """The exact arrays of a BEAT2 npz for ``motion`` (see the module table)."""
    fps = motion.fps
    if abs(fps - round(fps)) > 1e-6:
        raise MotionFormatError(
            f"BEAT2 npz files store an integer frame rate, but this motion runs at {fps:g} fps; "
            f"convert it first, e.g. resample_motion(motion, {round(fps)})."
        )
    gender = motion.gender.lower()
    if gender not in _GENDERS:
        raise MotionFormatError(
            f"BEAT2/SMPL-X npz files name the body model 'neutral', 'male' or 'female'; this "
            f"motion has gender {motion.gender!r}. Set motion.gender to one of them."
        )
    return {
        "betas": motion.betas.astype(np.float32),
        "poses": motion.poses.reshape(motion.num_frames, NUM_JOINTS * 3).astype(np.float32),
        "expressions": motion.expressions.astype(np.float64),
        "trans": motion.trans.astype(np.float64),
        "model": np.array(motion.model, dtype=np.str_),
        "gender": np.array(gender, dtype=np.str_),
        "mocap_frame_rate": np.array(int(round(fps)), dtype=np.int32),
    }


def write_beat2_npz(motion: Motion, path: str | os.PathLike[str], overwrite: bool = False) -> None:
    """Write ``motion`` as a BEAT2 npz with exactly the keys, dtypes and shapes of the real takes.

    The file is written to a temporary name and renamed into place, so readers never
    see a half-written file. Refuses to replace an existing file unless ``overwrite``.
    The path is used as given (no ``.npz`` is appended).
    """
    target = check_target(path, overwrite)
    arrays = _beat2_arrays(motion)

    def write(handle: BinaryIO) -> None:
        np.savez(handle, **arrays)

    atomic_write(target, write, overwrite=overwrite)
