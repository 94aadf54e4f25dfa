"""The one place where SMPL-X space (Y-up, metres) meets Blender space (Z-up, object transforms).

Why one module: the armature builder, the pose writer and the body mesh all convert
vectors between the two conventions, and a convention written out three times drifts
(the glTF importer keeps its axis conversion in a single module for the same reason).
"""

from __future__ import annotations

import bpy
import numpy as np

#: Y-up (SMPL-X) -> Z-up (Blender): (x, y, z) -> (x, -z, y). Apply to row vectors as ``v @ C.T``.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def y_up_to_z_up(points: np.ndarray) -> np.ndarray:
    """Row vectors ``(..., 3)`` in SMPL-X axes as Blender (Z-up) vectors."""
    return np.asarray(points) @ Y_UP_TO_Z_UP.T


def smplx_from_armature(obj: bpy.types.Object) -> tuple[np.ndarray, float]:
    """(A, s): a vector v in ``obj``'s armature space is the SMPL-X vector ``s * A.T @ v``.

    Takes the object's world rotation and mean scale into account, so an armature that was
    rotated or scaled as an object (FBX imports often are) still gets metres in Y-up.
    """
    world = obj.matrix_world.to_3x3()
    scale = float(np.mean(world.to_scale())) or 1.0
    return np.array(world.normalized()).T @ Y_UP_TO_Z_UP, scale
