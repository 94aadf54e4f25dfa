"""``python -m training.train_evaluator --data DIR --out evaluator.safetensors``

Trains the project's own FGD feature autoencoder (see :mod:`training.evaluator`) on the
real motion of a dataset folder (all 55 SMPL-X joints at 30 fps, mirrored copies added).
Its FGD values are comparable only between models scored with the same evaluator file,
not with published numbers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from egg_core.cli import run_cli
from egg_core.errors import EggError
from egg_core.motion import resample_motion
from egg_core.skeleton import mirror_poses
from training.data import add_dataset_arguments, discover_clips, read_clip_motion
from training.evaluator import NOT_COMPARABLE, save_evaluator, train_autoencoder

log = logging.getLogger("training.train_evaluator")


def collect_poses(data: str | Path, fmt: str = "auto", split: str | None = "train",
                  speakers: list[str] | None = None, mirror: bool = True,
                  fps: float = 30.0) -> tuple[list[np.ndarray], object]:
    """SMPL-X poses ``(T, 55, 3)`` at ``fps`` of every readable clip (+ mirrored copies)."""

    sources, report = discover_clips(data, fmt, split, speakers)
    poses = []
    for src in sources:
        try:
            motion = read_clip_motion(src.motion)
        except EggError as exc:
            report.skip(src.name, f"unreadable motion: {exc}")
            continue
        if abs(motion.fps - fps) > 1e-6:
            motion = resample_motion(motion, fps)
        report.used.append(src.name)
        poses.append(motion.poses)
        if mirror:
            poses.append(np.asarray(mirror_poses(motion.poses, motion.trans)[0], np.float32))
    if not poses:
        raise EggError(f"no readable motion in {data}\n" + report.summary())
    return poses, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.train_evaluator", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(ap, split="train")
    ap.add_argument("--out", required=True, help="output .safetensors file")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--no-mirror", action="store_true", help="do not add mirrored copies")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    return run_cli(lambda: _train(args))


def _train(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise EggError(f"{out} already exists; pass --overwrite to replace it")
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    if device == "auto":
        device = "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise EggError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    split = None if args.split == "all" else args.split
    poses, report = collect_poses(args.data, args.format, split, args.speakers, not args.no_mirror)
    log.info("%s", report.summary())
    model, info = train_autoencoder(poses, epochs=args.epochs, batch_size=args.batch_size,
                                    lr=args.lr, seed=args.seed, device=device)
    info.update(data=str(args.data), split=args.split, clips=len(report.used))
    save_evaluator(model, out, info, overwrite=args.overwrite)
    print(f"wrote {out}: {info['windows']} windows, final loss {info['final_loss']:.4f}")
    print(f"NOTE: {NOT_COMPARABLE}")


if __name__ == "__main__":
    sys.exit(main())
