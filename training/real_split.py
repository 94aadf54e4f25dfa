"""Cut one real take (BEAT2 npz + wav) into a training part and a held-out tail.

``python -m training.real_split --take ../shared/data/real/beat2/2_scott_0_1_1.npz --out DIR [--holdout 15]``

Why: the bundled default model is trained on the only real motion we have (about a minute),
and its FGD must be measured on motion it never saw. The last ``--holdout`` seconds of the
take become ``DIR/holdout/<stem>_tail.{npz,wav}``, the rest ``DIR/train/<stem>_head.{npz,wav}``,
both in the "new speaker" folder layout :mod:`training.data` reads (``--format folder``).
Nothing is written into the repository; the take itself is only read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from egg_core.cli import run_cli
from egg_core.errors import EggError
from egg_core.formats.audio import DEFAULT_SAMPLE_RATE, load_audio
from egg_core.formats.beat2 import read_beat2_npz, write_beat2_npz
from egg_core.motion import Motion

SAMPLE_RATE = DEFAULT_SAMPLE_RATE


def _slice_motion(motion: Motion, start: int, stop: int) -> Motion:
    out = motion.copy()
    out.poses = motion.poses[start:stop].copy()
    out.trans = motion.trans[start:stop].copy()
    out.expressions = motion.expressions[start:stop].copy()
    return out


def split_take(take: str | Path, out: str | Path, holdout_s: float = 15.0,
               overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``out/train`` and ``out/holdout`` from ``take`` (+ its ``.wav``); returns both folders."""
    take = Path(take)
    wav = take.with_suffix(".wav")
    if not take.is_file() or not wav.is_file():
        raise EggError(f"need {take} and {wav} (a BEAT2 take and its speech); check the path")
    motion = read_beat2_npz(take)
    wave = load_audio(wav, SAMPLE_RATE)
    duration = min(motion.duration, len(wave) / SAMPLE_RATE)
    if not 0 < holdout_s < duration - 5.0:
        raise EggError(f"--holdout {holdout_s} s must leave at least 5 s of the {duration:.1f} s take")
    cut_t = duration - holdout_s
    cut_frame = int(round(cut_t * motion.fps))
    cut_sample = int(round(cut_frame / motion.fps * SAMPLE_RATE))
    end_frame = int(np.floor(duration * motion.fps))
    end_sample = int(round(end_frame / motion.fps * SAMPLE_RATE))
    out = Path(out)
    folders = (out / "train", out / "holdout")
    parts = ((0, cut_frame, 0, cut_sample, "head"), (cut_frame, end_frame, cut_sample, end_sample, "tail"))
    for folder, (f0, f1, s0, s1, tag) in zip(folders, parts, strict=True):
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{take.stem}_{tag}"
        wav_out = folder / f"{stem}.wav"
        if wav_out.exists() and not overwrite:
            raise EggError(f"{wav_out} exists; pass --overwrite to replace it")
        write_beat2_npz(_slice_motion(motion, f0, f1), folder / f"{stem}.npz", overwrite=overwrite)
        sf.write(wav_out, wave[s0:s1], SAMPLE_RATE, subtype="FLOAT")
    return folders


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.real_split", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--take", required=True, help="BEAT2 npz with a .wav of the same stem beside it")
    ap.add_argument("--out", required=True, help="output folder (gets train/ and holdout/)")
    ap.add_argument("--holdout", type=float, default=15.0, help="seconds at the end held out")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)

    def work() -> None:
        train, hold = split_take(args.take, args.out, args.holdout, args.overwrite)
        print(f"wrote {train} and {hold}")

    return run_cli(work)


if __name__ == "__main__":
    sys.exit(main())
