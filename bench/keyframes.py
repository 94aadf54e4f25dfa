"""Keyframe writing speed: the add-on's bulk writer vs per-frame ``keyframe_insert``.

60 s x 30 fps x 55 SMPL-X bones of quaternion keys (4 channels each), written into
the same fresh armature both ways in one run. Target: bulk <= 0.3 s and >= 40x faster.

    python bench/keyframes.py [--seconds 60] [--fps 30]
"""

from __future__ import annotations

import argparse
import time

import bpy
import numpy as np

from egg_core.rotations import axis_angle_to_quat
from eggesture_blender import armature, keyframes


def smooth_quaternions(frames: int, bones: int, seed: int = 0) -> np.ndarray:
    """Plausible motion: slowly varying axis-angle per bone, as unit quaternions (T, J, 4)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None] / 30.0
    freq = rng.uniform(0.2, 1.5, size=(1, bones, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, bones, 3))
    aa = 0.6 * np.sin(2 * np.pi * freq * t + phase)
    return np.asarray(axis_angle_to_quat(aa))


def bulk(obj: bpy.types.Object, names: list[str], quats: np.ndarray) -> float:
    channels = {n: keyframes.BoneChannels(rotation=quats[:, j]) for j, n in enumerate(names)}
    frames = np.arange(1, len(quats) + 1, dtype=np.float64)
    start = time.perf_counter()
    keyframes.write_take(obj, "bench bulk", channels, frames)
    return time.perf_counter() - start


def per_frame(obj: bpy.types.Object, names: list[str], quats: np.ndarray) -> float:
    pose_bones = [obj.pose.bones[n] for n in names]
    start = time.perf_counter()
    obj.animation_data_clear()
    for f in range(len(quats)):
        for j, pb in enumerate(pose_bones):
            pb.rotation_quaternion = quats[f, j]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1, group=pb.name)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=5, help="bulk runs (the median is reported)")
    args = parser.parse_args()

    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = armature.create_smplx_armature(bpy.context.scene.collection, with_mesh=False)
    names = list(armature.smplx_skeleton().joint_names)
    frames = int(round(args.seconds * args.fps))
    quats = smooth_quaternions(frames, len(names))
    keys = frames * len(names) * 4

    runs = sorted(bulk(obj, names, quats) for _ in range(args.repeat))
    t_bulk = runs[len(runs) // 2]
    t_slow = per_frame(obj, names, quats)
    print(f"{frames} frames x {len(names)} bones x 4 channels = {keys} keys (bpy {bpy.app.version_string})")
    print(f"bulk writer (keyframe_points.add + foreach_set): {t_bulk:.3f} s "
          f"(median of {len(runs)}; best {runs[0]:.3f} s)")
    print(f"per-frame keyframe_insert:                       {t_slow:.3f} s")
    print(f"speed-up: {t_slow / t_bulk:.0f}x  (target: bulk <= 0.3 s, >= 40x)")


if __name__ == "__main__":
    main()
