"""`python -m egg_core.generate --bvh out.bvh --target-skeleton theirs.bvh`: the BVH on a user's skeleton."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from egg_core.checkpoint import save_checkpoint
from egg_core.formats.bvh import read_bvh
from egg_core.generate import main
from egg_core.model.eggesture import EGGesture, EGGestureConfig
from egg_core.retarget import detect_bone_map, rig_from_bvh

torch.set_num_threads(1)
MIXAMO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rigs" / "mixamo_skeleton_bvh" / "test_freebvh.bvh"


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_checkpoint(EGGesture(EGGestureConfig.tiny(text_encoder="hashed")), path)


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    wave = (0.2 * np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2 * rng.normal(size=t.size)).astype(np.float32)
    sf.write(tmp_path / "talk.wav", wave, 16000)
    return tmp_path / "talk.wav"


@pytest.fixture
def mixamo() -> Path:
    if not MIXAMO.exists():
        pytest.skip(f"the Mixamo skeleton is not at {MIXAMO} (put the project's shared/ folder beside the repo)")
    return MIXAMO


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_bvh_is_written_on_the_target_skeleton(tiny_ckpt, speech, mixamo, tmp_path, capsys):
    out = tmp_path / "out.bvh"
    code, err = _run(["--audio", str(speech), "--out", str(tmp_path / "m.npz"), "--bvh", str(out),
                      "--target-skeleton", str(mixamo), "--checkpoint", str(tiny_ckpt), "--quiet"], capsys)
    assert code == 0, err
    theirs, ours = read_bvh(mixamo), read_bvh(out)
    assert ours.skeleton.joint_names == theirs.skeleton.joint_names  # mixamorig:Hips, ... their names
    np.testing.assert_allclose(ours.skeleton.offsets, theirs.skeleton.offsets, atol=1e-7)
    assert ours.order == theirs.order == "ZYX" and ours.num_frames == 90 and ours.fps == 30.0
    assert set(ours.end_sites) == set(theirs.end_sites)
    # the arms move (it is the generated motion); an unmapped joint (the head top) stays at rest
    arm = ours.skeleton.index("mixamorig:LeftArm")
    assert not np.allclose(ours.local_rotmats[:, arm], np.eye(3), atol=1e-3)
    top = ours.skeleton.index("mixamorig:HeadTop_End")
    np.testing.assert_allclose(ours.local_rotmats[:, top], np.broadcast_to(np.eye(3), (90, 3, 3)), atol=1e-6)


def test_target_skeleton_mistakes_exit_2_before_generating(tiny_ckpt, speech, mixamo, tmp_path, capsys):
    base = ["--audio", str(speech), "--out", str(tmp_path / "m.npz"), "--checkpoint", str(tiny_ckpt)]
    code, err = _run(base + ["--target-skeleton", str(mixamo)], capsys)
    assert code == 2 and "add --bvh OUT.bvh" in err
    code, err = _run(base + ["--bvh", str(tmp_path / "o.bvh"), "--target-skeleton", str(tmp_path / "no.bvh")], capsys)
    assert code == 2 and "target skeleton BVH not found" in err
    broken = tmp_path / "map.json"
    broken.write_text(json.dumps({"parts": {"hips": "NoSuchJoint"}}), encoding="utf-8")
    code, err = _run(base + ["--bvh", str(tmp_path / "o.bvh"), "--target-skeleton", str(mixamo),
                             "--bone-map", str(broken)], capsys)
    assert code == 2 and "NoSuchJoint" in err
    # a map that leaves out the arms names exactly what is missing
    full = detect_bone_map(rig_from_bvh(read_bvh(mixamo)))
    partial = {k: v for k, v in json.loads(full.to_json())["parts"].items() if "arm" not in k}
    broken.write_text(json.dumps({"parts": partial}), encoding="utf-8")
    code, err = _run(base + ["--bvh", str(tmp_path / "o.bvh"), "--target-skeleton", str(mixamo),
                             "--bone-map", str(broken)], capsys)
    assert code == 2 and "left_upper_arm" in err and "left_forearm" in err
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "o.bvh").exists()
