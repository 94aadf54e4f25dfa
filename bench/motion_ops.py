"""CPU cost of the per-frame motion maths: resampling, rotation conversions, BVH read/write.

    python bench/motion_ops.py [--repeats 3] [--skip-bvh]

These run on every frame of every joint after generation (15 fps model output -> 30 fps,
6D -> axis-angle) and when importing/exporting motion, so they must stay small next to the
model itself. Reports CPU time (``time.process_time``, best of ``--repeats``), which is far
less noisy than wall time on a shared machine; numpy is limited to one thread. The motion is
synthetic (smooth random joint rotations), since the cost does not depend on the values.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from egg_core import rotations as rot  # noqa: E402
from egg_core.formats.bvh import motion_to_bvh, read_bvh  # noqa: E402
from egg_core.motion import Motion, resample_motion  # noqa: E402


def synthetic_motion(seconds: float, fps: float, seed: int = 0) -> Motion:
    """Smooth random motion: every joint oscillates around its own offset pose."""
    rng = np.random.default_rng(seed)
    frames = int(round(seconds * fps))
    t = np.arange(frames)[:, None, None] / fps
    base = rng.normal(0.0, 0.6, (55, 3))
    poses = base + 0.5 * np.sin(t * rng.uniform(0.5, 3.0, (55, 3)) + rng.uniform(0.0, 6.0, (55, 3)))
    return Motion(poses=poses.astype(np.float32), trans=rng.normal(size=(frames, 3)).astype(np.float32),
                  fps=fps, expressions=rng.normal(size=(frames, 100)).astype(np.float32))


def cpu_ms(fn: Callable[[], object], repeats: int) -> float:
    """Best CPU time of ``repeats`` calls, in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best * 1000.0


def report(label: str, ms: float) -> None:
    print(f"  {label:44s} {ms:8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-bvh", action="store_true", help="skip the 10-minute BVH write/read")
    args = parser.parse_args()
    r = args.repeats

    m64 = synthetic_motion(64.0, 30.0)
    m10_15 = synthetic_motion(600.0, 15.0)
    m10_30 = synthetic_motion(600.0, 30.0)
    print(f"CPU time, best of {r} (ms)")
    report("resample 64 s 30 -> 15 -> 30 fps", cpu_ms(lambda: resample_motion(resample_motion(m64, 15.0), 30.0), r))
    report("resample 10 min 15 -> 30 fps", cpu_ms(lambda: resample_motion(m10_15, 30.0), r))
    report("resample 10 min 30 -> 24 fps", cpu_ms(lambda: resample_motion(m10_30, 24.0), r))

    aa = m10_15.poses.astype(np.float64).reshape(-1, 3)  # 9000 frames x 55 joints
    mats = rot.axis_angle_to_matrix(aa)
    d6 = rot.matrix_to_rot6d(mats[: 9000 * 43]).astype(np.float32)  # the model's output size
    euler = rot.matrix_to_euler(mats, "ZXY", degrees=True)
    n = len(aa)
    report(f"axis_angle_to_matrix, {n} rotations", cpu_ms(lambda: rot.axis_angle_to_matrix(aa), r))
    report(f"matrix_to_axis_angle, {n} rotations", cpu_ms(lambda: rot.matrix_to_axis_angle(mats), r))
    report(f"rot6d_to_axis_angle, {len(d6)} float32", cpu_ms(lambda: rot.rot6d_to_axis_angle(d6), r))
    report(f"euler_to_matrix, {n} rotations", cpu_ms(lambda: rot.euler_to_matrix(euler, 'ZXY', True), r))
    report(f"matrix_to_euler, {n} rotations", cpu_ms(lambda: rot.matrix_to_euler(mats, 'ZXY', True), r))

    if not args.skip_bvh:
        with tempfile.TemporaryDirectory(prefix="egg_bench_") as tmp:
            path = Path(tmp) / "ten_minutes.bvh"
            write = cpu_ms(lambda: motion_to_bvh(m10_30, path, overwrite=True), 1)
            report("BVH write 10 min at 30 fps", write)
            report("BVH read 10 min at 30 fps", cpu_ms(lambda: read_bvh(path), r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
