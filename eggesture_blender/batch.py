"""Headless gesture generation: audio file(s) -> new actions on an armature -> a saved .blend.

    blender -b scene.blend --python eggesture_blender/batch.py -- --audio a.wav \\
        [--transcript t.txt] [--armature NAME] [--out out.blend] [--start-frame N] [--checkpoint P]
    python eggesture_blender/batch.py -- --blend scene.blend --audio talks/ --out out.blend

``--armature`` may be any humanoid rig: an armature without the SMPL-X bones is retargeted
through its bone map (stored on it, detected if there is none, or ``--bone-map FILE.json``;
``--in-place`` keeps only the root's vertical motion), see docs/RETARGET.md.

``--lipsync`` also keys the character's mouth (jaw bone, viseme or ARKit shape keys; the
mapping stored on the object, detected if there is none, or ``--mouth-map FILE.json``) from
the phones of each take; ``--lipsync-only`` keys only the mouth of ``--face`` (or
``--armature``), with no gesture model.

``--audio`` may be a folder: every audio file in it becomes its own action (the last one
stays active, earlier ones are kept on muted NLA tracks). A file that fails is skipped
with its error, the others go on, and what finished is saved. Each take's audio is
added as a sound strip at its start frame (earlier takes' strips muted, like their NLA
tracks) so the saved file plays with sound. Without ``--armature`` the first armature
that has the needed SMPL-X bones is used, or an SMPL-X armature is created.

The result is saved to ``--out`` (a .blend). Without ``--out`` it is saved into the
opened file (``--blend``, or the file Blender was started with) only with
``--overwrite``; with nothing to save to the script refuses to start. Every input and
the output folder are checked before any generation. Runs synchronously
(bpy.app.timers never fire while a background script runs). Exit status: 0 success,
2 for anything the user can fix, including any file of a folder that failed (message
on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import bpy

#: Messages go through the project's CLI logging (egg_core.cli.run_cli configures it).
log = logging.getLogger("eggesture_blender.batch")


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
    temperature: float = 0.4  # egg_core.inference.DEFAULT_TEMPERATURE
    device: str = "AUTO"
    parts: frozenset = frozenset({"UPPER", "HANDS", "LOWER", "HEAD", "ROOT"})
    audio_source: str = "FILE"
    sound_strip: str = ""
    use_frame_range: bool = False
    frame_start: int = 0
    frame_end: int = 0
    lipsync: bool = False
    lipsync_object: object = None
    target_mode: str = "SMPLX"  # "CHARACTER": any rig, retargeted through its bone map
    in_place: bool = False


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batch.py", description="Generate gestures without the UI.")
    parser.add_argument("--audio", required=True, type=Path, help="audio file, or a folder of them")
    parser.add_argument("--transcript", type=Path, help="transcript for a single audio file "
                        "(txt/TextGrid/JSON/SRT/VTT); for a folder, <stem>.<ext> beside each audio is used")
    parser.add_argument("--armature", help="armature object to animate (default: find or create one)")
    parser.add_argument("--out", type=Path, help="save the result to this .blend (its folder must exist)")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow --out to replace a file; without --out, save into the opened .blend")
    parser.add_argument("--blend", type=Path, help="open this .blend first (when run with plain python)")
    parser.add_argument("--start-frame", type=int, help="frame of the first audio sample "
                        "(default: the scene's start frame)")
    parser.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the bundled model)")
    parser.add_argument("--smplx-dir", type=Path,
                        help="folder of licensed SMPL-X model files: a created armature gets the real "
                             "body (default: $EGGESTURE_SMPLX_DIR, else the built-in stand-in)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.4,
                        help="sampling temperature (default 0.4; 0 = most likely gesture)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--parts", default="UPPER,HANDS,LOWER,HEAD,ROOT",
                        help="comma list of UPPER,HANDS,LOWER,HEAD,ROOT (default all; HEAD is the face: "
                             "jaw, eyes and expression shape keys; e.g. UPPER,HANDS,HEAD for a seated character)")
    parser.add_argument("--lipsync", action="store_true",
                        help="also key the character's mouth (jaw bone, viseme or ARKit shape keys) from the "
                             "phones of the speech")
    parser.add_argument("--lipsync-only", action="store_true",
                        help="key only the mouth of --face (or --armature); no gestures, no model")
    parser.add_argument("--face", help="object whose mouth lip sync keys: an armature or a mesh "
                        "(default: the armature)")
    parser.add_argument("--bone-map", type=Path,
                        help="JSON bone map for --armature when it is not an SMPL-X armature: which bone plays "
                             "which body part (docs/RETARGET.md; default: the map stored on the armature, "
                             "detected from its bone names and hierarchy if there is none)")
    parser.add_argument("--in-place", action="store_true",
                        help="on a retargeted character, keep only the root's up-down motion")
    parser.add_argument("--mouth-map", type=Path,
                        help="JSON mouth mapping for --face (see docs/LIPSYNC.md; default: the mapping "
                             "stored on the object, detected by name if there is none)")
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
        return _named_armature(name)
    needed = joints_needed + ([0] if translate else [])
    for obj in bpy.data.objects:
        if obj.type == "ARMATURE" and not armature.map_bones(obj, needed).missing:
            return obj
    return _sub("body_mesh").create_armature(bpy.context.scene.collection, "SMPL-X", with_mesh=True,
                                             model_dir=str(smplx_dir) if smplx_dir else None)


def _named_armature(name: str):
    """The armature object ``--armature`` names; says what it is and lists the armatures otherwise."""
    obj = bpy.data.objects.get(name)
    if obj is not None and obj.type == "ARMATURE":
        return obj
    armatures = sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE")
    own = obj.find_armature() if obj is not None else None  # the rig a mesh is skinned to
    if own is not None:
        armatures = [own.name] + [a for a in armatures if a != own.name]
    if armatures:
        listed = ", ".join(f"'{a}'" for a in armatures)
        hint = f"pass the armature object (e.g. --armature \"{armatures[0]}\"; armatures in this file: {listed})"
    else:
        hint = "this file has no armature: leave out --armature to create an SMPL-X one"
    if obj is None:
        raise _input_error(f"No object named '{name}' in this file; {hint}.")
    raise _input_error(f"Object '{name}' is a {obj.type}, not an armature; {hint}.")


class BatchResult(list):
    """The names of the actions written (a list), plus the files that failed and the saved path."""

    def __init__(self, total: int = 0):
        super().__init__()
        self.total = total
        self.failed: list[tuple[str, str]] = []  # (audio file name, why)
        self.saved: Path | None = None

    def summary(self) -> str:
        text = f"{len(self)} of {self.total} takes written"
        text += f", saved to {self.saved}" if self.saved else ", nothing saved"
        if self.failed:
            text += "; failed: " + "; ".join(f"{name} ({why})" for name, why in self.failed)
        return text


def _save_target(args: argparse.Namespace, required: bool) -> Path | None:
    """Where the result will be saved, checked before any work; None keeps it in memory only.

    ``--out`` when given. Otherwise the opened file (``--blend``, or the file Blender was
    started with) but only with ``--overwrite``. ``required`` (the command line, where the
    process ends after the run) refuses to run with nothing to save to; a Python caller
    may keep the result in its session instead.
    """
    if args.out is not None:
        if args.out.suffix.lower() != ".blend":
            raise _input_error(f"--out {args.out} is not a .blend file: give a file name ending in .blend.")
        return _writable(args.out, args.overwrite, "--out")
    opened = args.blend if args.blend is not None else (Path(bpy.data.filepath) if bpy.data.filepath else None)
    if opened is not None and args.overwrite:
        return _writable(opened, True, "--out")
    if not required:
        return None
    if opened is None:
        raise _input_error("Nothing to save the result to: give --out FILE.blend.")
    raise _input_error(f"No --out given and {opened.name} would not be changed: give --out FILE.blend "
                       "(or --overwrite to save into the opened file).")


def _writable(path: Path, overwrite: bool, option: str) -> Path:
    """``path`` made absolute once it is known it can be written (egg_core's rules, then a probe)."""
    target = Path(os.path.abspath(path))
    _sub("_core").core("atomic").check_target(target, overwrite)
    try:  # root ignores permission bits and /proc-like folders refuse anyway: try for real
        with tempfile.TemporaryFile(dir=target.parent, prefix=".eggesture-write-test-"):
            pass
    except OSError as exc:
        raise _input_error(f"Cannot save {target}: the folder {target.parent} is not writable "
                           f"({exc.strerror}); choose another {option}.") from None
    if target.exists() and not os.access(target, os.W_OK):
        raise _input_error(f"Cannot save {target}: the file is read-only; choose another {option}.")
    return target


def _open_blend(path: Path) -> None:
    if not path.is_file():
        raise _input_error(f".blend file not found: {path}. Check the --blend path.")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path))
    except RuntimeError as exc:  # Blender's own one-line reason ("File format is not supported ...")
        reason = str(exc).strip().splitlines()[0].removeprefix("Error: ") if str(exc).strip() else "unreadable"
        raise _input_error(f"Cannot open --blend {path}: not a readable .blend file ({reason}). "
                           "Check the path, or re-save the file from Blender.") from None


def _same_file(sound, path: Path) -> bool:
    try:
        return Path(bpy.path.abspath(sound.filepath, library=sound.library)).resolve() == path
    except (OSError, ValueError):
        return False


def _add_sound_strip(scene, audio: Path, frame: int, last_frame: int) -> str | None:
    """Put ``audio`` on the timeline at ``frame`` (a free channel) unless the same strip is there.

    Returns the new strip's name (None when an identical strip was already there).
    """
    compat = _sub("compat")
    path = audio.resolve()
    for strip in compat.sound_strips(scene):
        if strip.sound is not None and int(strip.frame_start) == frame and _same_file(strip.sound, path):
            return None
    channel = compat.free_channel(scene, frame, last_frame + 2)
    if channel is None:
        raise RuntimeError("every sequencer channel is in use over the take's frames")
    strip = compat.new_sound_strip(scene, audio.stem, str(path), channel, frame)
    moved = compat.free_channel(scene, strip.frame_final_start, strip.frame_final_end, ignore=strip)
    if moved is not None and moved != strip.channel:  # the sound is longer than the take
        strip.channel = moved
    return strip.name


def _save(path: Path) -> None:
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0].removeprefix("Error: ") if str(exc).strip() else "unknown"
        raise _input_error(f"Could not save {path}: {reason}.") from None
    print(f"saved {path}")


def run(argv: list[str], *, save_required: bool = False) -> BatchResult:
    """Do the batch job for ``argv``; returns the names of the actions written (a :class:`BatchResult`).

    Everything the user can get wrong is checked before any generation. In a folder run a
    file that fails is skipped (its error printed) and the others go on; what finished is
    saved either way. ``save_required`` (the command line) refuses to run when there is
    nothing to save the result to.
    """
    args = parse_args(argv)
    operators, backend = _sub("operators"), _sub("backend")
    save_to = _save_target(args, save_required)
    if args.checkpoint is not None and not args.checkpoint.exists():
        raise _input_error(f"Checkpoint not found: {args.checkpoint}.")
    parts = frozenset(p.strip().upper() for p in args.parts.split(",") if p.strip())
    unknown = parts - set(_sub("properties").PART_GROUPS)
    if unknown:
        raise _input_error(f"Unknown --parts {sorted(unknown)}; use UPPER,HANDS,LOWER,HEAD,ROOT.")
    files = audio_files(args.audio)
    if args.blend is not None:
        _open_blend(args.blend)

    context = bpy.context
    scene = context.scene
    start = scene.frame_start if args.start_frame is None else args.start_frame
    if args.lipsync_only:
        if not (args.face or args.armature):
            raise _input_error("--lipsync-only keys the mouth of an existing character: give --face "
                               "(or --armature) NAME.")
        target = _object(args.face) if args.face else _named_armature(args.armature)
    else:
        target = _target_armature(args.armature, operators._joint_indices(set(parts)), "ROOT" in parts,
                                  args.smplx_dir)
    args.target_mode = "SMPLX"
    if args.bone_map is not None and not args.armature:
        raise _input_error("--bone-map maps the bones of your character: name it with --armature NAME.")
    if not args.lipsync_only:
        args.target_mode = _target_mode(target, args.bone_map, operators._joint_indices(set(parts)),
                                        "ROOT" in parts)
    face = _object(args.face) if args.face else target
    if args.mouth_map is not None:
        if not (args.lipsync or args.lipsync_only):
            raise _input_error("--mouth-map is for lip sync: add --lipsync (or --lipsync-only).")
        _sub("lipsync").load_mapping(face, args.mouth_map)
    written = BatchResult(len(files))
    user_errors = (operators.EggError, backend.GenerationFailed)
    added_strips: list[str] = []
    try:
        for audio in files:
            try:
                action, note, seconds = _one_take(context, args, audio, start, target, parts, len(files),
                                                  face)
            except user_errors as exc:
                if len(files) == 1:
                    raise
                written.failed.append((audio.name, str(exc)))
                log.error("skipped %s: %s", audio.name, exc)
                continue
            end = int(action.frame_range[1])
            scene.frame_end = max(scene.frame_end, end)
            print(f"{audio.name}: wrote action '{action.name}' on '{target.name}' "
                  f"(frames {int(action.frame_range[0])}-{end}, {seconds:.1f} s, {note})")
            written.append(action.name)
            try:
                strip = _add_sound_strip(scene, audio, start, end)
            except RuntimeError as exc:  # e.g. the 4.2 wheel has no audio backend
                log.warning("%s: no sound strip added (%s)", audio.name, exc)
                strip = None
            if strip is not None:  # earlier takes sit on muted NLA tracks: their audio is muted too
                for other in _sub("compat").sound_strips(scene):
                    if other.name in added_strips:
                        other.mute = True
                added_strips.append(strip)
    except BaseException:
        if written and save_to is not None:  # keep what finished before the unexpected error
            try:
                _save(save_to)
                log.warning("saved the %d takes finished before the error", len(written))
            except Exception as exc:  # noqa: BLE001 - the original error matters more
                log.warning("could not save the finished takes: %s", exc)
        raise
    if written and save_to is not None:
        _save(save_to)
        written.saved = save_to
    if len(files) > 1 or written.failed:
        if written.failed:
            log.error("%s", written.summary())
        else:
            print(written.summary())
    return written


def _target_mode(target, bone_map_file: Path | None, joints: list[int], translate: bool) -> str:
    """"SMPLX" for an armature with the SMPL-X bones the take needs, else "CHARACTER" (retargeted);
    ``--bone-map`` is read, checked against the armature and kept on it."""
    retarget = _sub("retarget")
    if bone_map_file is not None:
        bone_map = _sub("_core").core("retarget").read_bone_map(bone_map_file)
        bone_map.check_bones(target.data.bones.keys(), f"armature '{target.name}'")
        retarget.store_bone_map(target, bone_map)
        return "CHARACTER"
    if not _sub("armature").map_bones(target, joints + ([0] if translate else [])).missing:
        return "SMPLX"
    retarget.bone_map_for(target, joints, translate, store=False)  # a clear error before any generation
    return "CHARACTER"


def _object(name: str):
    """The object ``--face`` names (an armature or a mesh)."""
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type not in ("ARMATURE", "MESH"):
        found = sorted(o.name for o in bpy.data.objects if o.type in ("ARMATURE", "MESH"))
        raise _input_error(f"No armature or mesh named '{name}' for --face; objects in this file: "
                           f"{', '.join(repr(n) for n in found) or 'none'}.")
    return obj


def _one_take(context, args, audio: Path, start: int, target, parts, n_files: int, face=None):
    """Generate and apply one audio file; returns (action, words note, seconds)."""
    operators, backend = _sub("operators"), _sub("backend")
    transcript = _transcript_for(audio, args.transcript, n_files == 1)
    settings = BatchSettings(
        audio_file=str(audio.resolve()), audio_start_frame=start, armature=target,
        transcript_file=str(transcript.resolve()) if transcript else "",
        transcript_source="FILE" if transcript else "NONE", seed=args.seed,
        temperature=args.temperature, device=args.device.upper(), parts=parts,
        lipsync=args.lipsync, lipsync_object=face,
        target_mode=getattr(args, "target_mode", "SMPLX"), in_place=args.in_place,
    )
    if args.lipsync_only:
        t0 = time.perf_counter()
        actions, report = operators.lipsync_sync(context, settings)
        return actions[0], report, time.perf_counter() - t0
    plan = operators.prepare_run(context, settings)
    for warning in plan.warnings:
        log.warning("%s: %s", audio.name, warning)
    try:
        if args.checkpoint is not None:
            plan.request.checkpoint = str(args.checkpoint.resolve())
        mode, python = operators.choose_backend(context)
        t0 = time.perf_counter()
        result = backend.run_sync(plan.request, mode, python)
        for warning in result.warnings:
            log.warning("%s: %s", audio.name, warning)
        action = operators.apply_result(context, plan, result)
    finally:
        plan.cleanup()
    return action, result.words_note, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    argv = script_args(sys.argv if argv is None else argv)
    cli = _sub("_core").core("cli")

    def work() -> int | None:
        result = run(argv, save_required=True)
        return cli.EXIT_USER_ERROR if result.failed else None

    return cli.run_cli(work, user_errors=(_sub("backend").GenerationFailed,))


if __name__ == "__main__":
    sys.exit(main())
