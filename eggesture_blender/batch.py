"""Headless gesture generation: audio file(s) -> new actions on an armature -> a saved .blend.

    blender -b scene.blend --python eggesture_blender/batch.py -- --audio a.wav \\
        [--transcript t.txt] [--armature NAME] [--out out.blend] [--start-frame N] [--checkpoint P]
    python eggesture_blender/batch.py -- --blend scene.blend --audio talks/ --out out.blend

``--audio`` may be a folder: every audio file in it becomes its own action (the last one
stays active, earlier ones are kept on muted NLA tracks). Without ``--armature`` the
first armature that has the needed SMPL-X bones is used, or an SMPL-X armature is
created. Runs synchronously (bpy.app.timers never fire while a background script
runs). Exit status: 0 success, 2 for anything the user can fix (message on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import bpy


def _addon() -> str:
    """The add-on package name, loading it from this file's folder when run as a script."""
    if __package__:
        return __package__
    here = Path(__file__).resolve().parent
    name = "eggesture_blender"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, here / "__init__.py",
                                                      submodule_search_locations=[str(here)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return name


def _sub(name: str) -> ModuleType:
    return importlib.import_module(f"{_addon()}.{name}")


@dataclass
class BatchSettings:
    """The panel's settings, filled from the command line (duck-types the PropertyGroup)."""

    audio_file: str
    audio_start_frame: int
    transcript_file: str = ""
    transcript_source: str = "NONE"
    transcript_text: object = None
    armature: object = None
    seed: int = 0
    temperature: float = 1.0
    device: str = "AUTO"
    parts: frozenset = frozenset({"UPPER", "HANDS"})
    audio_source: str = "FILE"
    sound_strip: str = ""
    use_frame_range: bool = False
    frame_start: int = 0
    frame_end: int = 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batch.py", description="Generate gestures without the UI.")
    parser.add_argument("--audio", required=True, type=Path, help="audio file, or a folder of them")
    parser.add_argument("--transcript", type=Path, help="transcript for a single audio file "
                        "(txt/TextGrid/JSON/SRT/VTT); for a folder, <stem>.<ext> beside each audio is used")
    parser.add_argument("--armature", help="armature object to animate (default: find or create one)")
    parser.add_argument("--out", type=Path, help="save the result to this .blend")
    parser.add_argument("--overwrite", action="store_true", help="allow --out to replace a file")
    parser.add_argument("--blend", type=Path, help="open this .blend first (when run with plain python)")
    parser.add_argument("--start-frame", type=int, help="frame of the first audio sample "
                        "(default: the scene's start frame)")
    parser.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the bundled model)")
    parser.add_argument("--smplx-dir", type=Path,
                        help="folder of licensed SMPL-X model files: a created armature gets the real "
                             "body (default: $EGGESTURE_SMPLX_DIR, else the built-in stand-in)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--parts", default="UPPER,HANDS",
                        help="comma list of UPPER,HANDS,LOWER,HEAD,ROOT (default UPPER,HANDS)")
    return parser.parse_args(argv)


def script_args(argv: list[str]) -> list[str]:
    """Arguments after ``--`` (Blender passes its own before it); all of them if there is none."""
    return argv[argv.index("--") + 1:] if "--" in argv else argv[1:]


def audio_files(path: Path) -> list[Path]:
    """The audio file, or the audio files of a folder in name order."""
    extensions = _sub("_core").core("formats.extensions")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if extensions.is_audio_file(p.name))
        if not files:
            names = ", ".join(sorted(extensions.AUDIO_EXTENSIONS))
            raise _input_error(f"No audio files ({names}) in folder {path}.")
        return files
    if not path.is_file():
        raise _input_error(f"Audio file not found: {path}. Check the --audio path.")
    return [path]


def _input_error(message: str) -> Exception:
    return _sub("operators").InputError(message)


def _transcript_for(audio: Path, given: Path | None, single: bool) -> Path | None:
    if given is not None and single:
        if not given.is_file():
            raise _input_error(f"Transcript file not found: {given}.")
        return given
    # a transcript of the same stem, timed formats first, whatever the case of its extension
    order = _sub("_core").core("formats.extensions").TRANSCRIPT_EXTENSIONS
    beside = [p for p in audio.parent.iterdir()
              if p.stem == audio.stem and p.suffix.lower() in order and p.is_file()]
    return min(beside, key=lambda p: order.index(p.suffix.lower()), default=None)


def _target_armature(name: str | None, joints_needed: list[int], translate: bool,
                     smplx_dir: Path | None = None):
    armature = _sub("armature")
    if name:
        obj = bpy.data.objects.get(name)
        if obj is None or obj.type != "ARMATURE":
            raise _input_error(f"No armature object named '{name}' in this file.")
        return obj
    needed = joints_needed + ([0] if translate else [])
    for obj in bpy.data.objects:
        if obj.type == "ARMATURE" and not armature.map_bones(obj, needed).missing:
            return obj
    return _sub("body_mesh").create_armature(bpy.context.scene.collection, "SMPL-X", with_mesh=True,
                                             model_dir=str(smplx_dir) if smplx_dir else None)


def run(argv: list[str]) -> list[str]:
    """Do the batch job for parsed ``argv``; returns the names of the actions written."""
    args = parse_args(argv)
    operators, backend = _sub("operators"), _sub("backend")
    if args.out is not None and args.out.exists() and not args.overwrite:
        raise _input_error(f"{args.out} already exists; choose another --out or pass --overwrite.")
    if args.checkpoint is not None and not args.checkpoint.exists():
        raise _input_error(f"Checkpoint not found: {args.checkpoint}.")
    files = audio_files(args.audio)
    if args.blend is not None:
        if not args.blend.is_file():
            raise _input_error(f".blend file not found: {args.blend}.")
        bpy.ops.wm.open_mainfile(filepath=str(args.blend))
    parts = frozenset(p.strip().upper() for p in args.parts.split(",") if p.strip())
    unknown = parts - set(_sub("properties").PART_GROUPS)
    if unknown:
        raise _input_error(f"Unknown --parts {sorted(unknown)}; use UPPER,HANDS,LOWER,HEAD,ROOT.")

    context = bpy.context
    scene = context.scene
    start = scene.frame_start if args.start_frame is None else args.start_frame
    target = _target_armature(args.armature, operators._joint_indices(set(parts)), "ROOT" in parts,
                              args.smplx_dir)
    written = []
    for audio in files:
        transcript = _transcript_for(audio, args.transcript, len(files) == 1)
        settings = BatchSettings(
            audio_file=str(audio.resolve()), audio_start_frame=start, armature=target,
            transcript_file=str(transcript.resolve()) if transcript else "",
            transcript_source="FILE" if transcript else "NONE", seed=args.seed,
            temperature=args.temperature, device=args.device.upper(), parts=parts,
        )
        plan = operators.prepare_run(context, settings)
        try:
            if args.checkpoint is not None:
                plan.request.checkpoint = str(args.checkpoint.resolve())
            mode, python = operators.choose_backend(context)
            t0 = time.perf_counter()
            result = backend.run_sync(plan.request, mode, python)
            action = operators.apply_result(context, plan, result)
        finally:
            plan.cleanup()
        end = int(action.frame_range[1])
        scene.frame_end = max(scene.frame_end, end)
        print(f"{audio.name}: wrote action '{action.name}' on '{target.name}' "
              f"(frames {int(action.frame_range[0])}-{end}, {time.perf_counter() - t0:.1f} s, "
              f"{result.words_note})")
        written.append(action.name)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(args.out.resolve()), check_existing=False)
        print(f"saved {args.out}")
    return written


def main(argv: list[str] | None = None) -> int:
    argv = script_args(sys.argv if argv is None else argv)
    cli = _sub("_core").core("cli")
    return cli.run_cli(lambda: run(argv) and None, user_errors=(_sub("backend").GenerationFailed,))


if __name__ == "__main__":
    sys.exit(main())
