"""User-facing reliability of the add-on and its headless batch script, on the real bpy wheel.

Muted sound strips (the take must follow what the user hears) and the batch script's
handling of its inputs and outputs: corrupt ``--blend``, where the result is saved, bad
files in a folder run, the audio in the saved file, a non-armature ``--armature``.
Every user mistake must end as one clear message (exit status 2 for the batch script),
never a traceback, and never after minutes of work that is then thrown away.

Generation uses a freshly initialised tiny checkpoint on a few seconds of synthetic
audio: these tests check plumbing, not gestures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
torch = pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")
pytestmark = pytest.mark.blender

import addon_fixtures  # noqa: E402

from eggesture_blender import backend, batch, compat, operators, panel  # noqa: E402

# the shared add-on fixtures (tests/addon_fixtures.py)
tiny_checkpoint = addon_fixtures.tiny_checkpoint
addon = addon_fixtures.addon

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- fixtures


def _tone(path: Path, seconds: float, hz: float) -> Path:
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    signal = 0.1 * np.sin(2 * np.pi * hz * t) * (1.0 + np.sin(2 * np.pi * 3.0 * t))
    sf.write(path, signal.astype(np.float32), sr)
    return path


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> SimpleNamespace:
    """Two short speech-like tones of different lengths and one file that is not audio."""
    folder = tmp_path_factory.mktemp("audio")
    bad = folder / "b_broken.wav"
    bad.write_bytes(b"this is not audio at all " * 20)
    return SimpleNamespace(a=_tone(folder / "a_first.wav", 2.5, 220.0),
                           c=_tone(folder / "c_second.wav", 3.0, 330.0), bad=bad)


@pytest.fixture
def empty_scene():
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.data.filepath == ""
    yield bpy.context.scene
    bpy.ops.wm.read_homefile(use_empty=True)  # no open file path leaks into the next test


# --------------------------------------------------------------------------- 1. muted strips


@pytest.fixture
def two_strips(addon, audio, empty_scene):
    """'quiet' (muted, channel 1) and 'loud' (audible, channel 2), both from frame 1."""
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    quiet = compat.new_sound_strip(scene, "quiet", str(audio.a), 1, 1)
    compat.new_sound_strip(scene, "loud", str(audio.c), 2, 1)
    quiet.mute = True
    assert bpy.ops.eggesture.create_armature(with_mesh=False) == {"FINISHED"}
    assert scene.eggesture.audio_source == "STRIP" and scene.eggesture.sound_strip == ""
    return scene


def test_muted_strip_is_skipped_when_the_strip_field_is_empty(two_strips, audio):
    plan = operators.prepare_run(bpy.context)
    try:
        assert Path(plan.request.audio_path) == audio.c, "the take follows the muted strip"
        assert plan.take_base == "loud" and plan.warnings == []
    finally:
        plan.cleanup()
    loud = next(s for s in compat.sound_strips(two_strips) if s.name == "loud")
    text = panel._default_range_text(two_strips, two_strips.eggesture)
    assert text == f"Frames {loud.frame_final_start}-{loud.frame_final_end - 1} (25 fps)"


def test_strip_on_a_muted_channel_is_skipped_too(two_strips, audio):
    quiet = next(s for s in compat.sound_strips(two_strips) if s.name == "quiet")
    quiet.mute = False
    two_strips.sequence_editor.channels[1].mute = True  # the whole channel is muted instead
    assert compat.strip_is_muted(two_strips, quiet)
    plan = operators.prepare_run(bpy.context)
    plan.cleanup()
    assert Path(plan.request.audio_path) == audio.c


def test_only_muted_strips_is_a_clear_error(two_strips):
    for strip in compat.sound_strips(two_strips):
        strip.mute = True
    with pytest.raises(operators.InputError, match="muted") as info:
        operators.prepare_run(bpy.context)
    assert "\n" not in str(info.value) and "Strip" in str(info.value)


def test_muted_strip_chosen_by_name_is_used_with_a_warning(two_strips, audio):
    two_strips.eggesture.sound_strip = "quiet"
    plan = operators.prepare_run(bpy.context)
    plan.cleanup()
    assert Path(plan.request.audio_path) == audio.a and plan.take_base == "quiet"
    assert len(plan.warnings) == 1 and "'quiet' is muted" in plan.warnings[0]

    # the synchronous operator (background mode) reports it as a WARNING and still writes the take
    reports = []
    fake = SimpleNamespace(report=lambda kind, message: reports.append((kind, message)))
    assert operators.EGGESTURE_OT_generate.execute(fake, bpy.context) == {"FINISHED"}
    assert ({"WARNING"}, plan.warnings[0]) in reports, reports
    assert reports[-1][0] == {"INFO"} and "quiet take 1" in reports[-1][1]

    # the modal path carries the warning from the start and repeats it in the final report
    session = operators.start_session(bpy.context)
    assert session.warnings == plan.warnings
    assert session.job.wait(120) == backend.DONE
    state, message = session.tick(bpy.context)
    assert state == backend.DONE and "quiet take 2" in message and "muted" in message
    label = [line for line in _panel_labels() if "muted" in line]
    assert label, "the panel says the chosen strip is muted"


def test_muted_strips_are_recognised_through_the_42_sequences_api():
    """4.2 has ``sequences``/``sequences_all`` instead of ``strips``: the shim reads either."""

    def strip(name, channel, mute=False):
        return SimpleNamespace(type="SOUND", name=name, channel=channel, frame_start=1, mute=mute)

    quiet, loud, silent_channel = strip("quiet", 1, mute=True), strip("loud", 2), strip("chan", 3)
    channels = [SimpleNamespace(mute=False) for _ in range(129)]
    channels[3].mute = True
    editor = SimpleNamespace(sequences=[quiet, loud, silent_channel],
                             sequences_all=[quiet, loud, silent_channel], channels=channels)
    scene = SimpleNamespace(sequence_editor=editor)
    assert [s.name for s in compat.audible_sound_strips(scene)] == ["loud"]
    assert compat.strip_is_muted(scene, quiet) and compat.strip_is_muted(scene, silent_channel)


def _panel_labels() -> list[str]:
    labels: list[str] = []

    class Layout:
        active = enabled = use_property_split = use_property_decorate = True
        scale_y = 1.0

        def _child(self, *args, **kwargs):
            return Layout()

        column = row = box = grid_flow = _child

        def label(self, text="", icon="NONE"):
            labels.append(text)

        def prop(self, *args, **kwargs):
            pass

        prop_search = operator = progress = separator = prop

    panel.EGGESTURE_PT_main.draw(SimpleNamespace(layout=Layout()), bpy.context)
    return labels


# --------------------------------------------------------------------------- 2. batch script


def _main(capsys, *args) -> tuple[int, str, str]:
    """``batch.main`` in this process (as Blender runs it), returning status, stdout, stderr."""
    capsys.readouterr()
    status = batch.main(["batch.py", "--", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def _saved_scene(tmp_path: Path, name: str = "scene.blend", sound: Path | None = None,
                 frame: int = 7) -> Path:
    """A saved .blend with an armature 'Rig' (no SMPL-X bones needed to name it) and a mesh."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    rig = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    body = bpy.data.objects.new("Body", bpy.data.meshes.new("Body"))
    scene.collection.objects.link(rig)
    scene.collection.objects.link(body)
    if sound is not None:
        compat.new_sound_strip(scene, "mine", str(sound), 1, frame)
    path = tmp_path / name
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_homefile(use_empty=True)
    return path


def _reopen(path: Path) -> bpy.types.Scene:
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return bpy.context.scene


def test_batch_corrupt_blend_is_one_error_line_exit_2(tmp_path, audio):
    fake = tmp_path / "notes.blend"
    fake.write_text("these are my notes, not a Blender file\n", encoding="utf-8")
    out = tmp_path / "out.blend"
    proc = subprocess.run([sys.executable, "eggesture_blender/batch.py", "--", "--blend", str(fake),
                           "--audio", str(audio.a), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "notes.blend" in errors[0] and "--blend" in errors[0], proc.stderr
    assert not out.exists()


def test_batch_with_nothing_to_save_to_refuses_before_any_work(capsys, empty_scene, audio,
                                                              tiny_checkpoint):
    status, out, err = _main(capsys, "--audio", audio.a, "--checkpoint", tiny_checkpoint)
    assert status == 2, (out, err)
    assert "give --out FILE.blend" in err and "Traceback" not in err
    assert "wrote action" not in out and len(bpy.data.actions) == 0


def test_batch_without_out_needs_overwrite_to_save_into_the_blend(capsys, tmp_path, empty_scene,
                                                                  audio, tiny_checkpoint):
    scene_file = _saved_scene(tmp_path)
    before = scene_file.read_bytes()
    status, out, err = _main(capsys, "--blend", scene_file, "--audio", audio.a,
                             "--checkpoint", tiny_checkpoint)
    assert status == 2, (out, err)
    assert "give --out FILE.blend (or --overwrite to save into the opened file" in err
    assert "wrote action" not in out and scene_file.read_bytes() == before

    status, out, err = _main(capsys, "--blend", scene_file, "--audio", audio.a, "--overwrite",
                             "--checkpoint", tiny_checkpoint)
    assert status == 0, (out, err)
    assert bpy.data.actions.get("a_first take 1") is not None
    _reopen(scene_file)
    assert bpy.data.actions.get("a_first take 1") is not None, "saved into the --blend file"


def test_batch_inside_an_open_file_follows_the_same_rule(capsys, tmp_path, empty_scene, audio,
                                                        tiny_checkpoint):
    scene_file = _saved_scene(tmp_path)
    _reopen(scene_file)  # as `blender -b scene.blend --python batch.py -- ...`
    assert bpy.data.filepath == str(scene_file)
    status, out, err = _main(capsys, "--audio", audio.a, "--checkpoint", tiny_checkpoint)
    assert status == 2 and "--overwrite to save into the opened file" in err, (out, err)
    assert len(bpy.data.actions) == 0

    status, out, err = _main(capsys, "--audio", audio.a, "--overwrite", "--checkpoint", tiny_checkpoint)
    assert status == 0, (out, err)
    _reopen(scene_file)
    assert bpy.data.actions.get("a_first take 1") is not None


def test_batch_out_must_be_a_blend_file(capsys, tmp_path, empty_scene, audio, tiny_checkpoint):
    target = tmp_path / "result.txt"
    status, out, err = _main(capsys, "--audio", audio.a, "--checkpoint", tiny_checkpoint, "--out", target)
    assert status == 2, (out, err)
    assert ".blend" in err and "result.txt" in err and "Traceback" not in err
    assert not target.exists() and "wrote action" not in out


def test_batch_out_in_a_missing_folder_is_refused_before_any_work(capsys, tmp_path, empty_scene,
                                                                  audio, tiny_checkpoint):
    target = tmp_path / "no" / "such" / "folder" / "out.blend"
    status, out, err = _main(capsys, "--audio", audio.a, "--checkpoint", tiny_checkpoint, "--out", target)
    assert status == 2, (out, err)
    assert str(target.parent) in err and "Traceback" not in err
    assert "wrote action" not in out and not (tmp_path / "no").exists()
    assert len(bpy.data.actions) == 0


def _read_only_folder(kind: str, tmp_path: Path) -> Path:
    if kind == "proc":  # a folder nobody may create files in, root included
        return Path("/proc")
    if os.geteuid() == 0:
        pytest.skip("root may write into a folder without write permission")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("kind", ["chmod", "proc"])
def test_batch_out_in_a_read_only_folder_is_refused_before_any_work(capsys, tmp_path, empty_scene,
                                                                    audio, tiny_checkpoint, kind):
    folder = _read_only_folder(kind, tmp_path)
    try:
        target = folder / "out.blend"
        status, out, err = _main(capsys, "--audio", audio.a, "--checkpoint", tiny_checkpoint,
                                 "--out", target)
    finally:
        if kind == "chmod":
            folder.chmod(0o755)
    assert status == 2, (out, err)
    assert str(folder) in err and "Traceback" not in err
    assert "wrote action" not in out and len(bpy.data.actions) == 0


def test_batch_folder_skips_a_bad_file_and_saves_the_rest(capsys, tmp_path, empty_scene, audio,
                                                         tiny_checkpoint):
    folder = tmp_path / "talks"
    folder.mkdir()
    for path in (audio.a, audio.bad, audio.c):
        (folder / path.name).symlink_to(path)
    target = tmp_path / "takes.blend"
    status, out, err = _main(capsys, "--audio", folder, "--checkpoint", tiny_checkpoint, "--out", target,
                             "--start-frame", 3)
    assert status == 2, (out, err)
    assert "Traceback" not in err
    assert "2 of 3 takes written" in out + err
    failed = [line for line in err.splitlines() if "b_broken.wav" in line]
    assert failed and any("Cannot read audio file" in line for line in failed), err
    assert target.is_file(), "the finished takes were lost"

    scene = _reopen(target)
    assert {"a_first take 1", "c_second take 1"} <= set(bpy.data.actions.keys())
    obj = bpy.data.objects["SMPL-X"]
    assert obj.animation_data.action.name == "c_second take 1"
    # each take's audio is in the file; only the active (last) take's strip is audible
    strips = {s.name: s for s in compat.sound_strips(scene)}
    assert set(strips) == {"a_first", "c_second"}
    assert strips["a_first"].channel != strips["c_second"].channel
    assert strips["a_first"].mute and not strips["c_second"].mute
    assert all(s.frame_start == 3 for s in strips.values())


def test_batch_saves_each_take_audio_as_a_sound_strip(capsys, tmp_path, empty_scene, audio,
                                                      tiny_checkpoint):
    target = tmp_path / "out.blend"
    status, out, err = _main(capsys, "--audio", audio.a, "--checkpoint", tiny_checkpoint, "--out", target,
                             "--start-frame", 12)
    assert status == 0, (out, err)
    scene = _reopen(target)
    strips = compat.sound_strips(scene)
    assert len(strips) == 1, "the saved .blend plays silent"
    strip = strips[0]
    assert strip.name == "a_first" and strip.frame_start == 12 and not strip.mute
    assert Path(bpy.path.abspath(strip.sound.filepath)).resolve() == audio.a.resolve()
    # the strip covers the take, so scrubbing the take plays its audio
    action = bpy.data.objects["SMPL-X"].animation_data.action
    assert strip.frame_final_start == 12 and strip.frame_final_end >= action.frame_range[1]


def test_batch_does_not_duplicate_a_sound_strip_already_there(capsys, tmp_path, empty_scene, audio,
                                                              tiny_checkpoint):
    scene_file = _saved_scene(tmp_path, sound=audio.a, frame=12)
    target = tmp_path / "out.blend"
    status, out, err = _main(capsys, "--blend", scene_file, "--audio", audio.a, "--start-frame", 12,
                             "--checkpoint", tiny_checkpoint, "--out", target)
    assert status == 0, (out, err)
    scene = _reopen(target)
    assert [(s.name, s.frame_start) for s in compat.sound_strips(scene)] == [("mine", 12)]


def test_batch_mesh_as_armature_says_what_it_is(capsys, tmp_path, empty_scene, audio, tiny_checkpoint):
    scene_file = _saved_scene(tmp_path)
    status, out, err = _main(capsys, "--blend", scene_file, "--audio", audio.a, "--armature", "Body",
                             "--checkpoint", tiny_checkpoint, "--out", tmp_path / "out.blend")
    assert status == 2, (out, err)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "'Body' is a MESH, not an armature" in errors[0]
    assert "pass the armature object" in errors[0] and "Rig" in errors[0]
    assert "wrote action" not in out


def test_batch_warns_about_silent_audio_and_the_body_rests(capsys, tmp_path, empty_scene, tiny_checkpoint):
    """Generation's own warnings (here: silence) reach the user of the headless batch."""
    import soundfile as sf

    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(3 * 16000, np.float32), 16000)
    target = tmp_path / "out.blend"
    status, out, err = _main(capsys, "--audio", silent, "--checkpoint", tiny_checkpoint, "--out", target)
    assert status == 0, (out, err)
    assert "warning: silence.wav:" in err and "silent" in err
