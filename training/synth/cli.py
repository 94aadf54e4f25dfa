"""The command line, ``python -m training.synth``: options in, dataset out, class table printed."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from egg_core.cli import run_cli
from training.synth.clips import SynthSettings
from training.synth.dataset import generate_dataset

DESCRIPTION = "Synthetic long-tail gesture benchmark: speech with known words, motion with known gestures."


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the dataset the arguments ask for; returns the exit status (2 on a user error)."""
    ap = argparse.ArgumentParser(prog="python -m training.synth", description=DESCRIPTION)
    ap.add_argument("--out", required=True, help="output folder (new-speaker layout)")
    ap.add_argument("--minutes", type=float, default=60.0, help="total speech+motion to make (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--idle-source", default=None,
                    help="a real BEAT2 npz for the idle motion; default: procedural idle")
    ap.add_argument("--workers", type=int, default=2, help="processes (output does not depend on it)")
    ap.add_argument("--clip-seconds", type=float, default=60.0, help="length of each clip (default 60)")
    ap.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    return run_cli(lambda: _generate(args))


def _generate(args: argparse.Namespace) -> None:
    settings = SynthSettings(minutes=args.minutes, seed=args.seed, clip_seconds=args.clip_seconds,
                             idle_source=args.idle_source)
    manifest = generate_dataset(args.out, settings, workers=args.workers, overwrite=args.overwrite,
                                progress=not args.quiet)
    print(f"wrote {manifest['clips']} clips, {manifest['seconds'] / 60:.1f} min, "
          f"{manifest['semantic_gestures']} semantic gestures, {manifest['beats']} beats to {args.out} "
          f"in {manifest['_elapsed_s']:.1f} s")
    for row in manifest["classes"]:
        print(f"  {row['rank']:2d} {row['class']:<10} target {row['target_p']:.3f}  "
              f"got {row['fraction']:.3f} ({row['count']})")
