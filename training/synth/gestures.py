"""The semantic gestures: one builder per class, and :func:`build_gesture` to draw an instance.

A builder turns (rng, amplitude, hold) into a :class:`GesturePlan`: key poses over the
hold plus oscillations (head shakes, nods, tilts). Every instance varies: amplitude,
target jitter, and the hand (mirrored) for one-handed classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from egg_core.errors import EggError
from egg_core.rotations import axis_angle_to_quat
from egg_core.skeleton import SMPLX
from training.synth.arm_ik import _unit, arm_pose, arm_pose_at, both_arms
from training.synth.body import (
    _HEAD,
    _MIRROR_AA,
    _NECK,
    BROW,
    EAR_L,
    MOUTH,
    TEMPLE_L,
    mirror_pose_dict,
)
from training.synth.vocabulary import CLASS_BY_NAME, CLASS_NAMES


@dataclass
class Oscillation:
    """An additive rotation ``axis * amp * shape(freq * t)`` on some joints (head shake, nod, tilt).

    ``shape``: "sin" (both ways), "nod" (one way, ``(1 - cos) / 2``), "const" (a held offset).
    """

    joints: tuple[tuple[int, float], ...]
    axis: np.ndarray
    amp: float
    freq: float = 0.0
    shape: str = "sin"

    def mirrored(self) -> Oscillation:
        return Oscillation(tuple((SMPLX.mirror[j], w) for j, w in self.joints), self.axis * _MIRROR_AA,
                           self.amp, self.freq, self.shape)

    def angle(self, t: np.ndarray) -> np.ndarray:
        if self.shape == "const":
            return np.full_like(t, self.amp)
        phase = 2 * math.pi * self.freq * t
        if self.shape == "nod":
            return self.amp * 0.5 * (1 - np.cos(phase))
        return self.amp * np.sin(phase)


@dataclass
class GesturePlan:
    """One gesture instance: key poses at times within the hold, plus oscillations.

    ``times`` (K,) seconds from the stroke onset (0 .. hold); ``poses[k]`` maps joint ->
    axis-angle (the same joints in every key); the pose before the onset is ``poses[0]``.
    """

    times: np.ndarray
    poses: list[dict[int, np.ndarray]]
    oscillations: list[Oscillation] = field(default_factory=list)
    linear: bool = False  # constant speed through the keys (circles); else ease in/out at each key

    @property
    def joints(self) -> tuple[int, ...]:
        return tuple(sorted(self.poses[0])) if self.poses else ()

    def mirrored(self) -> GesturePlan:
        return GesturePlan(self.times.copy(), [mirror_pose_dict(p) for p in self.poses],
                           [o.mirrored() for o in self.oscillations], self.linear)

    def key_quats(self) -> np.ndarray:
        """(K, J', 4) quaternions of the key poses over :attr:`joints`."""
        if not self.poses:
            return np.zeros((0, 0, 4))
        js = self.joints
        aa = np.array([[p[j] for j in js] for p in self.poses], dtype=np.float64)
        return np.asarray(axis_angle_to_quat(aa))


def _static(pose: dict[int, np.ndarray], *osc: Oscillation) -> GesturePlan:
    return GesturePlan(np.zeros(1), [pose], list(osc))


def _path(poses: list[dict[int, np.ndarray]], hold: float, fracs: Sequence[float] | None = None,
          *osc: Oscillation) -> GesturePlan:
    fr = np.linspace(0.0, 1.0, len(poses)) if fracs is None else np.asarray(fracs, dtype=np.float64)
    return GesturePlan(fr * hold, poses, list(osc))


_Builder = Callable[[np.random.Generator, float, float], GesturePlan]
_BUILDERS: dict[str, _Builder] = {}


def _builder(name: str) -> Callable[[_Builder], _Builder]:
    def deco(fn: _Builder) -> _Builder:
        _BUILDERS[name] = fn
        return fn
    return deco


def _j(rng: np.random.Generator, v: Sequence[float], s: float = 0.012) -> np.ndarray:
    """A target with a little per-instance jitter (metres or direction components)."""
    return np.asarray(v, dtype=np.float64) + rng.normal(0.0, s, 3)


_HEAD_YAW = np.array([0.0, 1.0, 0.0])
_HEAD_PITCH = np.array([1.0, 0.0, 0.0])
_HEAD_ROLL = np.array([0.0, 0.0, 1.0])
_NECK_HEAD = ((_NECK, 0.4), (_HEAD, 0.6))


@_builder("self")
def _g_self(rng, amp, hold):
    w = _j(rng, (0.13, -0.11, 0.15), 0.01)
    return _static(arm_pose("L", w, _j(rng, (-1.0, 0.35, 0.1), 0.08), (0.0, 0.0, -1.0), "open", (1.0, -0.6, -0.2)))


@_builder("you")
def _g_you(rng, amp, hold):
    f = _j(rng, (-0.1, 0.05, 1.0), 0.06)
    start = arm_pose("L", _j(rng, (0.14, 0.0, 0.36)), f, (-0.6, -0.8, 0.0), "point")
    end = arm_pose("L", _j(rng, (0.12, 0.02, 0.36 + 0.12 * amp)), f, (-0.6, -0.8, 0.0), "point")
    return _path([start, end, end], hold, (0.0, min(1.0, 0.25 / max(hold, 1e-3)), 1.0))


@_builder("think")
def _g_think(rng, amp, hold):
    # the wrist sits in front of the face (an arm cannot fold the wrist up beside the
    # temple); the hand points back and up so the index tip reaches the temple
    f = _unit(_j(rng, (-0.27, 0.76, -0.6), 0.04))
    w = TEMPLE_L + np.array([0.01, 0.0, 0.0]) - 0.16 * f
    return _static(arm_pose("L", w, f, (0.0, 0.3, 1.0), "point", (1.0, -1.0, 0.3)))


@_builder("no")
def _g_no(rng, amp, hold):
    return _static({}, Oscillation(_NECK_HEAD, _HEAD_YAW, float(rng.uniform(0.28, 0.42)) * amp,
                                   float(rng.uniform(2.4, 3.2))))


@_builder("yes")
def _g_yes(rng, amp, hold):
    return _static({}, Oscillation(((_NECK, 0.3), (_HEAD, 0.7)), _HEAD_PITCH,
                                   float(rng.uniform(0.22, 0.32)) * amp, float(rng.uniform(2.0, 2.6)), "nod"))


def _counting(shape: str) -> _Builder:
    def build(rng, amp, hold):
        w = _j(rng, (0.20, 0.02 + 0.04 * (amp - 1), 0.33))
        return _static(arm_pose("L", w, _j(rng, (0.0, 1.0, 0.15), 0.05), (0.0, 0.0, 1.0), shape, (1.0, -1.0, -0.3)))
    return build


for _n, _shape in (("one", "count1"), ("two", "count2"), ("three", "count3"), ("four", "count4"),
                   ("five", "count5")):
    _BUILDERS[_n] = _counting(_shape)


@_builder("huge")
def _g_huge(rng, amp, hold):
    width = float(rng.uniform(0.58, 0.70)) * min(amp, 1.0) ** 0.3
    f, palm = _j(rng, (0.5, 0.2, 1.0), 0.05), (-1.0, 0.0, 0.3)
    start = both_arms((0.40, 0.0, 0.30), f, palm, "spread")
    end = both_arms(_j(rng, (width, 0.06, 0.22)), f, palm, "spread")
    return _path([start, end, end], hold, (0.0, min(1.0, 0.35 / max(hold, 1e-3)), 1.0))


@_builder("small")
def _g_small(rng, amp, hold):
    return _static(arm_pose("L", _j(rng, (0.14, 0.10, 0.30)), _j(rng, (-0.2, 0.8, 0.4), 0.05), (-1.0, 0.0, 0.0),
                            "pinch", (1.0, -1.0, -0.2)))


@_builder("everyone")
def _g_everyone(rng, amp, hold):
    f, palm = (0.3, 0.0, 1.0), (0.0, 1.0, 0.0)
    keys = [arm_pose("L", _j(rng, w), f, palm, "spread") for w in
            ((-0.02, -0.05, 0.42), (0.22 * amp, -0.03, 0.42), (0.48 * amp, -0.05, 0.26))]
    return _path(keys, hold)


@_builder("stop")
def _g_stop(rng, amp, hold):
    f, palm = _j(rng, (0.0, 1.0, 0.1), 0.04), (0.0, 0.0, 1.0)
    start = both_arms(_j(rng, (0.16, 0.10, 0.30)), f, palm, "open")
    end = both_arms(_j(rng, (0.16, 0.10, 0.30 + 0.12 * amp)), f, palm, "open")
    return _path([start, end, end], hold, (0.0, min(1.0, 0.2 / max(hold, 1e-3)), 1.0))


@_builder("up")
def _g_up(rng, amp, hold):
    f, palm = (0.0, 1.0, 0.05), (-1.0, 0.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.24, 0.05, 0.25)), f, palm, "point"),
            arm_pose("L", _j(rng, (0.26, 0.40 * amp, 0.12)), f, palm, "point")]
    return _path(keys, hold)


@_builder("down")
def _g_down(rng, amp, hold):
    f, palm = (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.20, -0.02, 0.33)), f, palm, "open"),
            arm_pose("L", _j(rng, (0.22, -0.02 - 0.24 * amp, 0.30)), f, palm, "open")]
    return _path(keys, hold)


@_builder("great")
def _g_great(rng, amp, hold):
    return _static(arm_pose("L", _j(rng, (0.18, -0.02, 0.34)), _j(rng, (-0.25, 0.0, 1.0), 0.05), (-1.0, 0.0, 0.0),
                            "thumb_up"))


@_builder("together")
def _g_together(rng, amp, hold):
    f, palm = (-0.05, 0.2, 1.0), (-1.0, 0.0, 0.0)
    keys = [both_arms(_j(rng, (0.32, -0.05, 0.30)), f, palm, "open"),
            both_arms(_j(rng, (0.055, -0.04, 0.33), 0.005), f, palm, "open")]
    return _path(keys + [keys[-1]], hold, (0.0, min(1.0, 0.3 / max(hold, 1e-3)), 1.0))


@_builder("question")
def _g_question(rng, amp, hold):
    pose = both_arms(_j(rng, (0.28, -0.12, 0.30)), (0.5, 0.0, 1.0), (0.0, 1.0, 0.0), "spread")
    return _static(pose, Oscillation(((_HEAD, 1.0),), _HEAD_ROLL, float(rng.choice([-1, 1])) * 0.14, shape="const"))


@_builder("maybe")
def _g_maybe(rng, amp, hold):
    pose = both_arms(_j(rng, (0.30, -0.28, 0.18)), (0.6, 0.0, 1.0), (0.0, 1.0, 0.0), "spread",
                     collar=0.22 * amp)
    return _static(pose, Oscillation(((_HEAD, 1.0),), _HEAD_ROLL, 0.12, shape="const"))


@_builder("future")
def _g_future(rng, amp, hold):
    f, palm = (0.0, 0.1, 1.0), (-1.0, 0.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.20, 0.0, 0.20)), f, palm, "open"),
            arm_pose("L", _j(rng, (0.22, 0.06, 0.20 + 0.30 * amp)), f, palm, "open")]
    return _path(keys, hold)


@_builder("past")
def _g_past(rng, amp, hold):
    f, palm = (-0.2, 1.0, 0.0), (-1.0, 0.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.26, 0.16, 0.14)), f, palm, "thumb_up", (1.0, -1.0, 0.0)),
            arm_pose("L", _j(rng, (0.26, 0.18, 0.04)), f, palm, "thumb_up", (1.0, -1.0, 0.0))]
    return _path(keys + [keys[-1]], hold, (0.0, min(1.0, 0.25 / max(hold, 1e-3)), 1.0))


@_builder("around")
def _g_around(rng, amp, hold):
    centre, r = _j(rng, (0.16, 0.02, 0.32)), 0.10 * amp
    turns = 1.0 if hold < 1.4 else 1.5
    angles = np.linspace(0.0, 2 * math.pi * turns, int(12 * turns) + 1)
    keys = [arm_pose("L", centre + r * np.array([math.cos(a), 0.0, math.sin(a)]), (0.0, 1.0, 0.1),
                     (0.0, 0.0, 1.0), "point") for a in angles]
    plan = _path(keys, hold)
    plan.linear = True
    return plan


@_builder("listen")
def _g_listen(rng, amp, hold):
    f = _unit(_j(rng, (-0.4, 0.62, -0.68), 0.04))
    w = EAR_L + np.array([0.01, 0.0, 0.02]) - 0.13 * f
    pose = arm_pose("L", _j(rng, w, 0.006), f, (0.3, 0.0, 1.0), "cup", (1.0, -1.0, 0.0))
    return _static(pose, Oscillation(((_HEAD, 1.0),), _HEAD_ROLL, 0.10, shape="const"))


@_builder("look")
def _g_look(rng, amp, hold):
    f = _unit((-0.85, 0.0, 0.53))
    w = BROW + np.array([0.0, 0.01, 0.03]) - 0.09 * f
    pose = arm_pose("L", _j(rng, w, 0.006), f, (0.0, -1.0, 0.0), "open", (1.0, -0.2, 0.3))
    return _static(pose, Oscillation(((_NECK, 0.5), (_HEAD, 0.5)), _HEAD_YAW, 0.15, float(rng.uniform(0.6, 0.9))))


@_builder("love")
def _g_love(rng, amp, hold):
    left = arm_pose("L", _j(rng, (0.15, -0.06, 0.14), 0.006), (-1.0, 0.3, 0.1), (0.0, 0.0, -1.0), "open",
                    (1.0, -0.6, -0.2))
    right = arm_pose_at(_j(rng, (-0.02, -0.05, 0.19), 0.006), (1.0, 0.3, 0.1), (0.0, 0.0, -1.0), "open", "R",
                        (-1.0, -0.6, -0.2))
    return _static({**left, **right})


@_builder("quiet")
def _g_quiet(rng, amp, hold):
    f = _unit((0.0, 1.0, 0.05))
    w = MOUTH + np.array([0.0, 0.01, 0.025]) - 0.155 * f
    return _static(arm_pose("L", _j(rng, w, 0.005), f, (0.0, 0.0, -1.0), "point", (1.0, -0.8, 0.0)))


@_builder("strong")
def _g_strong(rng, amp, hold):
    return _static(arm_pose("L", _j(rng, (0.50, 0.30 + 0.03 * amp, 0.04)), (-0.4, 0.9, 0.0), (-1.0, 0.0, 0.2),
                            "fist", (0.0, -1.0, -0.2)))


@_builder("fast")
def _g_fast(rng, amp, hold):
    f, palm = (0.0, 0.1, 1.0), (-1.0, 0.0, 0.0)
    keys = [arm_pose("L", _j(rng, (0.32, 0.0, 0.32)), f, palm, "open"),
            arm_pose("L", _j(rng, (0.32 - 0.44 * amp, -0.02, 0.38)), f, palm, "open")]
    return _path(keys, hold)


@_builder("hello")
def _g_hello(rng, amp, hold):
    base = _j(rng, (0.30, 0.30, 0.12))
    cycles = max(2, int(round(hold * 2.5)))
    keys = []
    for k in range(2 * cycles + 1):
        s = 0.0 if k in (0, 2 * cycles) else (1.0 if k % 2 else -1.0)
        tilt = math.radians(18.0) * s * amp
        f = (math.sin(tilt), math.cos(tilt), 0.0)
        keys.append(arm_pose("L", base + np.array([0.05 * s * amp, 0.0, 0.0]), f, (0.0, 0.0, 1.0), "spread"))
    return _path(keys, hold)


def build_gesture(name: str, rng: np.random.Generator, hold: float, amp: float | None = None,
                  mirror: bool | None = None) -> GesturePlan:
    """One instance of class ``name`` lasting ``hold`` seconds at full weight.

    ``amp`` (default: drawn in [0.85, 1.15]) scales the movement; ``mirror`` (default:
    drawn, right hand 60 % for one-handed classes) selects the mirrored version.
    """
    if name not in _BUILDERS:
        raise EggError(f"unknown gesture class {name!r}; known: {', '.join(CLASS_NAMES)}")
    amp = float(rng.uniform(0.85, 1.15)) if amp is None else float(amp)
    plan = _BUILDERS[name](rng, amp, hold)
    if mirror is None:
        mirror = CLASS_BY_NAME[name].handed and bool(rng.random() < 0.6)
    return plan.mirrored() if mirror else plan
