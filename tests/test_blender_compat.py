"""The version shim on the real bpy wheel (5.0.1 in .venv; also run under the 4.2 wheel).

Runs without egg_core so it also works in a bare ``bpy==4.2.*`` environment:
``PYTHONPATH=. /tmp/bpy42/bin/python -m pytest tests/test_blender_compat.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
pytestmark = pytest.mark.blender

from eggesture_blender import compat  # noqa: E402

WAV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "speech" / "talkshow_1st-page.wav"


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def _empty(scene, name="Target"):
    obj = bpy.data.objects.new(name, None)
    scene.collection.objects.link(obj)
    return obj


def test_version_flags_match_the_running_blender():
    major, minor, _ = compat.blender_version()
    assert compat.HAS_SLOTTED_ACTIONS == ((major, minor) >= (4, 4))


def test_curves_written_through_the_shim_drive_the_object(scene):
    obj = _empty(scene)
    action = compat.new_object_action("Move", obj)
    fcurves = compat.action_fcurves(action)
    curve = compat.new_fcurve(fcurves, "location", 2, "Object Transforms")
    curve.keyframe_points.add(2)
    curve.keyframe_points.foreach_set("co", [1.0, 0.0, 11.0, 5.0])
    curve.update()
    compat.assign_action(obj, action)

    scene.frame_set(6)
    assert obj.location.z == pytest.approx(2.5, abs=1e-5)  # halfway on the (auto-clamped) curve
    assert [c.data_path for c in compat.iter_fcurves(action)] == ["location"]
    assert curve.group is not None and curve.group.name == "Object Transforms"
    # asking again returns the same collection, not a new slot/layer
    assert len(compat.action_fcurves(action)) == 1
    if compat.HAS_SLOTTED_ACTIONS:
        assert obj.animation_data.action_slot is not None
        assert len(action.layers) == 1 and len(action.slots) == 1


def test_previous_action_survives_on_a_muted_nla_track(scene):
    obj = _empty(scene)
    first = compat.new_object_action("First", obj)
    curve = compat.new_fcurve(compat.action_fcurves(first), "location", 0, "Object Transforms")
    curve.keyframe_points.insert(1, 3.0)
    compat.assign_action(obj, first)
    compat.push_to_nla(obj, first, "First")
    second = compat.new_object_action("Second", obj)
    compat.assign_action(obj, second)

    tracks = obj.animation_data.nla_tracks
    assert [t.name for t in tracks] == ["First"]
    assert tracks[0].mute and tracks[0].strips[0].action == first
    assert obj.animation_data.action == second


def test_scene_fps_honours_fps_base(scene):
    scene.render.fps, scene.render.fps_base = 30000, 1001
    assert compat.scene_fps(scene) == pytest.approx(29.97, abs=1e-3)


def test_sound_strips_empty_without_sequencer(scene):
    assert compat.sound_strips(scene) == []
    scene.sequence_editor_create()
    assert compat.sound_strips(scene) == []


def test_sound_strips_lists_sound_strips_first_by_start(scene):
    if not WAV.exists():
        pytest.skip(f"reference audio not found at {WAV}")
    try:
        late = compat.new_sound_strip(scene, "late", str(WAV), 1, 40)
    except RuntimeError:
        pytest.skip("this Blender build cannot load sounds (the 4.2 wheel has no audio backend)")
    early = compat.new_sound_strip(scene, "early", str(WAV), 2, 10)
    strips = compat.sound_strips(scene)
    assert [s.name for s in strips] == [early.name, late.name]
    assert all(s.type == "SOUND" for s in strips)
    assert len(compat.sequence_editor_strips(scene)) == 2


def test_strip_listing_reads_the_version_specific_collection(scene):
    editor = scene.sequence_editor_create()
    collection = editor.strips if hasattr(editor, "strips") else editor.sequences
    try:  # 4.4+: length=; 4.2: frame_end=
        collection.new_effect("colour", "COLOR", 1, 1, length=10)
    except TypeError:
        collection.new_effect("colour", "COLOR", 1, 1, frame_end=11)
    assert [s.name for s in compat.sequence_editor_strips(scene)] == ["colour"]
    assert compat.sound_strips(scene) == []  # not a sound strip
