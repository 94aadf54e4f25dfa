"""One gesture on its own over a still relaxed body, to look at a class or test it."""

from __future__ import annotations

import math

import numpy as np

from egg_core.rotations import quat_to_axis_angle
from training.synth.body import _J, _RELAXED
from training.synth.constants import FPS
from training.synth.gestures import build_gesture
from training.synth.idle import _as_quats
from training.synth.render import Instance, render_instance


def preview_gesture(name: str, seed: int = 0, hold: float = 0.8, mirror: bool = False,
                    amp: float = 1.0) -> tuple[np.ndarray, Instance]:
    """Poses (T, 55, 3) of one gesture instance over a still relaxed body (0.5 s margins).

    For looking at a class on its own (e.g. in Blender via a BEAT2 npz) and for tests.
    """
    rng = np.random.default_rng(seed)
    inst = Instance(name, build_gesture(name, rng, hold, amp=amp, mirror=mirror), onset=0.9, hold=hold,
                    prep=0.4, retract=0.5)
    n = int(math.ceil((inst.end + 0.5) * FPS))
    q = np.broadcast_to(_as_quats(_RELAXED), (n, _J, 4)).copy()
    render_instance(q, inst)
    return np.asarray(quat_to_axis_angle(q)), inst
