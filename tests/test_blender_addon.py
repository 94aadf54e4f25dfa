"""The add-on's operators and panel on the real bpy wheel, with a tiny (untrained) checkpoint.

The add-on is enabled in-process through addon_utils (module ``eggesture_blender``), so
preferences resolve via ``__package__`` exactly as in Blender. Generation uses a freshly
initialised ``EGGestureConfig.tiny()`` model: the tests check plumbing (timing, frames,
actions, undo/cancel behaviour), not gesture quality.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.blender

import addon_fixtures  # noqa: E402
import addon_utils  # noqa: E402  (ships with bpy)

from eggesture_blender import backend, compat, operators, panel  # noqa: E402
from eggesture_blender.worker import GenerationRequest  # noqa: E402

# the shared add-on fixtures (tests/addon_fixtures.py)
tiny_checkpoint = addon_fixtures.tiny_checkpoint
addon = addon_fixtures.addon

WAV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "speech" / "talkshow_1st-page.wav"
TRANSCRIPT = "Welcome back to the show. Tonight we talk about the first page of the paper."


@pytest.fixture
def wav() -> Path:
    if not WAV.exists():
        pytest.skip(f"reference audio not found at {WAV} (clone with ../shared beside the repo)")
    return WAV


@pytest.fixture
def scene(addon, wav):
    """A fresh scene at 25 fps: sound strip at frame 10, a transcript Text, an SMPL-X armature."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    compat.new_sound_strip(scene, "speech", str(wav), 1, 10)
    text = bpy.data.texts.new("transcript")
    text.write(TRANSCRIPT)
    assert bpy.ops.eggesture.create_armature(with_mesh=True) == {"FINISHED"}
    settings = scene.eggesture
    settings.transcript_source, settings.transcript_text = "TEXT", text
    settings.parts = {"UPPER", "HANDS", "ROOT"}
    return scene


def _snapshot(scene) -> dict:
    obj = scene.eggesture.armature
    adt = obj.animation_data
    return {
        "actions": sorted(a.name for a in bpy.data.actions),
        "active": adt.action.name if adt and adt.action else None,
        "tracks": [t.name for t in adt.nla_tracks] if adt else [],
        "objects": sorted(o.name for o in bpy.data.objects),
        "pose": [tuple(pb.rotation_quaternion) for pb in obj.pose.bones],
    }


def _keys(action) -> dict[str, np.ndarray]:
    out = {}
    for fc in compat.iter_fcurves(action):
        co = np.zeros(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[f"{fc.data_path}[{fc.array_index}]"] = co.reshape(-1, 2)
    return out


# --------------------------------------------------------------------------- synchronous core


def test_generate_writes_a_take_spanning_the_strip_at_scene_fps(scene):
    strip = compat.sound_strips(scene)[0]
    assert bpy.ops.eggesture.generate() == {"FINISHED"}
    obj = scene.eggesture.armature
    action = obj.animation_data.action
    assert action.name == "speech take 1"

    keys = _keys(action)
    rot = keys['pose.bones["left_elbow"].rotation_quaternion[0]']
    expected = np.arange(strip.frame_final_start, strip.frame_final_end)  # 12.8 s at 25 fps
    assert len(expected) == round(12.816 * 25)
    np.testing.assert_allclose(rot[:, 0], expected, atol=1e-4)
    assert 'pose.bones["pelvis"].location[1]' in keys
    animated = {p.split('"')[1] for p in keys}
    assert len(animated) == 43 + 1  # upper + hands, plus pelvis for root motion
    assert "left_knee" not in animated
    # the evaluated pose follows the curves at scene frames
    scene.frame_set(int(expected[len(expected) // 2]))
    q = np.array(obj.pose.bones["left_elbow"].rotation_quaternion)
    curve = [keys[f'pose.bones["left_elbow"].rotation_quaternion[{i}]'] for i in range(4)]
    np.testing.assert_allclose(q, [c[len(expected) // 2, 1] for c in curve], atol=1e-5)


def test_second_run_keeps_the_first_action(scene):
    scene.eggesture.transcript_source = "NONE"  # audio only: alignment is covered above
    bpy.ops.eggesture.generate()
    first = scene.eggesture.armature.animation_data.action
    scene.eggesture.seed = 7
    bpy.ops.eggesture.generate()
    adt = scene.eggesture.armature.animation_data
    assert adt.action.name == "speech take 2" and first.name == "speech take 1"
    assert first.use_fake_user and adt.nla_tracks[0].strips[0].action == first
    assert _keys(first) != {} and bpy.data.actions.get("speech take 1") is not None


def _window_override():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "WINDOW")
    return bpy.context.temp_override(window=window, area=area, region=region)


def test_failure_changes_nothing(scene):
    before = _snapshot(scene)
    scene.eggesture.audio_source = "FILE"
    scene.eggesture.audio_file = "/nonexistent/talk.wav"
    with pytest.raises(RuntimeError, match="Audio file not found: /nonexistent/talk.wav"):
        bpy.ops.eggesture.generate()  # bpy.ops raises the operator's ERROR report
    assert _snapshot(scene) == before


def test_generate_is_one_undo_step(scene):
    # Blender pushes one undo step when an operator with the UNDO flag finishes (modal or not).
    # In the bpy wheel, asking bpy.ops to push it (undo=True) segfaults, so the test pushes
    # that step itself right after the operator, exactly where Blender would.
    assert "UNDO" in operators.EGGESTURE_OT_generate.bl_options
    scene.eggesture.transcript_source = "NONE"
    with _window_override():
        bpy.ops.ed.undo_push(message="before gestures")
        before = _snapshot(bpy.context.scene)
        assert bpy.ops.eggesture.generate() == {"FINISHED"}
        bpy.ops.ed.undo_push(message=operators.EGGESTURE_OT_generate.bl_label)
        after = _snapshot(bpy.context.scene)
        assert after["active"] == "speech take 1"
        bpy.ops.ed.undo()  # one step back removes the whole take...
        assert _snapshot(bpy.context.scene) == before
        bpy.ops.ed.redo()  # ...and one step forward restores it
        assert _snapshot(bpy.context.scene)["active"] == "speech take 1"


def test_missing_bones_are_listed(scene):
    arm = bpy.data.armatures.new("partial")
    obj = bpy.data.objects.new("partial", arm)
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for name in ("pelvis", "spine1", "left_eye"):
        bone = arm.edit_bones.new(name)
        bone.tail = (0, 0, 0.1)
    bpy.ops.object.mode_set(mode="OBJECT")
    scene.eggesture.armature = obj
    with pytest.raises(operators.EggError) as info:
        operators.prepare_run(bpy.context)
    message = str(info.value)
    assert "partial" in message and "left_elbow" in message and "spine2" in message
    assert "spine1," not in message  # present bones are not listed


# --------------------------------------------------------------------------- modal path


def _drive_modal(session, timeout=60.0, cancel_after=None):
    """Call the operator's modal handler with fake TIMER events, as Blender's event loop would."""
    reports = []
    op = SimpleNamespace(_session=session, _timer=None, report=lambda kind, msg: reports.append((kind, msg)))
    seen_progress = []
    deadline = time.monotonic() + timeout
    ticks = 0
    while time.monotonic() < deadline:
        ticks += 1
        event = SimpleNamespace(type="TIMER", value="NOTHING")
        if cancel_after is not None and ticks > cancel_after:
            event = SimpleNamespace(type="ESC", value="PRESS")
        result = operators.EGGESTURE_OT_generate.modal(op, bpy.context, event)
        seen_progress.append(bpy.context.window_manager.eggesture_status.progress)
        if result != {"RUNNING_MODAL"}:
            return result, reports, seen_progress
        time.sleep(0.02)
    raise AssertionError("the modal operator did not finish in time")


def test_modal_run_applies_on_the_main_thread(scene):
    status = bpy.context.window_manager.eggesture_status
    session = operators.start_session(bpy.context)
    assert status.running and operators.active_session() is session
    assert not bpy.ops.eggesture.generate.poll()  # one run at a time
    assert scene.eggesture.armature.animation_data is None  # nothing applied yet
    result, reports, progress = _drive_modal(session)
    assert result == {"FINISHED"}, reports
    assert reports[-1][0] == {"INFO"} and "speech take 1" in reports[-1][1]
    assert max(progress) > 0 and not status.running and operators.active_session() is None
    assert scene.eggesture.armature.animation_data.action.name == "speech take 1"


def test_cancel_leaves_the_scene_unchanged(scene):
    before = _snapshot(scene)
    session = operators.start_session(bpy.context)
    result, reports, _ = _drive_modal(session, cancel_after=0)
    assert result == {"CANCELLED"} and "cancelled" in reports[-1][1]
    session.job._thread.join(30)  # let the worker thread notice before the next test
    assert _snapshot(scene) == before
    assert operators.active_session() is None


# --------------------------------------------------------------------------- backends + UI


def test_external_worker_process_streams_progress_and_returns_motion(addon, wav, tiny_checkpoint,
                                                                     monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the worker inherits it; keeps the shared CPU calm
    info = backend.check_interpreter(__import__("sys").executable)
    assert info["missing"] == [] and info["torch_version"] == torch.__version__
    request = GenerationRequest(audio_path=str(wav), fps=30.0, checkpoint=str(tiny_checkpoint),
                                transcript_text=TRANSCRIPT)
    job = backend.Job(request, "process", info["python"]).start()
    seen = []
    deadline = time.monotonic() + 90
    while job.poll() == backend.RUNNING and time.monotonic() < deadline:
        seen.append(job.progress)
        time.sleep(0.05)
    assert job.state == backend.DONE, job.error
    assert job.result.poses.shape == (round(12.816 * 30), 55, 3) and job.result.fps == 30.0
    assert "words" in job.result.words_note


def test_worker_reports_user_errors_cleanly(addon, tiny_checkpoint, tmp_path):
    bad = tmp_path / "empty.wav"
    bad.write_bytes(b"")
    request = GenerationRequest(audio_path=str(bad), fps=30.0, checkpoint=str(tiny_checkpoint))
    job = backend.Job(request, "thread").start()
    assert job.wait(30) == backend.FAILED
    assert "Traceback" not in job.error and "empty.wav" in job.error


def test_check_setup_reports_python_torch_and_device(addon):
    assert bpy.ops.eggesture.check_setup() == {"FINISHED"}
    report = addon.setup_report
    assert "Runs inside Blender" in report and f"torch {torch.__version__}" in report
    assert "device cpu" in report or "device cuda" in report


class RecordingLayout:
    """Stands in for UILayout (which only exists inside a real draw): checks every reference."""

    def __init__(self, log):
        self.log = log
        self.active = self.enabled = True
        self.use_property_split = self.use_property_decorate = False
        self.scale_y = 1.0

    def _child(self, *args, **kwargs):
        return RecordingLayout(self.log)

    column = row = box = grid_flow = _child

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, name
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kwargs):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties
        self.log.append(("prop_search", name))

    def operator(self, idname, **kwargs):
        category, name = idname.split(".")
        assert getattr(getattr(bpy.ops, category), name).idname() == f"{category.upper()}_OT_{name}"
        self.log.append(("operator", idname))

    def progress(self, factor=0.0, type="BAR", text=""):
        assert 0.0 <= factor <= 1.0 and type in ("BAR", "RING")
        self.log.append(("progress", round(factor, 3), text))

    def label(self, text="", icon="NONE"):
        self.log.append(("label", text))

    def separator(self, **kwargs):
        pass


def test_panel_draws_inputs_then_progress_while_running(scene):
    assert panel.EGGESTURE_PT_main.bl_category == "Gestures"
    assert panel.EGGESTURE_PT_main.bl_space_type == "VIEW_3D"
    log = []
    panel.EGGESTURE_PT_main.draw(SimpleNamespace(layout=RecordingLayout(log)), bpy.context)
    names = [entry[1] for entry in log]
    strip = compat.sound_strips(scene)[0]
    assert ("label", f"Frames {strip.frame_final_start}-{strip.frame_final_end - 1} (25 fps)") in log
    for expected in ("audio_source", "sound_strip", "transcript_text", "armature", "seed",
                     "temperature", "parts", "device", "eggesture.create_armature", "eggesture.generate"):
        assert expected in names
    status = bpy.context.window_manager.eggesture_status
    status.running, status.progress, status.message = True, 0.25, "window 1/4"
    try:
        log.clear()
        panel.EGGESTURE_PT_main.draw(SimpleNamespace(layout=RecordingLayout(log)), bpy.context)
    finally:
        status.running = False
    assert ("progress", 0.25, "window 1/4") in log and ("operator", "eggesture.cancel") in log
    assert ("operator", "eggesture.generate") not in log


def test_register_unregister_twice(addon, tiny_checkpoint):
    for _ in range(2):
        addon_utils.disable("eggesture_blender", default_set=True)
        assert not hasattr(bpy.types.Scene, "eggesture")
        assert not hasattr(bpy.types, "EGGESTURE_OT_generate")
        addon_utils.enable("eggesture_blender", default_set=True)
        assert hasattr(bpy.types.Scene, "eggesture") and bpy.ops.eggesture.generate.poll()
    prefs = bpy.context.preferences.addons["eggesture_blender"].preferences
    assert prefs.backend == "AUTO"  # fresh preferences after re-enabling
    prefs.checkpoint_path = str(tiny_checkpoint)


def test_thread_job_can_be_cancelled_between_steps(addon, wav, tiny_checkpoint):
    request = GenerationRequest(audio_path=str(wav), fps=30.0, checkpoint=str(tiny_checkpoint))
    job = backend.Job(request, "thread")
    job._cancel.set()  # cancelled before the first step: must not produce a result
    job.start()
    assert job.wait(30) == backend.CANCELLED and job.result is None


def test_transcribe_fills_a_new_text_and_selects_it(scene):
    pytest.importorskip("faster_whisper")
    scene.eggesture.transcript_source = "NONE"
    before = set(bpy.data.texts.keys())
    assert bpy.ops.eggesture.transcribe() == {"FINISHED"}
    new = set(bpy.data.texts.keys()) - before
    assert new == {"speech transcript"}
    text = bpy.data.texts["speech transcript"]
    assert len(text.as_string().split()) >= 10  # about 13 s of real speech
    assert scene.eggesture.transcript_source == "TEXT" and scene.eggesture.transcript_text == text
    assert operators.active_session() is None


def test_cancelling_the_external_worker_stops_it(addon, wav, tiny_checkpoint):
    import sys

    request = GenerationRequest(audio_path=str(wav), fps=30.0, checkpoint=str(tiny_checkpoint))
    job = backend.Job(request, "process", sys.executable).start()
    job.cancel()
    assert job.wait(30) == backend.CANCELLED and job.result is None
    assert job._proc.poll() is not None  # the subprocess is gone
