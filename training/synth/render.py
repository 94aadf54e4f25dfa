"""Blending a scheduled gesture into a quaternion track.

The weight rises and falls with minimum-jerk ramps, so a gesture blends smoothly out
of and back into whatever the body was doing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from egg_core.rotations import axis_angle_to_quat, quat_multiply, quat_slerp
from training.synth.constants import FPS
from training.synth.gestures import GesturePlan


def min_jerk(x: np.ndarray) -> np.ndarray:
    """The minimum-jerk ramp 10x^3 - 15x^4 + 6x^5 on [0, 1] (clipped outside)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (10 - 15 * x + 6 * x * x)


def envelope(t: np.ndarray, a: float, b: float, c: float, d: float) -> np.ndarray:
    """0 before ``a``, min-jerk up to 1 at ``b``, 1 until ``c``, min-jerk down to 0 at ``d``."""
    up = min_jerk((t - a) / max(b - a, 1e-6))
    down = 1.0 - min_jerk((t - c) / max(d - c, 1e-6))
    return np.minimum(up, down)


def _qmul_aa(q: np.ndarray, aa: np.ndarray) -> np.ndarray:
    """``q * exp(aa)``: a rotation about an axis of the joint's own frame."""
    return np.asarray(quat_multiply(q, axis_angle_to_quat(aa)))


def _premul_aa(q: np.ndarray, aa: np.ndarray) -> np.ndarray:
    """``exp(aa) * q``: a rotation about an axis of the parent's frame (e.g. the elbow hinge)."""
    return np.asarray(quat_multiply(axis_angle_to_quat(aa), q))


@dataclass
class Instance:
    """A scheduled gesture: class, plan and timing (s). ``label`` = where its weight >= 0.5."""

    name: str
    plan: GesturePlan
    onset: float
    hold: float
    prep: float
    retract: float

    @property
    def start(self) -> float:
        return self.onset - self.prep

    @property
    def end(self) -> float:
        return self.onset + self.hold + self.retract

    @property
    def label(self) -> tuple[float, float]:
        return self.onset - 0.5 * self.prep, self.onset + self.hold + 0.5 * self.retract


def render_instance(q: np.ndarray, inst: Instance, fps: float = FPS) -> None:
    """Blend one gesture into the quaternion track ``q`` (T, 55, 4) in place."""
    T = q.shape[0]
    f0, f1 = max(0, int(math.ceil(inst.start * fps))), min(T, int(math.floor(inst.end * fps)) + 1)
    if f1 <= f0:
        return
    t = np.arange(f0, f1) / fps
    w = envelope(t, inst.start, inst.onset, inst.onset + inst.hold, inst.end)
    plan = inst.plan
    js = list(plan.joints)
    if js:
        keys = plan.key_quats()
        u = np.clip(t - inst.onset, 0.0, plan.times[-1])
        if len(keys) == 1:
            target = np.broadcast_to(keys[0], (len(t), *keys[0].shape))
        else:
            k = np.clip(np.searchsorted(plan.times, u, side="right") - 1, 0, len(keys) - 2)
            span = np.maximum(plan.times[k + 1] - plan.times[k], 1e-6)
            s = np.clip((u - plan.times[k]) / span, 0.0, 1.0)
            s = s if plan.linear else min_jerk(s)
            target = np.asarray(quat_slerp(keys[k], keys[k + 1], np.broadcast_to(s[:, None], (len(t), len(js)))))
        cur = q[f0:f1][:, js]
        q[f0:f1, js] = np.asarray(quat_slerp(cur, target, np.broadcast_to(w[:, None], (len(t), len(js)))))
    for osc in plan.oscillations:
        ang = osc.angle(t - inst.onset + 0.15) * w
        for j, jw in osc.joints:
            q[f0:f1, j] = _qmul_aa(q[f0:f1, j], osc.axis[None] * (ang * jw)[:, None])


def _segments_blend(q: np.ndarray, f0: int, f1: int, joints: Sequence[int], target: np.ndarray,
                    w: np.ndarray) -> None:
    cur = q[f0:f1][:, list(joints)]
    q[f0:f1, list(joints)] = np.asarray(
        quat_slerp(cur, np.broadcast_to(target, cur.shape), np.broadcast_to(w[:, None], cur.shape[:2])))
