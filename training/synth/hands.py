"""Named hand shapes (open, fist, point, counting one to five, ...) as finger-joint rotations."""

from __future__ import annotations

import math

import numpy as np

from egg_core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from training.synth.body import _FINGERS, _IDX, _RELAXED

# Finger curl (degrees at joints 1, 2, 3) about the left hand's -Z axis, and spread about Y.
_OPEN, _CURL, _HALF, _REL = (3.0, 3.0, 2.0), (75.0, 95.0, 60.0), (30.0, 35.0, 25.0), (12.0, 15.0, 10.0)
_SPREAD = {"index": -12.0, "middle": 0.0, "ring": 8.0, "pinky": 16.0}
_THUMB_AXIS = _RELAXED[_IDX["left_thumb1"]] / np.linalg.norm(_RELAXED[_IDX["left_thumb1"]])
_THUMB = {"open": (-10.0, 0.0, 0.0), "fold": (40.0, 60.0, 50.0), "rel": (5.0, 8.0, 8.0),
          "half": (20.0, 25.0, 25.0)}
_SHAPES: dict[str, tuple[dict[str, tuple[float, float, float]], str, bool]] = {
    # name: (curl per finger, thumb, spread)
    "relaxed": ({f: _REL for f in _FINGERS}, "rel", False),
    "open": ({f: _OPEN for f in _FINGERS}, "rel", False),
    "spread": ({f: _OPEN for f in _FINGERS}, "open", True),
    "cup": ({f: _HALF for f in _FINGERS}, "half", False),
    "fist": ({f: _CURL for f in _FINGERS}, "fold", False),
    "point": ({"index": _OPEN, "middle": _CURL, "ring": _CURL, "pinky": _CURL}, "fold", False),
    "count1": ({"index": _OPEN, "middle": _CURL, "ring": _CURL, "pinky": _CURL}, "fold", True),
    "count2": ({"index": _OPEN, "middle": _OPEN, "ring": _CURL, "pinky": _CURL}, "fold", True),
    "count3": ({"index": _OPEN, "middle": _OPEN, "ring": _OPEN, "pinky": _CURL}, "fold", True),
    "count4": ({f: _OPEN for f in _FINGERS}, "fold", True),
    "count5": ({f: _OPEN for f in _FINGERS}, "open", True),
    "thumb_up": ({f: _CURL for f in _FINGERS}, "open", False),
    "pinch": ({"index": (40.0, 45.0, 20.0), "middle": _CURL, "ring": _CURL, "pinky": _CURL}, "half", False),
}


def hand_shape(shape: str) -> dict[int, np.ndarray]:
    """Local axis-angle of the left hand's 15 finger joints for a named hand shape."""
    curls, thumb, spread = _SHAPES[shape]
    out: dict[int, np.ndarray] = {}
    for f in _FINGERS:
        for k, deg in enumerate(curls[f], start=1):
            aa = np.array([0.0, 0.0, -math.radians(deg)])
            if k == 1 and spread:
                aa = matrix_to_axis_angle(axis_angle_to_matrix(np.array([0.0, -math.radians(_SPREAD[f]), 0.0]))
                                          @ axis_angle_to_matrix(aa))
            out[_IDX[f"left_{f}{k}"]] = np.asarray(aa, dtype=np.float64)
    for k, deg in enumerate(_THUMB[thumb], start=1):
        out[_IDX[f"left_thumb{k}"]] = _THUMB_AXIS * math.radians(deg)
    return out
