"""Command line: speech audio (+ optional transcript) -> SMPL-X gesture motion.

    python -m egg_core.generate --audio talk.wav --out talk_motion.npz [--transcript talk.TextGrid]
        [--fps 30] [--seed 0] [--temperature 0.4] [--top-k K] [--device auto|cpu|cuda]
        [--checkpoint model.safetensors] [--bvh talk.bvh [--target-skeleton theirs.bvh]]
        [--preview talk.mp4|talk.gif] [--overwrite]

Writes a BEAT2-format npz (poses/trans/betas/expressions/model/gender/mocap_frame_rate) that
the SMPL-X Blender add-on loads. With ``--target-skeleton`` the BVH is written on the user's own
skeleton (its joint names, offsets and rest pose; see docs/RETARGET.md). Every mistake a user can make (missing file, existing output,
bad option, missing or broken model, CUDA absent) prints one message and exits with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from egg_core.atomic import check_target
from egg_core.cli import EXIT_USER_ERROR, run_cli
from egg_core.errors import EggError
from egg_core.motion import PARTS, parse_parts

if TYPE_CHECKING:
    from egg_core.retarget import BvhTarget

# OpenMP threads that spin-wait between torch's many small operations collapse generation
# speed 20x when the CPU is shared (measured: 14x vs 330x real time on a loaded 2-core
# machine). Passive waiting costs nothing measurable here; it must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["EXIT_USER_ERROR", "build_parser", "main", "run"]
log = logging.getLogger("egg_core.generate")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m egg_core.generate",
        description="Generate co-speech gestures (SMPL-X, BEAT2 npz) from speech audio with EGGesture.")
    p.add_argument("--audio", required=True, help="speech recording (wav, flac, ogg, mp3, ...)")
    p.add_argument("--transcript", help="words of the speech: TextGrid, JSON, SRT, VTT or plain text")
    p.add_argument("--transcribe", action="store_true",
                   help="without --transcript, find the words with faster-whisper (asr extra; slower)")
    p.add_argument("--out", required=True, help="output motion, BEAT2 .npz")
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same motion (default 0)")
    p.add_argument("--temperature", type=float, default=0.4,
                   help="sampling temperature; 0 = always the most likely gesture (default 0.4, "
                        "chosen by measurement: docs/QUALITY.md)")
    p.add_argument("--top-k", type=int, default=None, help="sample only among the K most likely codes")
    p.add_argument("--parts", default=None,
                   help="comma list of the parts to animate: upper, hands, lower, face, eyes, root "
                        "(default all); the others are held still, e.g. upper,hands,face for a seated "
                        "character")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--checkpoint", help="trained model .safetensors (default: the bundled model)")
    p.add_argument("--bvh", help="also write the motion as BVH")
    p.add_argument("--target-skeleton",
                   help="write the --bvh on this BVH's skeleton (its joint names, offsets and rest pose: "
                        "a Mixamo, Unreal, Unity or MotionBuilder character) instead of SMPL-X's")
    p.add_argument("--bone-map",
                   help="with --target-skeleton: JSON file naming which joint plays which body part "
                        "(default: found from the joint names and the hierarchy)")
    p.add_argument("--in-place", action="store_true",
                   help="with --target-skeleton: keep the root's vertical motion only")
    p.add_argument("--smplx-dir",
                   help="folder of licensed SMPL-X model files: the BVH then uses the exact skeleton "
                        "(default: $EGGESTURE_SMPLX_DIR, else the project's own skeleton)")
    p.add_argument("--preview", help="also render a stick-figure preview (.gif, or .mp4 with audio)")
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _check_output(path: str, suffix: str, overwrite: bool, what: str) -> Path:
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise EggError(f"{what} must end in {suffix}, got {p.name!r}")
    return check_target(p, overwrite)


def _check_input(path: str, option: str, what: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise EggError(f"{option} {path} is a folder; give the {what} itself")
    if not p.is_file():
        raise EggError(f"{what} not found: {path}")


def _validate(args: argparse.Namespace) -> None:
    """Every check that needs no model, so mistakes surface before the slow work."""
    _check_input(args.audio, "--audio", "audio file")
    if args.transcript is not None:
        _check_input(args.transcript, "--transcript", "transcript file")
    if not (args.fps > 0 and args.fps <= 1000):
        raise EggError(f"--fps must be a positive frame rate (e.g. 30), got {args.fps}")
    if args.temperature < 0 or args.temperature != args.temperature:
        raise EggError(f"--temperature must be >= 0, got {args.temperature}")
    if args.parts is not None:
        parse_parts(args.parts)
    if args.top_k is not None and args.top_k < 1:
        raise EggError(f"--top-k must be at least 1, got {args.top_k}")
    out = _check_output(args.out, ".npz", args.overwrite, "--out")
    others = [out]
    if args.bvh:
        others.append(_check_output(args.bvh, ".bvh", args.overwrite, "--bvh"))
    if args.preview:
        from egg_core.preview import check_preview_target

        others.append(check_preview_target(args.preview, args.overwrite))
    if len({p.resolve() for p in others}) != len(others):
        raise EggError("--out, --bvh and --preview must be different files")
    if (args.target_skeleton or args.bone_map or args.in_place) and not args.bvh:
        raise EggError("--target-skeleton, --bone-map and --in-place shape the BVH: add --bvh OUT.bvh")
    if args.bone_map and not args.target_skeleton:
        raise EggError("--bone-map names the joints of a --target-skeleton: give --target-skeleton too")
    if args.target_skeleton is not None:
        _check_input(args.target_skeleton, "--target-skeleton", "target skeleton BVH")
    if args.smplx_dir is not None and not Path(args.smplx_dir).is_dir():
        raise EggError(f"--smplx-dir {args.smplx_dir} is not a folder; give the folder that holds "
                       "SMPLX_NEUTRAL_2020.npz (or SMPLX_NEUTRAL.npz)")
    if args.checkpoint is not None and not Path(args.checkpoint).exists():
        raise EggError(f"checkpoint not found: {args.checkpoint}")


def _bvh_target(args: argparse.Namespace) -> BvhTarget | None:
    """The user's BVH skeleton, read and mapped (None without ``--target-skeleton``)."""
    if args.target_skeleton is None:
        return None
    from egg_core.retarget import prepare_bvh_target, read_bone_map

    bone_map = read_bone_map(args.bone_map) if args.bone_map else None
    target = prepare_bvh_target(args.target_skeleton, bone_map)
    log.info("target skeleton %s: %d joints, %d body parts mapped (%s)", Path(args.target_skeleton).name,
             target.plan.target.num_bones, len(target.bone_map.parts), target.bone_map.convention)
    return target


def run(args: argparse.Namespace) -> None:
    """The generation pipeline behind :func:`main` (raises EggError on user mistakes)."""
    _validate(args)
    target = _bvh_target(args)  # read and mapped before the model loads: mistakes surface early
    # torch-importing modules load here, after OMP_WAIT_POLICY is set and the arguments checked
    from egg_core.checkpoint import resolve_device

    resolve_device(args.device)  # CUDA requested but absent: fail before loading anything

    from egg_core.formats.beat2 import write_beat2_npz
    from egg_core.inference import GestureGenerator
    from egg_core.pipeline import SpeechRequest, speech_to_motion

    t0 = time.perf_counter()
    generator = GestureGenerator.from_checkpoint(args.checkpoint, args.device)
    request = SpeechRequest(audio=args.audio, transcript=args.transcript, transcribe=args.transcribe,
                            fps=args.fps, seed=args.seed, temperature=args.temperature,
                            top_k=args.top_k, parts=parse_parts(args.parts) if args.parts else PARTS)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=100, unit="%", desc="generating", file=sys.stderr, leave=False)

    def progress(fraction: float, message: str) -> None:
        if bar is not None:
            bar.n = int(round(100 * fraction))
            bar.set_postfix_str(message, refresh=True)

    try:
        result = speech_to_motion(generator, request, progress)
    finally:
        if bar is not None:
            bar.close()
    motion, words = result.motion, result.words
    log.info("%s: %.1f s; %s %s; device %s", Path(args.audio).name, result.duration, words.note,
             words.message, generator.device)
    for warning in result.warnings:
        log.warning("%s", warning)
    write_beat2_npz(motion, args.out, overwrite=args.overwrite)
    written = [args.out]
    if args.bvh and target is not None:
        from egg_core.retarget import write_retargeted_bvh

        write_retargeted_bvh(motion, target, args.bvh, overwrite=args.overwrite, in_place=args.in_place)
        written.append(args.bvh)
    elif args.bvh:
        from egg_core.body_model import skeleton_for_motion
        from egg_core.formats.bvh import motion_to_bvh

        skeleton = skeleton_for_motion(motion, args.smplx_dir)
        motion_to_bvh(motion, args.bvh, skeleton=skeleton, overwrite=args.overwrite)
        written.append(args.bvh)
    if args.preview:
        from egg_core.preview import render_preview

        render_preview(motion, args.preview, audio_path=args.audio, overwrite=args.overwrite)
        written.append(args.preview)
    log.info("wrote %s: %d frames at %g fps (%.1f s) in %.1f s", ", ".join(written),
             motion.num_frames, motion.fps, motion.duration, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
