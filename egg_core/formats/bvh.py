"""BVH (Biovision hierarchy) read and write for any skeleton, plus SMPL-X <-> BVH.

BVH is how Trinity/GENEA and most mocap tools exchange motion. A file has a
``HIERARCHY`` (``ROOT``/``JOINT`` blocks with an ``OFFSET`` from the parent, a
``CHANNELS`` list, and ``End Site`` leaves) and a ``MOTION`` section (``Frames:``,
``Frame Time:``, then one line of channel values per frame, in hierarchy order).

Conventions used here:

- **Rotation channels** are intrinsic Euler angles in degrees applied in the order they
  are listed: ``Zrotation Xrotation Yrotation`` means ``R = Rz @ Rx @ Ry``
  (:func:`egg_core.rotations.euler_to_matrix` with ``order="ZXY"``). Every joint may
  use its own order; joints listing fewer than three rotation channels get the missing
  axes at zero. The rest orientation of every joint is the identity, as in SMPL-X.
- **Position channels** (on the root, and on any other joint that has them, as in
  some Trinity exports) replace the corresponding component of that joint's
  ``OFFSET`` for that frame.
- **Units** are explicit: ``scale`` is metres per file unit. Trinity, MotionBuilder and
  most mocap BVH files are in centimetres, hence the default ``scale=0.01`` for both
  reading and writing; pass ``scale=1.0`` for files in metres.
- Axes are not changed (BVH is Y-up, like SMPL-X).

Errors in a file are reported as :class:`~egg_core.errors.MotionFormatError` with the
line number.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from egg_core.atomic import atomic_write, check_target
from egg_core.errors import MotionFormatError
from egg_core.motion import Motion
from egg_core.rotations import (
    axis_angle_to_matrix,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler,
)
from egg_core.skeleton import SMPLX, Skeleton

__all__ = ["BvhMotion", "bvh_to_motion", "motion_to_bvh", "read_bvh", "write_bvh"]

_POSITION_CHANNELS = {"xposition": 0, "yposition": 1, "zposition": 2}
_ROTATION_CHANNELS = {"xrotation": "X", "yrotation": "Y", "zrotation": "Z"}
_CHANNEL_NAMES = {
    "xposition": "Xposition",
    "yposition": "Yposition",
    "zposition": "Zposition",
    "xrotation": "Xrotation",
    "yrotation": "Yrotation",
    "zrotation": "Zrotation",
}


@dataclass
class BvhMotion:
    """A BVH file in memory: skeleton, per-frame local rotations and translations.

    - ``skeleton``: joints in file (depth-first) order; ``offsets`` in metres.
    - ``local_rotmats``: ``(T, J, 3, 3)`` rotation of each joint relative to its parent.
    - ``root_positions``: ``(T, 3)`` root position in metres (the root's position channels).
    - ``fps``: frames per second: ``1 / Frame Time``, or the shortest rate such as 30 or
      29.97 whose frame time matches the written digits (``0.033333`` gives 30.0).
    - ``channels``: the channel names of each joint, as listed in the file.
    - ``local_translations``: ``(T, J, 3)`` translation of each joint from its parent in
      metres: the offset, with any position channels applied.
    - ``end_sites``: offset (metres) of the ``End Site`` below a joint, by joint index.
    - ``scale``: metres per file unit that was used to read the file.
    """

    skeleton: Skeleton
    local_rotmats: np.ndarray
    root_positions: np.ndarray
    fps: float
    channels: tuple[tuple[str, ...], ...]
    local_translations: np.ndarray
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    scale: float = 0.01

    @property
    def num_frames(self) -> int:
        return int(self.local_rotmats.shape[0])

    @property
    def channel_orders(self) -> tuple[str, ...]:
        """Rotation order of each joint, e.g. ``"ZXY"``; ``""`` for a joint without rotations."""
        return tuple(
            "".join(_ROTATION_CHANNELS[c.lower()] for c in chans if c.lower() in _ROTATION_CHANNELS)
            for chans in self.channels
        )

    @property
    def order(self) -> str:
        """The root's rotation order (most files use one order for every joint)."""
        return self.channel_orders[0]


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


class _Tokens:
    """Whitespace-separated tokens of the HIERARCHY section, each with its line number."""

    def __init__(self, path: Path, items: list[tuple[str, int]], end_line: int) -> None:
        self.path = path
        self.items = items
        self.pos = 0
        self.end_line = end_line

    def error(self, message: str, line: int | None = None) -> MotionFormatError:
        if line is None:
            line = self.items[self.pos][1] if self.pos < len(self.items) else self.end_line
        return MotionFormatError(f"{self.path}, line {line}: {message}")

    def peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error(f"the hierarchy ends early; expected {what}")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def expect(self, word: str) -> int:
        token, line = self.next(f"'{word}'")
        if token.upper() != word.upper():
            raise self.error(f"expected '{word}', found '{token}'", line)
        return line

    def number(self, what: str) -> float:
        token, line = self.next(what)
        try:
            value = float(token)
        except ValueError:
            raise self.error(f"expected {what}, found '{token}'", line) from None
        if not math.isfinite(value):
            raise self.error(f"{what} is not a finite number: '{token}'", line)
        return value


@dataclass
class _Joint:
    name: str
    parent: int
    offset: tuple[float, float, float]
    channels: tuple[str, ...]
    line: int


def _parse_offset(tokens: _Tokens) -> tuple[float, float, float]:
    tokens.expect("OFFSET")
    return (tokens.number("OFFSET x"), tokens.number("OFFSET y"), tokens.number("OFFSET z"))


def _parse_channels(tokens: _Tokens) -> tuple[str, ...]:
    tokens.expect("CHANNELS")
    token, line = tokens.next("the channel count")
    if not token.isdigit() or int(token) > 6:
        raise tokens.error(f"the channel count must be a whole number from 0 to 6, found '{token}'", line)
    names: list[str] = []
    for _ in range(int(token)):
        name, name_line = tokens.next("a channel name")
        key = name.lower()
        if key not in _CHANNEL_NAMES:
            raise tokens.error(
                f"unknown channel '{name}' (expected Xposition, Yposition, Zposition, "
                "Xrotation, Yrotation or Zrotation)",
                name_line,
            )
        if _CHANNEL_NAMES[key] in names:
            raise tokens.error(f"channel '{name}' is listed twice", name_line)
        names.append(_CHANNEL_NAMES[key])
    return tuple(names)


def _parse_joint(
    tokens: _Tokens,
    joints: list[_Joint],
    end_sites: dict[int, tuple[float, float, float]],
    parent: int,
    name: str,
    line: int,
) -> None:
    """Parse ``{ OFFSET ... CHANNELS ... children }`` of one joint (its keyword and name read)."""
    tokens.expect("{")
    offset = _parse_offset(tokens)
    channels: tuple[str, ...] = ()
    if (tokens.peek() or "").upper() == "CHANNELS":
        channels = _parse_channels(tokens)
    index = len(joints)
    joints.append(_Joint(name, parent, offset, channels, line))
    while True:
        token, tok_line = tokens.next("'}' closing joint '" + name + "'")
        upper = token.upper()
        if token == "}":
            return
        if upper == "JOINT":
            child, child_line = tokens.next("a joint name")
            _parse_joint(tokens, joints, end_sites, index, child, child_line)
        elif upper == "END":
            tokens.expect("Site")
            tokens.expect("{")
            site = _parse_offset(tokens)
            tokens.expect("}")
            end_sites.setdefault(index, site)
        else:
            raise tokens.error(
                f"expected JOINT, End Site or '}}' inside joint '{name}', found '{token}'", tok_line
            )


def _parse_frame_rate(path: Path, line_no: int, token: str) -> float:
    """``1 / Frame Time``, as the shortest rate (30, 29.97, 23.976) that the written value fits.

    Frame times are written rounded (``0.033333``), so ``1 / frame_time`` is slightly off
    (30.0003); the rate with the fewest decimals (0 to 3) whose frame time rounds to the
    same written digits is taken instead, else the exact reciprocal.
    """
    try:
        frame_time = float(token)
    except ValueError:
        raise MotionFormatError(f"{path}, line {line_no}: 'Frame Time' must be a number, found '{token}'") from None
    if not math.isfinite(frame_time) or frame_time <= 0:
        raise MotionFormatError(f"{path}, line {line_no}: 'Frame Time' must be positive, found '{token}'")
    fps = 1.0 / frame_time
    decimals = len(token.split(".")[1]) if "." in token and "e" not in token.lower() else 15
    tolerance = 0.5 * 10.0 ** (-decimals) * (1 + 1e-9)
    for places in range(4):
        candidate = round(fps, places)
        if candidate > 0 and abs(1.0 / candidate - frame_time) <= tolerance:
            return float(candidate)
    return fps


def _rotation_matrices(values: np.ndarray, joints: list[_Joint], starts: list[int]) -> np.ndarray:
    """Local rotation matrices ``(T, J, 3, 3)`` from the channel values (degrees)."""
    num_frames = values.shape[0]
    rotmats = np.broadcast_to(np.eye(3), (num_frames, len(joints), 3, 3)).copy()
    groups: dict[str, tuple[list[int], list[list[int]]]] = {}
    for j, joint in enumerate(joints):
        cols = [starts[j] + k for k, c in enumerate(joint.channels) if c.lower() in _ROTATION_CHANNELS]
        if not cols:
            continue
        axes = "".join(_ROTATION_CHANNELS[c.lower()] for c in joint.channels if c.lower() in _ROTATION_CHANNELS)
        # Missing axes go last with a zero angle, which leaves the listed product unchanged.
        order = axes + "".join(a for a in "XYZ" if a not in axes)
        group = groups.setdefault(order, ([], []))
        group[0].append(j)
        group[1].append(cols + [-1] * (3 - len(cols)))
    padded = np.concatenate([values, np.zeros((num_frames, 1))], axis=1)  # column -1 = 0
    for order, (indices, cols) in groups.items():
        angles = padded[:, np.asarray(cols)]  # (T, n, 3)
        rotmats[:, indices] = euler_to_matrix(angles, order=order, degrees=True)
    return rotmats


def _read_frames(path: Path, lines: list[str], first: int, num_frames: int, num_channels: int) -> np.ndarray:
    """The ``(num_frames, num_channels)`` channel values; errors name the offending line."""
    if num_channels > 0:
        # Fast path (numpy's C parser); any irregularity falls through to the checked parser.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = np.loadtxt(lines[first:], dtype=np.float64, ndmin=2, comments=None)
        except ValueError:
            values = None
        if values is not None and values.shape == (num_frames, num_channels) and np.all(np.isfinite(values)):
            return values
    return _read_frames_checked(path, lines, first, num_frames, num_channels)


def _read_frames_checked(
    path: Path, lines: list[str], first: int, num_frames: int, num_channels: int
) -> np.ndarray:
    """Line-by-line parse that reports exactly which line is wrong."""
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    for index in range(first, len(lines)):
        parts = lines[index].split()
        if not parts:
            continue
        if len(rows) == num_frames:
            raise MotionFormatError(
                f"{path}, line {index + 1}: more frame lines than 'Frames: {num_frames}' announces; "
                "fix the frame count or remove the extra lines."
            )
        if len(parts) != num_channels:
            raise MotionFormatError(
                f"{path}, line {index + 1}: frame {len(rows) + 1} has {len(parts)} values but the "
                f"hierarchy declares {num_channels} channels."
            )
        rows.append(parts)
        line_numbers.append(index + 1)
    if len(rows) < num_frames:
        raise MotionFormatError(
            f"{path}, line {len(lines)}: the file ends after {len(rows)} of the {num_frames} frames "
            "announced by 'Frames:'; it is probably truncated."
        )
    if num_channels == 0:
        return np.zeros((num_frames, 0))
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for row, line_no in zip(rows, line_numbers, strict=True):
            for token in row:
                try:
                    float(token)
                except ValueError:
                    raise MotionFormatError(
                        f"{path}, line {line_no}: '{token}' is not a number."
                    ) from None
        raise  # pragma: no cover - every row parsed individually, so the array must parse
    if not np.all(np.isfinite(values)):
        bad = int(np.argwhere(~np.isfinite(values))[0, 0])
        raise MotionFormatError(f"{path}, line {line_numbers[bad]}: the frame contains NaN or infinity.")
    return values


def read_bvh(path: str | os.PathLike[str], scale: float = 0.01) -> BvhMotion:
    """Read a BVH file of any skeleton; ``scale`` = metres per file unit (0.01: centimetres).

    Returns the skeleton in file order (offsets in metres), local rotation matrices
    ``(T, J, 3, 3)``, root positions ``(T, 3)`` in metres and the frame rate. Raises
    :class:`MotionFormatError` with the line number for a malformed file.
    """
    path = Path(path)
    if not (scale > 0 and math.isfinite(scale)):
        raise MotionFormatError(f"BVH scale must be a positive number of metres per unit, got {scale!r}.")
    if not path.is_file():
        raise MotionFormatError(f"BVH file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        try:
            text = path.read_text(encoding="latin-1")
        except OSError as exc:  # pragma: no cover - read errors after a successful first read
            raise MotionFormatError(f"Cannot read BVH file {path}: {exc}") from exc
    except OSError as exc:
        raise MotionFormatError(f"Cannot read BVH file {path}: {exc}") from exc
    lines = text.splitlines()

    motion_line = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    hierarchy_end = motion_line if motion_line is not None else len(lines)
    items = [(tok, i + 1) for i in range(hierarchy_end) for tok in lines[i].split()]
    tokens = _Tokens(path, items, hierarchy_end + 1 if motion_line is not None else len(lines))

    if not items or items[0][0].upper() != "HIERARCHY":
        raise tokens.error("a BVH file must start with 'HIERARCHY'", items[0][1] if items else 1)
    tokens.pos = 1
    root_line = tokens.expect("ROOT")
    root_name, name_line = tokens.next("the root joint name")
    joints: list[_Joint] = []
    raw_sites: dict[int, tuple[float, float, float]] = {}
    _parse_joint(tokens, joints, raw_sites, -1, root_name, name_line or root_line)
    if tokens.peek() is not None:
        token, line = tokens.next("")
        if token.upper() == "ROOT":
            raise tokens.error("files with more than one ROOT hierarchy are not supported", line)
        raise tokens.error(f"unexpected '{token}' after the hierarchy; expected 'MOTION'", line)
    if motion_line is None:
        raise MotionFormatError(f"{path}, line {len(lines)}: the 'MOTION' section is missing.")

    seen: dict[str, int] = {}
    for joint in joints:
        if joint.name in seen:
            raise MotionFormatError(
                f"{path}, line {joint.line}: joint name '{joint.name}' is used twice "
                f"(first on line {seen[joint.name]}); joint names must be unique."
            )
        seen[joint.name] = joint.line

    header: list[tuple[int, str]] = []
    cursor = motion_line + 1
    while cursor < len(lines) and len(header) < 2:
        if lines[cursor].strip():
            header.append((cursor + 1, lines[cursor].strip()))
        cursor += 1
    frames_match = re.fullmatch(r"Frames\s*:\s*(\S+)", header[0][1], re.I) if header else None
    if not frames_match:
        line_no = header[0][0] if header else motion_line + 1
        raise MotionFormatError(f"{path}, line {line_no}: expected 'Frames: <count>' after 'MOTION'.")
    if not frames_match.group(1).isdigit() or int(frames_match.group(1)) < 1:
        raise MotionFormatError(
            f"{path}, line {header[0][0]}: 'Frames' must be a positive whole number, "
            f"found '{frames_match.group(1)}'."
        )
    num_frames = int(frames_match.group(1))
    time_match = re.fullmatch(r"Frame\s+Time\s*:\s*(\S+)", header[1][1], re.I) if len(header) > 1 else None
    if not time_match:
        line_no = header[1][0] if len(header) > 1 else header[0][0] + 1
        raise MotionFormatError(f"{path}, line {line_no}: expected 'Frame Time: <seconds>' after 'Frames:'.")
    fps = _parse_frame_rate(path, header[1][0], time_match.group(1))

    starts: list[int] = []
    total = 0
    for joint in joints:
        starts.append(total)
        total += len(joint.channels)
    values = _read_frames(path, lines, cursor, num_frames, total)

    offsets = np.array([joint.offset for joint in joints], dtype=np.float64) * scale
    translations = np.broadcast_to(offsets, (num_frames, len(joints), 3)).copy()
    for j, joint in enumerate(joints):
        for k, channel in enumerate(joint.channels):
            axis = _POSITION_CHANNELS.get(channel.lower())
            if axis is not None:
                translations[:, j, axis] = values[:, starts[j] + k] * scale
    rotmats = _rotation_matrices(values, joints, starts)

    names = tuple(joint.name for joint in joints)
    skeleton = Skeleton(
        name=path.stem,
        joint_names=names,
        parents=tuple(joint.parent for joint in joints),
        offsets=offsets,
        parts={"all": tuple(range(len(joints)))},
        mirror=infer_mirror(names),
    )
    return BvhMotion(
        skeleton=skeleton,
        local_rotmats=rotmats,
        root_positions=translations[:, 0].copy(),
        fps=fps,
        channels=tuple(joint.channels for joint in joints),
        local_translations=translations,
        end_sites={j: np.asarray(site, dtype=np.float64) * scale for j, site in raw_sites.items()},
        scale=scale,
    )


# --------------------------------------------------------------------------------------
# Left/right twins from joint names
# --------------------------------------------------------------------------------------

_SIDE_RULES: tuple[re.Pattern[str], ...] = (
    re.compile(r"(left|right)", re.I),  # LeftArm, left_hip, mixamorig:RightHand
    re.compile(r"^([LR])(?=[A-Z_.\-\d])"),  # LHand, R_Hip
    re.compile(r"^([lr])(?=[_.\-])"),  # l_hip
    re.compile(r"(?<=[_.\-])([LRlr])$"),  # Hip_L, hand.r
)
_OTHER_SIDE = {"left": "right", "right": "left", "l": "r", "r": "l"}


def _other_side(match: re.Match[str]) -> str:
    """The matched side word swapped, keeping its capitalisation (L->R, Left->Right, LEFT->RIGHT)."""
    word = match.group(1)
    swapped = _OTHER_SIDE[word.lower()]
    if word.isupper():
        return swapped.upper()
    if word[0].isupper():
        return swapped.capitalize()
    return swapped


def _side_swaps(name: str) -> list[str]:
    """Names ``name`` could have on the other side of the body, one per matching rule."""
    return [rule.sub(_other_side, name) for rule in _SIDE_RULES if rule.search(name)]


def infer_mirror(joint_names: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """Index of each joint's left/right twin, found from names (Left/Right, L/R prefixes,
    _L/_R suffixes); joints without a twin map to themselves. Pairs are symmetric."""
    index = {name: i for i, name in enumerate(joint_names)}
    mirror = list(range(len(joint_names)))
    for i, name in enumerate(joint_names):
        for candidate in _side_swaps(name):
            j = index.get(candidate)
            if j is not None and j != i and name in _side_swaps(candidate):
                mirror[i] = j
                break
    for i, j in enumerate(mirror):  # keep only mutual pairs
        if mirror[j] != i:
            mirror[i] = i
    return tuple(mirror)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _check_order(order: str) -> str:
    up = order.upper()
    if len(up) != 3 or sorted(up) != ["X", "Y", "Z"]:
        raise MotionFormatError(
            f"BVH rotation order must be a permutation of XYZ such as 'ZXY' or 'XYZ', got {order!r}."
        )
    return up


def _depth_first(parents: tuple[int, ...]) -> list[int]:
    roots = [j for j, p in enumerate(parents) if p < 0]
    if len(roots) != 1:
        raise MotionFormatError(
            f"BVH needs a skeleton with exactly one root joint; this one has {len(roots)}."
        )
    children: dict[int, list[int]] = {j: [] for j in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    order: list[int] = []
    stack = [roots[0]]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    if len(order) != len(parents):
        raise MotionFormatError("The skeleton's parent list has a cycle; it cannot be written as BVH.")
    return order


def _default_end_site(offset: np.ndarray) -> np.ndarray:
    """A short tip beyond a leaf joint, along its bone: half the bone, 2 cm at least.

    Blender and MotionBuilder use the End Site as the leaf bone's tail, so a zero or
    missing tip would give a zero-length bone.
    """
    length = float(np.linalg.norm(offset))
    if length < 1e-8:
        return np.array([0.0, 0.05, 0.0])
    return offset / length * max(0.5 * length, 0.02)


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def write_bvh(
    path: str | os.PathLike[str],
    skeleton: Skeleton,
    local_rotmats: np.ndarray,
    root_positions: np.ndarray,
    fps: float,
    order: str = "ZXY",
    overwrite: bool = False,
    *,
    scale: float = 0.01,
    end_sites: Mapping[int, np.ndarray] | None = None,
) -> None:
    """Write a BVH file for any single-root ``skeleton``.

    ``local_rotmats`` ``(T, J, 3, 3)`` and ``root_positions`` ``(T, 3)`` (metres) are in
    skeleton order; joints are written depth-first. The root gets ``X/Y/Zposition`` plus
    rotation channels, every other joint three rotation channels, all in ``order``
    (degrees, unwrapped over time so curves have no 360-degree jumps). ``scale`` is
    metres per file unit (0.01 writes centimetres). Leaf joints get an ``End Site`` from
    ``end_sites`` (metres, by joint index) or half their bone length along the bone.
    Written atomically; refuses an existing file unless ``overwrite``.
    """
    target = check_target(path, overwrite)
    order = _check_order(order)
    if not (scale > 0 and math.isfinite(scale)):
        raise MotionFormatError(f"BVH scale must be a positive number of metres per unit, got {scale!r}.")
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise MotionFormatError(f"BVH frame rate must be a positive number, got {fps!r}.")
    num_joints = skeleton.num_joints
    rotmats = np.asarray(local_rotmats, dtype=np.float64)
    if rotmats.ndim != 4 or rotmats.shape[1:] != (num_joints, 3, 3) or rotmats.shape[0] < 1:
        raise MotionFormatError(
            f"local_rotmats has shape {rotmats.shape}; expected (T, {num_joints}, 3, 3) for "
            f"skeleton '{skeleton.name}'."
        )
    num_frames = rotmats.shape[0]
    root = np.asarray(root_positions, dtype=np.float64)
    if root.shape != (num_frames, 3):
        raise MotionFormatError(f"root_positions has shape {root.shape}; expected ({num_frames}, 3).")
    if not (np.all(np.isfinite(rotmats)) and np.all(np.isfinite(root))):
        raise MotionFormatError("The motion contains NaN or infinite values; it cannot be written as BVH.")
    for name in skeleton.joint_names:
        if not name or any(ch.isspace() for ch in name) or name in "{}":
            raise MotionFormatError(f"Joint name {name!r} cannot be written to BVH (no spaces or braces).")

    parents = tuple(int(p) for p in skeleton.parents)
    dfs = _depth_first(parents)
    has_child = {p for p in parents if p >= 0}
    offsets = np.asarray(skeleton.offsets, dtype=np.float64)
    sites = dict(end_sites or {})
    rotation_channels = " ".join(f"{axis}rotation" for axis in order)

    out = io.StringIO()
    out.write("HIERARCHY\n")
    depth_of = {}
    for j in dfs:
        depth_of[j] = 0 if parents[j] < 0 else depth_of[parents[j]] + 1
    # Emit the blocks with explicit closing braces as the depth-first walk climbs back up.
    open_stack: list[int] = []
    for j in dfs:
        while open_stack and open_stack[-1] != parents[j]:
            _close_joint(out, open_stack.pop(), depth_of, offsets, sites, has_child, scale)
        pad = "\t" * depth_of[j]
        keyword = "ROOT" if parents[j] < 0 else "JOINT"
        out.write(f"{pad}{keyword} {skeleton.joint_names[j]}\n{pad}{{\n")
        out.write(f"{pad}\tOFFSET {_fmt(offsets[j] / scale)}\n")
        if parents[j] < 0:
            out.write(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition {rotation_channels}\n")
        else:
            out.write(f"{pad}\tCHANNELS 3 {rotation_channels}\n")
        open_stack.append(j)
    while open_stack:
        _close_joint(out, open_stack.pop(), depth_of, offsets, sites, has_child, scale)

    fps = float(fps)
    out.write(f"MOTION\nFrames: {num_frames}\nFrame Time: {1.0 / fps:.10f}\n")
    angles = matrix_to_euler(rotmats[:, dfs], order=order, degrees=True)  # (T, J, 3)
    angles = np.unwrap(angles, period=360.0, axis=0)
    table = np.concatenate([root / scale, angles.reshape(num_frames, -1)], axis=1)
    np.savetxt(out, table, fmt="%.6f", delimiter=" ")
    data = out.getvalue().encode("utf-8")

    def write(handle: BinaryIO) -> None:
        handle.write(data)

    atomic_write(target, write, overwrite=overwrite)


def _close_joint(
    out: io.StringIO,
    j: int,
    depth_of: dict[int, int],
    offsets: np.ndarray,
    sites: dict[int, np.ndarray],
    has_child: set[int],
    scale: float,
) -> None:
    pad = "\t" * depth_of[j]
    site = sites.get(j)
    if site is None and j not in has_child:
        site = _default_end_site(offsets[j])
    if site is not None:
        out.write(f"{pad}\tEnd Site\n{pad}\t{{\n{pad}\t\tOFFSET {_fmt(np.asarray(site, dtype=np.float64) / scale)}\n{pad}\t}}\n")
    out.write(f"{pad}}}\n")


# --------------------------------------------------------------------------------------
# SMPL-X
# --------------------------------------------------------------------------------------


def motion_to_bvh(
    motion: Motion,
    path: str | os.PathLike[str],
    skeleton: Skeleton = SMPLX,
    overwrite: bool = False,
    *,
    order: str = "ZXY",
    scale: float = 0.01,
) -> None:
    """Write an SMPL-X :class:`Motion` as BVH (55 joints named as in SMPL-X, centimetres).

    The root channel positions are the pelvis position, ``trans + skeleton.offsets[0]``
    (the same placement as :func:`egg_core.skeleton.forward_kinematics`), so the file
    opens in Blender or MotionBuilder with the body where the npz puts it.
    """
    if skeleton.num_joints != motion.poses.shape[1]:
        raise MotionFormatError(
            f"The motion has {motion.poses.shape[1]} joints but skeleton '{skeleton.name}' has "
            f"{skeleton.num_joints}."
        )
    rotmats = axis_angle_to_matrix(motion.poses.astype(np.float64))
    root = motion.trans.astype(np.float64) + np.asarray(skeleton.offsets, dtype=np.float64)[0]
    write_bvh(path, skeleton, rotmats, root, motion.fps, order=order, overwrite=overwrite, scale=scale)


def bvh_to_motion(bvh: BvhMotion, skeleton: Skeleton = SMPLX) -> Motion:
    """Convert a BVH whose joints carry the SMPL-X names (any order) into a :class:`Motion`.

    Inverse of :func:`motion_to_bvh`: rotations are taken by joint name, the translation is
    the root position minus ``skeleton.offsets[0]``. Position channels of non-root joints
    are ignored (SMPL-X bones have fixed lengths); betas and expressions are zero.
    """
    names = bvh.skeleton.joint_names
    lookup = {name: i for i, name in enumerate(names)}
    missing = [name for name in skeleton.joint_names if name not in lookup]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise MotionFormatError(
            f"The BVH skeleton '{bvh.skeleton.name}' lacks {len(missing)} of the "
            f"{skeleton.num_joints} joints of '{skeleton.name}' ({shown}); only BVH files with "
            "SMPL-X joint names can be converted to an SMPL-X motion."
        )
    take = [lookup[name] for name in skeleton.joint_names]
    poses = matrix_to_axis_angle(bvh.local_rotmats[:, take])
    trans = bvh.root_positions - np.asarray(skeleton.offsets, dtype=np.float64)[0]
    return Motion(poses=poses.astype(np.float32), trans=trans.astype(np.float32), fps=bvh.fps)
