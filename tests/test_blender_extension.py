"""The built extension zip and the headless batch script, each in a fresh Blender (subprocess).

Installing needs ``BLENDER_USER_RESOURCES`` set before bpy starts, and the batch script
is meant to run as its own process, so both run in subprocesses of ``sys.executable``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")
pytestmark = pytest.mark.blender

from eggesture_blender import build  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WAV = REPO.parent / "shared" / "data" / "real" / "speech" / "talkshow_1st-page.wav"

INSTALL_SCRIPT = r'''
import json, os, sys, tempfile
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
import bpy, addon_utils
from importlib import import_module
out = {}
out["install"] = sorted(bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True))
name = "bl_ext.user_default.eggesture"
out["enabled"] = name in bpy.context.preferences.addons
prefs = bpy.context.preferences.addons[name].preferences
out["prefs"] = [type(prefs).bl_idname, prefs.backend, prefs.python_path]
core = import_module(name + "._core")
out["vendored"] = core.has_vendored_core()
out["skeleton"] = core.core("skeleton").__name__
out["core_root"] = str(core.core_root())
for _ in range(2):
    addon_utils.disable(name)
    out.setdefault("after_disable", []).append(hasattr(bpy.types.Scene, "eggesture"))
    addon_utils.enable(name, default_set=True)
out["registered"] = hasattr(bpy.types.Scene, "eggesture") and bpy.ops.eggesture.generate.poll()
bpy.ops.wm.read_homefile(use_empty=True)
out["armature"] = sorted(bpy.ops.eggesture.create_armature(with_mesh=False))
print("RESULT " + json.dumps(out))
'''


def _run(args, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    return build.build(tmp_path_factory.mktemp("dist"))


def test_import_rewriting_is_relative_and_complete():
    source = ("from egg_core.errors import EggError\n"
              "def f():\n    from egg_core.formats.audio import load_audio\n"
              "    import egg_core.rotations as rot\n"
              "from egg_core import rotations as _rot\n")
    out = build.rewrite_imports(source, package_depth=1)
    assert "from ..errors import EggError" in out
    assert "    from ..formats.audio import load_audio" in out
    assert "    from .. import rotations as rot" in out
    assert "from .. import rotations as _rot" in out and "egg_core" not in out
    with pytest.raises(build.BuildError, match="import egg_core"):
        build.rewrite_imports("import egg_core\n", 0)


def test_built_zip_validates_and_bundles_the_addon_and_egg_core(built_zip):
    names = set(zipfile.ZipFile(built_zip).namelist())
    for required in ("blender_manifest.toml", "__init__.py", "operators.py", "worker.py",
                     "vendor/__init__.py", "vendor/egg_core/__init__.py",
                     "vendor/egg_core/inference.py", "vendor/egg_core/skeleton.py"):
        assert required in names, required
    assert "build.py" not in names and not any("__pycache__" in n for n in names)
    core_assets = REPO / "egg_core" / "assets"
    for asset in core_assets.rglob("*") if core_assets.is_dir() else ():
        if asset.is_file() and "__pycache__" not in asset.parts:
            assert f"vendor/egg_core/assets/{asset.relative_to(core_assets).as_posix()}" in names
    vendored = [zipfile.ZipFile(built_zip).read(n).decode() for n in names
                if n.startswith("vendor/egg_core/") and n.endswith(".py")]
    assert not any("from egg_core" in text for text in vendored)
    # blender_ext.py validate already ran inside build(); run it again on the zip itself
    proc = _run([str(build.find_blender_ext()), "validate", str(built_zip)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zip_installs_enables_and_resolves_preferences(built_zip):
    proc = _run(["-c", INSTALL_SCRIPT, str(built_zip)])
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = json.loads(line[len("RESULT "):])
    assert out["install"] == ["FINISHED"] and out["enabled"]
    assert out["prefs"] == ["bl_ext.user_default.eggesture", "AUTO", ""]
    assert out["vendored"] and out["skeleton"] == "bl_ext.user_default.eggesture.vendor.egg_core.skeleton"
    assert out["core_root"].endswith("vendor")
    assert out["after_disable"] == [False, False] and out["registered"]
    assert out["armature"] == ["FINISHED"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    from egg_core.checkpoint import save_checkpoint
    from egg_core.model.eggesture import EGGesture, EGGestureConfig

    torch.set_num_threads(1)
    torch.manual_seed(1)
    return save_checkpoint(EGGesture(EGGestureConfig.tiny(text_encoder="hashed")),
                           tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_batch_script_writes_a_blend_that_reopens_animated(tmp_path, tiny_checkpoint):
    if not WAV.exists():
        pytest.skip(f"reference audio not found at {WAV}")
    out = tmp_path / "out.blend"
    transcript = tmp_path / "talk.txt"
    transcript.write_text("Welcome back to the show, tonight we read the first page.", encoding="utf-8")
    proc = _run(["eggesture_blender/batch.py", "--", "--audio", str(WAV), "--transcript", str(transcript),
                 "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--start-frame", "5",
                 "--parts", "UPPER,HANDS,ROOT"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "wrote action 'talkshow_1st-page take 1'" in proc.stdout and out.is_file()

    check = r'''
import sys, json, bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
obj = bpy.data.objects["SMPL-X"]
action = obj.animation_data.action
sys.path.insert(0, ".")
from eggesture_blender import compat
curves = list(compat.iter_fcurves(action))
bpy.context.scene.frame_set(100)
q = list(obj.pose.bones["left_elbow"].rotation_quaternion)
print("RESULT " + json.dumps({"name": action.name, "range": list(action.frame_range),
      "curves": len(curves), "fps": bpy.context.scene.render.fps, "q": q}))
'''
    proc = _run(["-c", check, str(out)])
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    info = json.loads(line[len("RESULT "):])
    assert info["name"] == "talkshow_1st-page take 1"
    n = round(12.816 * info["fps"])
    assert info["range"] == [5.0, 5.0 + n - 1]
    assert info["curves"] == 43 * 4 + 3
    assert abs(sum(c * c for c in info["q"]) - 1.0) < 1e-3 and info["q"] != [1.0, 0.0, 0.0, 0.0]


def test_batch_script_fails_clearly_on_missing_audio(tmp_path):
    proc = _run(["eggesture_blender/batch.py", "--", "--audio", str(tmp_path / "missing.wav"),
                 "--out", str(tmp_path / "x.blend")])
    assert proc.returncode == 2
    assert "Audio file not found" in proc.stderr and "missing.wav" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.blend").exists()


def test_batch_folder_gives_one_action_per_audio_file(tmp_path, tiny_checkpoint):
    import bpy

    from eggesture_blender import batch

    speech = REPO.parent / "shared" / "data" / "real" / "speech"
    if not speech.is_dir():
        pytest.skip(f"reference audio not found at {speech}")
    folder = tmp_path / "talks"
    folder.mkdir()
    for wav in sorted(speech.glob("*.wav")):
        (folder / wav.name).symlink_to(wav)
    (folder / "notes.md").write_text("not audio", encoding="utf-8")
    bpy.ops.wm.read_homefile(use_empty=True)
    written = batch.run(["--audio", str(folder), "--checkpoint", str(tiny_checkpoint), "--parts", "UPPER"])
    assert written == ["talkshow_1st-page take 1", "talkshow_style take 1"]
    obj = bpy.data.objects["SMPL-X"]  # created because the empty scene had no armature
    assert obj.animation_data.action.name == "talkshow_style take 1"
    assert [t.strips[0].action.name for t in obj.animation_data.nla_tracks] == ["talkshow_1st-page take 1"]
    with pytest.raises(batch._sub("operators").InputError, match="No audio files"):
        batch.run(["--audio", str(tmp_path)])


def test_batch_with_an_smplx_folder_without_model_files_fails_clearly(tmp_path, tiny_checkpoint):
    """--smplx-dir pointing at a folder with no SMPL-X file: a message naming the expected files."""
    import bpy

    from eggesture_blender import batch

    wav = tmp_path / "tone.wav"
    import numpy as np
    import soundfile as sf

    sf.write(wav, (0.1 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220)).astype(np.float32), 16000)
    empty = tmp_path / "models"
    empty.mkdir()
    bpy.ops.wm.read_homefile(use_empty=True)
    errors = batch._sub("_core").core("errors")
    with pytest.raises(errors.EggError, match="SMPLX_NEUTRAL"):
        batch.run(["--audio", str(wav), "--checkpoint", str(tiny_checkpoint), "--smplx-dir", str(empty)])
    assert not [o for o in bpy.data.objects if o.type == "ARMATURE"]
