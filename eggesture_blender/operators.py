"""Operators: Generate Gestures (modal, non-blocking), Cancel, Create SMPL-X Armature, Check Setup, Lip Sync.

Flow of one run. ``prepare_run`` reads the panel settings into a :class:`RunPlan`
(audio file + where it sits on the timeline, transcript, target bones) and checks
everything the user can get wrong *before* any compute starts. A
:class:`backend.Job` then generates off the main thread; the modal operator polls it on
TIMER events and updates the progress bar. Only when the job has succeeded does
``apply_result`` touch the scene -- it writes one new action -- so cancel or failure
leaves the scene as it was, and the operator's UNDO flag makes the apply one undo
step. ``generate_sync`` is the same pipeline without the thread, for background mode
(where timers and modal handlers never run) and the batch script.

Lip sync rides along: with the panel's Lip Sync ticked, ``prepare_run`` also resolves the
character's mouth (:func:`.lipsync.mouth_plan`) and ``apply_result`` keys it after the body.
"Lip Sync Only" (``start_lipsync`` / ``lipsync_sync``) runs the "lipsync" task the same way,
with no gesture model.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty

from . import armature as arm
from . import backend, body_mesh, compat, keyframes, lipsync, retarget, retarget_ops
from ._core import core
from .preferences import get_preferences
from .properties import PART_GROUPS
from .worker import (
    LIPSYNC_PACKAGES,
    GenerationRequest,
    GenerationResult,
    MouthResult,
    TranscriptionResult,
    describe_environment,
)

EggError = core("errors").EggError


class InputError(EggError):
    """A panel setting is missing or wrong; the message says which and what to do."""


# --------------------------------------------------------------------------- planning


@dataclass
class RunPlan:
    """Everything needed to generate and apply one take, resolved on the main thread."""

    request: GenerationRequest
    armature_name: str
    joint_indices: list[int]
    translate: bool
    audio_frame: float  # scene frame where the audio's first sample plays
    frame_start: float  # keys outside [frame_start, frame_end] are dropped
    frame_end: float
    take_base: str
    scene_fps: float
    temp_dir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)  # shown to the user, the run goes ahead
    mouth: lipsync.MouthPlan | None = None  # what lip sync keys (None: no lip sync)
    retarget: bool = False  # any character: retargeted through its bone map (else SMPL-X bones)
    in_place: bool = False  # retargeted root motion: vertical only

    def cleanup(self) -> None:
        if self.temp_dir is not None:
            self.temp_dir.cleanup()
            self.temp_dir = None


def _sound_path(sound: bpy.types.Sound, temp_dir: tempfile.TemporaryDirectory) -> str:
    """A readable file for ``sound``: its file on disk, or its packed data written to a temp file."""
    if sound.packed_file is not None:
        suffix = Path(sound.filepath).suffix or ".wav"
        path = Path(temp_dir.name) / f"packed{suffix}"
        path.write_bytes(bytes(sound.packed_file.data))
        return str(path)
    return bpy.path.abspath(sound.filepath, library=sound.library)


def find_sound_strip(scene: bpy.types.Scene, name: str = ""):
    """The named sound strip, or the first audible (unmuted) one when ``name`` is empty."""
    strips = compat.sound_strips(scene)
    if not strips:
        raise InputError("This scene has no sound strip: add your audio in the Video Sequencer "
                         "(Add > Sound) or switch Audio to 'File'.")
    if not name:
        audible = compat.audible_sound_strips(scene)
        if not audible:
            raise InputError("Every sound strip in this scene is muted: unmute the one to follow, "
                             "or type its name in the Strip field.")
        return audible[0]
    for strip in strips:
        if strip.name == name:
            return strip
    raise InputError(f"No sound strip named '{name}': pick another strip or clear the field "
                     "to use the first audible one.")


def muted_strip_warning(strip) -> str:
    """What to tell the user when the sound strip they named is muted (the run goes ahead)."""
    return (f"Sound strip '{strip.name}' is muted: the take follows it but its audio will not play; "
            "unmute it, or clear the Strip field to follow the first audible strip.")


#: The jaw: when it is animated (the Face part), so are the body mesh's expression shape keys.
FACE_JOINT = 22


def _joint_indices(parts: set[str]) -> list[int]:
    skel = arm.smplx_skeleton()
    names = [p for key in parts for p in PART_GROUPS[key]]
    return sorted(skel.subset_indices(names)) if names else []


@dataclass
class AudioPlacement:
    """A readable audio file and where it sits on the scene's timeline."""

    path: str
    audio_frame: float  # scene frame of the first sample
    frame_start: float  # default key range: the strip's visible part
    frame_end: float
    name: str  # what takes are named after
    warnings: list[str] = field(default_factory=list)


def resolve_audio(scene: bpy.types.Scene, settings, temp_dir: tempfile.TemporaryDirectory) -> AudioPlacement:
    """The panel's audio source as a file on disk (packed sounds are written to ``temp_dir``)."""
    if settings.audio_source == "STRIP":
        strip = find_sound_strip(scene, settings.sound_strip)
        if strip.sound is None:
            raise InputError(f"Sound strip '{strip.name}' has no sound data.")
        placement = AudioPlacement(_sound_path(strip.sound, temp_dir), float(strip.frame_start),
                                   float(strip.frame_final_start), float(strip.frame_final_end - 1),
                                   strip.name)
        if compat.strip_is_muted(scene, strip):  # only reachable by naming it: the default skips them
            placement.warnings.append(muted_strip_warning(strip))
    else:
        if not settings.audio_file:
            raise InputError("No audio file chosen: set 'Audio File' in the Gestures panel.")
        path = bpy.path.abspath(settings.audio_file)
        frame = float(settings.audio_start_frame)
        placement = AudioPlacement(path, frame, frame, float("inf"), Path(path).stem)
    if not Path(placement.path).is_file():
        raise InputError(f"Audio file not found: {placement.path}. Relink the sound or choose another file.")
    return placement


def key_range(settings, placement: AudioPlacement) -> tuple[float, float]:
    """The frames to key: the panel's custom range, else the audio's placement."""
    if not settings.use_frame_range:
        return placement.frame_start, placement.frame_end
    start, end = float(settings.frame_start), float(settings.frame_end)
    if end < start:
        raise InputError(f"Frame range {int(start)}-{int(end)} is empty: End must be >= Start.")
    return start, end


def resolve_transcript(settings) -> tuple[str | None, str | None]:
    """(transcript file, transcript text) of the panel settings, checked; both None for 'None'."""
    if settings.transcript_source == "TEXT":
        if settings.transcript_text is None:
            raise InputError("Transcript is set to 'Text' but no Text datablock is chosen.")
        text = settings.transcript_text.as_string()
        if not text.strip():
            raise InputError(f"Text '{settings.transcript_text.name}' is empty.")
        return None, text
    if settings.transcript_source == "FILE":
        path = bpy.path.abspath(settings.transcript_file)
        if not settings.transcript_file or not Path(path).is_file():
            raise InputError(f"Transcript file not found: '{path}'.")
        return path, None
    return None, None


def lipsync_face(settings) -> bpy.types.Object | None:
    """The character lip sync keys: the Lip Sync panel's Face, else the Armature."""
    return getattr(settings, "lipsync_object", None) or settings.armature


def prepare_run(context: bpy.types.Context, settings=None) -> RunPlan:
    """Resolve the panel settings into a :class:`RunPlan`; raises :class:`InputError`."""
    scene = context.scene
    settings = settings or scene.eggesture
    prefs = get_preferences(context)
    fps = compat.scene_fps(scene)
    temp_dir = tempfile.TemporaryDirectory(prefix="eggesture_audio_")
    try:
        placement = resolve_audio(scene, settings, temp_dir)
        audio, audio_frame, base = placement.path, placement.audio_frame, placement.name
        start, end = key_range(settings, placement)
        transcript_path, transcript_text = resolve_transcript(settings)

        parts = set(settings.parts)
        translate = "ROOT" in parts
        joints = _joint_indices(parts)
        if not joints and not translate:
            raise InputError("Nothing to animate: tick at least one body part under 'Animate'.")
        target = settings.armature
        onto_character = getattr(settings, "target_mode", "SMPLX") == "CHARACTER"
        if onto_character:
            retarget.bone_map_for(target, joints, translate, store=False)  # kept on the rig when keyed
        else:
            arm.require_bones(target, joints + ([0] if translate else []))
        mouth = lipsync.mouth_plan(lipsync_face(settings)) if getattr(settings, "lipsync", False) else None

        checkpoint = bpy.path.abspath(prefs.checkpoint_path) if prefs and prefs.checkpoint_path else None
        request = GenerationRequest(
            audio_path=audio, fps=fps, transcript_path=transcript_path,
            transcript_text=transcript_text, seed=settings.seed,
            temperature=settings.temperature, device=settings.device.lower(), checkpoint=checkpoint,
            lipsync=mouth is not None,
        )
    except Exception:
        temp_dir.cleanup()
        raise
    notes = retarget.notes(target) if onto_character else []
    return RunPlan(request, target.name, joints, translate, audio_frame, start, end, base, fps, temp_dir,
                   warnings=list(placement.warnings) + notes, mouth=mouth, retarget=onto_character,
                   in_place=bool(getattr(settings, "in_place", False)))


def prepare_lipsync(context: bpy.types.Context, settings=None) -> RunPlan:
    """A :class:`RunPlan` that keys only the mouth (no gesture model); raises :class:`InputError`."""
    scene = context.scene
    settings = settings or scene.eggesture
    mouth = lipsync.mouth_plan(lipsync_face(settings))
    temp_dir = tempfile.TemporaryDirectory(prefix="eggesture_audio_")
    try:
        placement = resolve_audio(scene, settings, temp_dir)
        start, end = key_range(settings, placement)
        transcript_path, transcript_text = resolve_transcript(settings)
        fps = compat.scene_fps(scene)
        request = GenerationRequest(audio_path=placement.path, fps=fps, transcript_path=transcript_path,
                                    transcript_text=transcript_text, task="lipsync")
    except Exception:
        temp_dir.cleanup()
        raise
    return RunPlan(request, mouth.jaw.armature if mouth.jaw else "", [], False, placement.audio_frame,
                   start, end, placement.name, fps, temp_dir, warnings=list(placement.warnings), mouth=mouth)


# --------------------------------------------------------------------------- applying


def apply_result(context: bpy.types.Context, plan: RunPlan, result: GenerationResult) -> bpy.types.Action:
    """Write ``result`` as a new take on the plan's armature (the only scene change of a run)."""
    obj = bpy.data.objects.get(plan.armature_name)
    if obj is None:
        raise InputError(f"Armature '{plan.armature_name}' was deleted while generating.")
    n = len(result.poses)
    frames = plan.audio_frame + np.arange(n) * (plan.scene_fps / result.fps)
    keep = (frames >= plan.frame_start - 1e-6) & (frames <= plan.frame_end + 1e-6)
    if not keep.any():
        raise InputError(f"The audio ({n / result.fps:.1f} s from frame {plan.audio_frame:g}) does not "
                         f"overlap the frame range {plan.frame_start:g}-{plan.frame_end:g}.")
    if plan.mouth is not None:
        _check_mouth_objects(plan)  # before anything is written
    if plan.retarget:  # any character: through its bone map
        action = retarget.apply_take(obj, result.poses[keep], result.trans[keep], frames[keep],
                                     plan.joint_indices, translate=plan.translate, in_place=plan.in_place,
                                     base_name=plan.take_base, fps=result.fps)
    elif body_mesh.is_body_armature(obj):  # the real SMPL-X body: bones + shape keys
        face = result.expressions is not None and FACE_JOINT in plan.joint_indices
        action = body_mesh.apply_body_take(obj, result.poses[keep], result.trans[keep], frames[keep],
                                           plan.joint_indices, translate=plan.translate,
                                           expressions=result.expressions[keep] if face else None,
                                           base_name=plan.take_base)
    else:
        channels = arm.pose_channels(obj, result.poses[keep], result.trans[keep], plan.joint_indices,
                                     translate=plan.translate)
        action = keyframes.write_take(obj, plan.take_base, channels, frames[keep])
    if plan.mouth is not None and result.mouth is not None:
        apply_mouth(plan, result.mouth, body_action=action)
    return action


def _check_mouth_objects(plan: RunPlan) -> None:
    for name in {plan.mouth.face, *(s.mesh for s in plan.mouth.shapes),
                 *([plan.mouth.jaw.armature] if plan.mouth.jaw else [])}:
        if bpy.data.objects.get(name) is None:
            raise InputError(f"'{name}' was deleted while the lip sync was computed.")


def apply_mouth(plan: RunPlan, mouth: MouthResult,
                body_action: bpy.types.Action | None = None) -> list[bpy.types.Action]:
    """Key the mouth track on the planned character (new takes; see :mod:`.lipsync`)."""
    _check_mouth_objects(plan)
    frames, keep = lipsync.mouth_frames(plan.audio_frame, plan.scene_fps, mouth.fps, len(mouth.jaw),
                                        plan.frame_start, plan.frame_end)
    if not keep.any():
        raise InputError(f"The audio ({len(mouth.jaw) / mouth.fps:.1f} s from frame {plan.audio_frame:g}) "
                         f"does not overlap the frame range {plan.frame_start:g}-{plan.frame_end:g}.")
    return lipsync.key_mouth(plan.mouth, mouth.weights[keep], mouth.jaw[keep], frames[keep],
                             plan.take_base, body_action)


def choose_backend(context: bpy.types.Context) -> tuple[str, str | None]:
    """("thread", None) or ("process", python) following the preferences."""
    prefs = get_preferences(context)
    mode = prefs.backend if prefs else "AUTO"
    if mode == "THREAD" or (mode == "AUTO" and backend.in_process_available()):
        return "thread", None
    configured = bpy.path.abspath(prefs.python_path) if prefs and prefs.python_path else ""
    if configured:
        return "process", configured
    python = _detected_python()
    if python is None:
        raise InputError("torch is not available inside Blender and no external Python with torch "
                         "was found. Set Preferences > Add-ons > EGGesture > Python, then click "
                         "'Check Setup'.")
    return "process", python


_DETECTED: dict[str, str | None] = {}


def _detected_python() -> str | None:
    """Auto-detected worker interpreter; only a success is cached (the user may install torch)."""
    if _DETECTED.get("python") is None:
        _DETECTED["python"] = backend.find_worker_python()
    return _DETECTED["python"]


def generate_sync(context: bpy.types.Context, settings=None, progress=None) -> bpy.types.Action:
    """Generate and apply in one blocking call (background mode, batch script, scripts)."""
    return run_plan(context, prepare_run(context, settings), progress)


def run_plan(context: bpy.types.Context, plan: RunPlan, progress=None) -> bpy.types.Action:
    """Generate and apply a prepared plan in one blocking call; always cleans the plan up."""
    try:
        mode, python = choose_backend(context)
        result = backend.run_sync(plan.request, mode, python, progress)
        plan.warnings.extend(result.warnings)  # what generation found (silence, unused words)
        return apply_result(context, plan, result)
    finally:
        plan.cleanup()


# --------------------------------------------------------------------------- modal session


class Session:
    """A running background job, what to do with its result, and the UI status it keeps up to date."""

    def __init__(self, context: bpy.types.Context, job: backend.Job,
                 apply: Callable[[bpy.types.Context, object], str],
                 cleanup: Callable[[], None] = lambda: None, label: str = "Gestures",
                 warnings: list[str] | None = None):
        self.job, self.apply, self.cleanup, self.label = job, apply, cleanup, label
        self.warnings = list(warnings or [])  # reported when the job starts and again at the end
        self.cancel_requested = False
        status = context.window_manager.eggesture_status
        status.running, status.progress, status.message = True, 0.0, "Starting"

    def cancel(self) -> None:
        self.cancel_requested = True
        self.job.cancel()

    def tick(self, context: bpy.types.Context) -> tuple[str, str]:
        """Poll the job; apply when done. Returns (job state, message to report)."""
        state = self.job.poll()
        status = context.window_manager.eggesture_status
        status.progress, status.message = self.job.progress, self.job.message
        _set_status_text(context, f"{self.label}: {self.job.message} ({self.job.progress:.0%})  Esc to cancel")
        _redraw(context)
        if state == backend.RUNNING and self.cancel_requested:
            state = backend.CANCELLED  # do not wait for a thread stuck in a long step
        if state == backend.RUNNING:
            return state, ""
        try:
            if state == backend.DONE:
                try:
                    return state, _with_warnings(self.apply(context, self.job.result), self.warnings)
                except EggError as exc:
                    return backend.FAILED, str(exc)
            if state == backend.CANCELLED:
                return state, f"{self.label} cancelled; nothing was changed"
            return state, f"{self.label} failed: {self.job.error}"
        finally:
            self.finish(context)

    def finish(self, context: bpy.types.Context) -> None:
        self.cleanup()
        status = context.window_manager.eggesture_status
        status.running, status.progress = False, 0.0
        _set_status_text(context, None)
        _redraw(context)
        global _ACTIVE
        if _ACTIVE is self:
            _ACTIVE = None


_ACTIVE: Session | None = None


def active_session() -> Session | None:
    return _ACTIVE


def _set_status_text(context: bpy.types.Context, text: str | None) -> None:
    workspace = getattr(context, "workspace", None)
    if workspace is not None and context.window is not None:
        workspace.status_text_set(text)


def _redraw(context: bpy.types.Context) -> None:
    screen = getattr(context, "screen", None)
    for area in getattr(screen, "areas", ()):
        if area.type == "VIEW_3D":
            area.tag_redraw()


def _start(context: bpy.types.Context, request: GenerationRequest, apply, cleanup, label: str,
           warnings: list[str] | None = None, choose=None) -> Session:
    """Start ``request`` on the backend ``choose(context)`` picks (default :func:`choose_backend`)."""
    global _ACTIVE
    try:
        mode, python = (choose or choose_backend)(context)
        job = backend.Job(request, mode, python).start()
    except Exception:
        cleanup()
        raise
    _ACTIVE = Session(context, job, apply, cleanup, label, warnings)
    return _ACTIVE


def _with_warnings(message: str, warnings: list[str]) -> str:
    """The final report of a run, followed by what the user was warned about when it started."""
    return " | ".join([message, *(f"Warning: {w}" for w in warnings)])


def _check_idle() -> None:
    if _ACTIVE is not None:
        raise InputError("A gesture job is already running: wait or press Cancel.")


def _describe_take(action: bpy.types.Action, result: GenerationResult) -> str:
    note = f"Wrote action '{action.name}'" + (f" ({result.words_note})" if result.words_note else "")
    return _with_warnings(note, result.warnings)


def start_session(context: bpy.types.Context) -> Session:
    """Plan a generation run and start its job in the background (raises EggError subclasses)."""
    _check_idle()
    plan = prepare_run(context)
    return _start(context, plan.request,
                  lambda ctx, result: _describe_take(apply_result(ctx, plan, result), result),
                  plan.cleanup, "Gestures", plan.warnings)


def apply_transcription(context: bpy.types.Context, name: str, result: TranscriptionResult) -> str:
    """Put recognised text into a new Text datablock and select it as the transcript."""
    if not result.text.strip():
        raise InputError(f"No words were recognised ({result.method}): {result.message}")
    text = bpy.data.texts.new(f"{name} transcript")
    text.write(result.text + "\n")
    settings = context.scene.eggesture
    settings.transcript_source, settings.transcript_text = "TEXT", text
    return f"Transcribed into Text '{text.name}' ({result.method}); correct it, then Generate"


def start_transcription(context: bpy.types.Context) -> Session:
    """Transcribe the panel's audio in the background; the text lands in a new Text datablock."""
    _check_idle()
    temp_dir = tempfile.TemporaryDirectory(prefix="eggesture_audio_")
    try:
        placement = resolve_audio(context.scene, context.scene.eggesture, temp_dir)
    except Exception:
        temp_dir.cleanup()
        raise
    request = GenerationRequest(audio_path=placement.path, fps=compat.scene_fps(context.scene),
                                task="transcribe")
    return _start(context, request,
                  lambda ctx, result: apply_transcription(ctx, placement.name, result),
                  temp_dir.cleanup, "Transcription", placement.warnings)


def choose_lipsync_backend(context: bpy.types.Context) -> tuple[str, str | None]:
    """Where lip sync runs: in Blender when its packages (and pocketsphinx) are here, else where
    gestures run; in Blender without pocketsphinx only when there is no other Python."""
    here = all(importlib.util.find_spec(name) is not None for name in LIPSYNC_PACKAGES)
    if here and importlib.util.find_spec("pocketsphinx") is not None:
        return "thread", None
    try:
        return choose_backend(context)
    except InputError:
        if here:
            return "thread", None
        raise InputError(f"Lip sync needs {', '.join(LIPSYNC_PACKAGES)} in Blender's Python or an external "
                         "Python: set Preferences > Add-ons > EGGesture > Python, then click "
                         "'Check Setup'.") from None


def _describe_mouth(plan: RunPlan, actions: list[bpy.types.Action], mouth: MouthResult) -> str:
    names = ", ".join(f"'{a.name}'" for a in actions)
    note = f"Lip sync: keyed {plan.mouth.describe()} in {names} ({mouth.source})"
    return _with_warnings(note, [mouth.message] if mouth.fallback else [])


def start_lipsync(context: bpy.types.Context) -> Session:
    """Plan a lip-sync run (mouth only) and start its job in the background."""
    _check_idle()
    plan = prepare_lipsync(context)
    return _start(context, plan.request,
                  lambda ctx, mouth: _describe_mouth(plan, apply_mouth(plan, mouth), mouth),
                  plan.cleanup, "Lip sync", plan.warnings, choose_lipsync_backend)


def lipsync_sync(context: bpy.types.Context, settings=None,
                 progress=None) -> tuple[list[bpy.types.Action], str]:
    """Lip sync in one blocking call (background mode, batch script): (actions written, report)."""
    plan = prepare_lipsync(context, settings)
    try:
        mode, python = choose_lipsync_backend(context)
        mouth = backend.run_sync(plan.request, mode, python, progress)
        actions = apply_mouth(plan, mouth)
    finally:
        plan.cleanup()
    return actions, _with_warnings(_describe_mouth(plan, actions, mouth), plan.warnings)


class _BackgroundJobOperator:
    """Shared modal loop: poll the session on TIMER events, Esc cancels, report at the end."""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _ACTIVE is None and context.scene is not None

    def _start_session(self, context: bpy.types.Context) -> Session:
        raise NotImplementedError

    def invoke(self, context: bpy.types.Context, event) -> set[str]:
        if context.window is None:  # background mode: no event loop to drive a modal operator
            return self.execute(context)
        try:
            self._session = self._start_session(context)
        except EggError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for warning in self._session.warnings:
            self.report({"WARNING"}, warning)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event) -> set[str]:
        if event.type == "ESC" and event.value == "PRESS":
            self._session.cancel()
        elif event.type != "TIMER" and not self._session.cancel_requested:
            return {"PASS_THROUGH"}
        state, message = self._session.tick(context)
        if state == backend.RUNNING:
            return {"RUNNING_MODAL"}
        if getattr(self, "_timer", None) is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        context.window_manager.eggesture_status.last_report = message
        if state == backend.DONE:
            self.report({"INFO"}, message)
            return {"FINISHED"}
        self.report({"WARNING"} if state == backend.CANCELLED else {"ERROR"}, message)
        return {"CANCELLED"}


class EGGESTURE_OT_generate(_BackgroundJobOperator, bpy.types.Operator):
    """Generate co-speech gestures for the audio and write them as a new action"""

    bl_idname = "eggesture.generate"
    bl_label = "Generate Gestures"
    bl_options = {"REGISTER", "UNDO"}

    def _start_session(self, context: bpy.types.Context) -> Session:
        return start_session(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            plan = prepare_run(context)
            for warning in plan.warnings:
                self.report({"WARNING"}, warning)
            before = len(plan.warnings)
            action = run_plan(context, plan)
        except (EggError, backend.GenerationFailed) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for warning in plan.warnings[before:]:
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, f"Wrote action '{action.name}'")
        return {"FINISHED"}


class EGGESTURE_OT_transcribe(_BackgroundJobOperator, bpy.types.Operator):
    """Recognise the words of the audio into a new Text datablock to correct before generating"""

    bl_idname = "eggesture.transcribe"
    bl_label = "Transcribe"
    bl_options = {"REGISTER", "UNDO"}

    def _start_session(self, context: bpy.types.Context) -> Session:
        return start_transcription(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        session = None
        try:
            session = start_transcription(context)
            for warning in session.warnings:
                self.report({"WARNING"}, warning)
            session.job.wait()
            state, message = session.tick(context)
        except EggError as exc:
            if session is not None:
                session.finish(context)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"} if state == backend.DONE else {"ERROR"}, message)
        return {"FINISHED"} if state == backend.DONE else {"CANCELLED"}


class EGGESTURE_OT_cancel(bpy.types.Operator):
    """Stop the running gesture generation; the scene stays as it was"""

    bl_idname = "eggesture.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _ACTIVE is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        _ACTIVE.cancel()
        return {"FINISHED"}


class EGGESTURE_OT_create_armature(bpy.types.Operator):
    """Add an SMPL-X armature (55 joints + root) that generated gestures can drive directly"""

    bl_idname = "eggesture.create_armature"
    bl_label = "Create SMPL-X Armature"
    bl_options = {"REGISTER", "UNDO"}

    with_mesh: BoolProperty(name="Body Mesh", default=True,
                            description="Add a simple skinned body so the motion is visible")

    def execute(self, context: bpy.types.Context) -> set[str]:
        collection = context.collection or context.scene.collection
        prefs = get_preferences(context)
        options = prefs.body_model_options() if prefs is not None else {}
        try:  # the licensed SMPL-X body when a model folder is configured, else the stand-in
            obj = body_mesh.create_armature(collection, "SMPL-X", with_mesh=self.with_mesh, **options)
        except EggError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        context.scene.eggesture.armature = obj
        self.report({"INFO"}, f"Created armature '{obj.name}'")
        return {"FINISHED"}


def setup_report_lines(context: bpy.types.Context) -> list[str]:
    """What "Check Setup" shows: where the model would run and what is missing there."""
    prefs = get_preferences(context)
    lines: list[str] = []
    try:
        mode, python = choose_backend(context)
    except InputError as exc:
        return [f"Missing: {exc}"]
    if mode == "thread":
        info = describe_environment(core)
        lines.append(f"Runs inside Blender (Python {info['python_version']})")
    else:
        try:
            info = backend.check_interpreter(python)
        except Exception as exc:  # noqa: BLE001 - any failure is reported to the user
            return [f"Python '{python}' could not be checked: {exc}"]
        lines.append(f"Runs in external Python {info['python_version']}: {info['python']}")
    if "torch_version" in info:
        lines.append(f"torch {info['torch_version']}, device {info['device']}"
                     + (f" ({info['cuda_name']})" if info.get("cuda_name") else ", no CUDA GPU"))
    if info.get("checkpoint"):
        found = "found" if info.get("checkpoint_exists") else "MISSING"
        ckpt = prefs.checkpoint_path if prefs and prefs.checkpoint_path else info["checkpoint"]
        lines.append(f"Model: {ckpt} ({found if not (prefs and prefs.checkpoint_path) else 'custom'})")
    options = prefs.body_model_options() if prefs is not None else {}
    lines.append(body_mesh.describe_body_model(options.get("model_dir"), options.get("gender", "neutral")))
    for item in info.get("missing", []):
        lines.append(f"Missing: {item}")
    if info.get("missing"):
        lines.append(f"Fix: {info['python']} -m pip install torch==2.13.0 scipy soundfile safetensors")
    return lines


class EGGESTURE_OT_check_setup(bpy.types.Operator):
    """Report the Python, torch version, device and GPU the model will use, or what is missing"""

    bl_idname = "eggesture.check_setup"
    bl_label = "Check Setup"

    def execute(self, context: bpy.types.Context) -> set[str]:
        lines = setup_report_lines(context)
        prefs = get_preferences(context)
        if prefs is not None:
            prefs.setup_report = "\n".join(lines)
        bad = any(line.startswith(("Missing", "Python '")) for line in lines)
        self.report({"WARNING"} if bad else {"INFO"}, " | ".join(lines))
        return {"FINISHED"}


# --------------------------------------------------------------------------- lip sync


class EGGESTURE_OT_lipsync(_BackgroundJobOperator, bpy.types.Operator):
    """Key the character's mouth from the phones of the speech, without generating gestures"""

    bl_idname = "eggesture.lipsync"
    bl_label = "Lip Sync Only"
    bl_options = {"REGISTER", "UNDO"}

    def _start_session(self, context: bpy.types.Context) -> Session:
        return start_lipsync(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            _actions, report = lipsync_sync(context)
        except (EggError, backend.GenerationFailed) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"WARNING"} if "Warning:" in report else {"INFO"}, report)
        return {"FINISHED"}


_SHAPE_SET_CHOICES = [("AUTO", "Auto", "The set the shape-key names cover best")] + [
    (key, target.label, f"Map the {target.label}") for key, target in core("lipsync.targets").TARGET_SETS.items()
]


def _face_or_error(context: bpy.types.Context) -> bpy.types.Object:
    face = lipsync_face(context.scene.eggesture)
    if face is None:
        raise InputError("No character for lip sync: pick the Armature in the Gestures panel, or a Face "
                         "object in the Lip Sync panel.")
    return face


class EGGESTURE_OT_detect_mouth(bpy.types.Operator):
    """Find the character's jaw bone and mouth shape keys by name; the mapping can then be edited"""

    bl_idname = "eggesture.detect_mouth"
    bl_label = "Detect Mouth"
    bl_options = {"REGISTER", "UNDO"}

    shape_set: EnumProperty(name="Shape Set", items=_SHAPE_SET_CHOICES, default="AUTO")

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            face = _face_or_error(context)
            summary = lipsync.detect_mouth(face, None if self.shape_set == "AUTO" else self.shape_set)
        except (EggError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        mouth = face.eggesture_mouth
        if not mouth.jaw_bone and not len(mouth.shapes):
            self.report({"WARNING"}, lipsync.missing_mouth_message(face))
        else:
            self.report({"INFO"}, summary)
        return {"FINISHED"}


_CHANNEL_ITEMS: dict[str, list[tuple[str, str, str]]] = {}  # kept alive: Blender holds the strings
_NO_CHANNEL = "NO_CHANNEL"


def _channel_items(_self, context: bpy.types.Context) -> list[tuple[str, str, str]]:
    face = lipsync_face(context.scene.eggesture) if context is not None else None
    key = face.eggesture_mouth.shape_set if face is not None else "none"
    target = core("lipsync.targets").TARGET_SETS.get(key)
    if key not in _CHANNEL_ITEMS:
        _CHANNEL_ITEMS[key] = [(c, c, f"{target.label}: {c}") for c in target.channels] if target else \
            [(_NO_CHANNEL, "(choose a shape set first)", "The mapping has no shape set yet")]
    return _CHANNEL_ITEMS[key]


class EGGESTURE_OT_mouth_shape_add(bpy.types.Operator):
    """Map one more channel of the shape set to a shape key"""

    bl_idname = "eggesture.mouth_shape_add"
    bl_label = "Add Mouth Shape"
    bl_options = {"REGISTER", "UNDO"}
    bl_property = "channel"

    channel: EnumProperty(name="Channel", items=_channel_items)

    def invoke(self, context: bpy.types.Context, event) -> set[str]:
        context.window_manager.invoke_search_popup(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            face = _face_or_error(context)
        except InputError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        mouth = face.eggesture_mouth
        if self.channel == _NO_CHANNEL:
            self.report({"ERROR"}, "Choose the Shape Set of the mapping first (or click Detect Mouth).")
            return {"CANCELLED"}
        item = mouth.shapes.add()
        meshes = lipsync.character_meshes(face)
        item.channel, item.mesh, item.gain = self.channel, meshes[0] if meshes else None, 1.0
        mouth.active_shape, mouth.detected = len(mouth.shapes) - 1, True
        return {"FINISHED"}


class EGGESTURE_OT_mouth_shape_remove(bpy.types.Operator):
    """Remove the selected row of the mouth mapping"""

    bl_idname = "eggesture.mouth_shape_remove"
    bl_label = "Remove Mouth Shape"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        face = lipsync_face(context.scene.eggesture) if context.scene is not None else None
        return face is not None and len(face.eggesture_mouth.shapes) > 0

    def execute(self, context: bpy.types.Context) -> set[str]:
        mouth = lipsync_face(context.scene.eggesture).eggesture_mouth
        index = min(max(mouth.active_shape, 0), len(mouth.shapes) - 1)
        mouth.shapes.remove(index)
        mouth.active_shape = min(index, len(mouth.shapes) - 1)
        return {"FINISHED"}


CLASSES = (EGGESTURE_OT_generate, EGGESTURE_OT_transcribe, EGGESTURE_OT_cancel,
           EGGESTURE_OT_create_armature, EGGESTURE_OT_check_setup, EGGESTURE_OT_lipsync,
           EGGESTURE_OT_detect_mouth, EGGESTURE_OT_mouth_shape_add, EGGESTURE_OT_mouth_shape_remove,
           *retarget_ops.CLASSES)


register, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def unregister() -> None:
    global _ACTIVE
    if _ACTIVE is not None:
        _ACTIVE.job.cancel()
        _ACTIVE = None
    _unregister_classes()
