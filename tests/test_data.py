"""Dataset discovery, problem report, feature cache, windows and mirroring (training.data)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from egg_core.errors import EggError
from training import data as D
from training.minidata import (
    mocap_skeleton,
    write_beat2_tree,
    write_folder_tree,
    write_trinity_tree,
)

SETTINGS = D.DataSettings(fps=15.0, joint_set="gesture", text_encoder="hashed")


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("trees")
    return {
        "beat2": write_beat2_tree(root / "beat2", n_clips=3, seconds=8.0),
        "trinity": write_trinity_tree(root / "trinity", n_clips=2, seconds=8.0),
        "folder": write_folder_tree(root / "folder", n_clips=2, seconds=8.0),
    }


def test_detect_format(trees):
    for name, root in trees.items():
        assert D.detect_format(root) == name
    with pytest.raises(EggError, match="does not exist"):
        D.detect_format(trees["beat2"] / "nope")


def test_beat2_split_speakers_and_missing_files(trees):
    clips, report = D.discover_clips(trees["beat2"], split="train")
    assert [c.name for c in clips] == ["2_synth_0_1_1", "2_synth_0_2_2"]
    assert all(c.transcript is not None and c.transcript.suffix == ".TextGrid" for c in clips)
    assert report.problems == [("2_synth_0_99_99", "no motion file smplxflame_30/2_synth_0_99_99.npz")]
    assert "1 problem(s)" in report.summary()
    test, _ = D.discover_clips(trees["beat2"], split="test")
    assert [c.name for c in test] == ["2_synth_0_3_3"]
    none, _ = D.discover_clips(trees["beat2"], split="train", speakers=[3])
    assert none == []
    with pytest.raises(EggError, match="no usable clip"):
        D.load_clips(trees["beat2"], SETTINGS, speakers=[3], progress=False)


def test_folder_report_counts_every_problem(trees, tmp_path):
    clips, report = D.load_clips(trees["folder"], SETTINGS, cache_dir=tmp_path, progress=False)
    assert sorted(c.name for c in clips) == ["take1", "take2"]
    reasons = dict(report.problems)
    assert len(report.problems) == 2
    assert "without an audio file" in reasons[str(trees["folder"] / "lonely.npz")]
    assert "motion lasts 8.00 s but audio 2.67 s" in reasons["cut"]
    summary = report.summary()
    assert "2 clip(s) used, 2 problem(s)" in summary and "lonely.npz" in summary
    # labels: class ids per frame, shared class list, transcript only on take1
    assert clips[0].class_names == ("huge", "stop", "you")
    assert (clips[0].labels >= 0).any() and (clips[0].labels == -1).any()
    take1 = next(c for c in clips if c.name == "take1")
    take2 = next(c for c in clips if c.name == "take2")
    silence = take1.text.shape[1] - 1
    assert take1.text[:, silence].min() == 0.0  # words were placed
    assert take2.text[:, silence].min() == 1.0  # no transcript: all silence


def test_trinity_bvh_mapping_follows_bone_directions(trees, tmp_path):
    """Each matched SMPL-X bone points where its BVH bone points (egg_core.retarget); the
    BVH's four spine joints are spread over SMPL-X's three, so the trunk still bends alike."""
    from egg_core.formats.bvh import read_bvh
    from egg_core.rotations import axis_angle_to_matrix
    from egg_core.skeleton import SMPLX, forward_kinematics

    bvh = read_bvh(trees["trinity"] / "Motion" / "Recording_001.bvh")
    names = bvh.skeleton.joint_names
    mapping = D.bvh_joint_map(bvh)
    assert names[mapping[SMPLX.index("neck")]] == "Neck"
    assert names[mapping[SMPLX.index("left_wrist")]] == "LeftHand"
    assert names[mapping[SMPLX.index("spine1")]] == "Spine"
    poses = D.bvh_to_smplx_poses(bvh)
    assert poses.shape == (bvh.num_frames, 55, 3)

    smplx_pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(poses.astype(np.float64)))
    bvh_pos, bvh_rot = np.zeros(bvh.local_translations.shape), np.zeros(bvh.local_rotmats.shape)
    for j, p in enumerate(bvh.skeleton.parents):
        if p < 0:
            bvh_pos[:, j], bvh_rot[:, j] = bvh.local_translations[:, j], bvh.local_rotmats[:, j]
        else:
            bvh_rot[:, j] = bvh_rot[:, p] @ bvh.local_rotmats[:, j]
            bvh_pos[:, j] = bvh_pos[:, p] + np.einsum("tij,tj->ti", bvh_rot[:, p], bvh.local_translations[:, j])

    def angle(u, v):
        cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    pairs = {("left_shoulder", "left_elbow"): ("LeftArm", "LeftForeArm"),
             ("right_elbow", "right_wrist"): ("RightForeArm", "RightHand"),
             ("left_hip", "left_knee"): ("LeftUpLeg", "LeftLeg"),
             ("neck", "head"): ("Neck", "Head"),
             ("spine1", "neck"): ("Spine", "Neck")}  # the whole trunk chain
    for (a, b), (ba, bb) in pairs.items():
        ours = smplx_pos[:, SMPLX.index(b)] - smplx_pos[:, SMPLX.index(a)]
        theirs = bvh_pos[:, names.index(bb)] - bvh_pos[:, names.index(ba)]
        assert angle(ours, theirs).max() < (1.0 if a == "spine1" else 1e-3), (a, b)
    clips, report = D.load_clips(trees["trinity"], SETTINGS, progress=False, cache_dir=tmp_path)
    assert len(clips) == 2 and len(report.problems) == 1  # Recording_999 has no motion


def test_cache_reused_and_rebuilt_when_inputs_change(trees, tmp_path, monkeypatch):
    root = trees["folder"]
    first, _ = D.load_clips(root, SETTINGS, cache_dir=tmp_path, progress=False)
    calls = []
    real = D.compute_clip_features
    monkeypatch.setattr(D, "compute_clip_features", lambda src, s: calls.append(src.name) or real(src, s))
    again, _ = D.load_clips(root, SETTINGS, cache_dir=tmp_path, progress=False)
    assert calls == ["cut"]  # the unusable clip is retried, the good ones come from the cache
    np.testing.assert_array_equal(first[0].motion, again[0].motion)
    # other settings -> other cache folder
    calls.clear()
    other = D.DataSettings(fps=10.0, joint_set="upper", text_encoder="hashed")
    clips, _ = D.load_clips(root, other, cache_dir=tmp_path, progress=False)
    assert sorted(calls) == ["cut", "take1", "take2"]
    assert clips[0].motion.shape == (80, 13 * 6)
    # a changed file (new mtime) is recomputed
    calls.clear()
    wav = root / "take2.wav"
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    D.load_clips(root, SETTINGS, cache_dir=tmp_path, progress=False)
    assert sorted(calls) == ["cut", "take2"]


@pytest.mark.parametrize("module, name", [("audio", "AUDIO_FEATURE_VERSION"),
                                          ("text", "TEXT_FEATURE_VERSION")])
def test_cache_rebuilt_when_the_feature_code_changes(trees, tmp_path, monkeypatch, module, name):
    """A user who updates egg_core must not train on features computed by the old code."""
    from egg_core.model import audio as audio_mod
    from egg_core.model import text as text_mod

    root = trees["folder"]
    D.load_clips(root, SETTINGS, cache_dir=tmp_path, progress=False)
    calls = []
    real = D.compute_clip_features
    monkeypatch.setattr(D, "compute_clip_features", lambda src, s: calls.append(src.name) or real(src, s))
    D.load_clips(root, SETTINGS, cache_dir=tmp_path, progress=False)
    assert calls == ["cut"]  # cached
    target = audio_mod if module == "audio" else text_mod
    monkeypatch.setattr(target, name, getattr(target, name) + 1)
    calls.clear()
    D.load_clips(root, SETTINGS, cache_dir=tmp_path, progress=False)
    assert sorted(calls) == ["cut", "take1", "take2"]


def test_windows_and_mirroring(trees, tmp_path):
    from egg_core.model.representation import poses_to_features
    from egg_core.skeleton import mirror_poses

    assert D.window_starts(10, 4, 3) == [0, 3, 6]
    assert D.window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert D.window_starts(3, 4, 3) == []
    clips, report = D.load_clips(trees["folder"], SETTINGS, cache_dir=tmp_path, progress=False)
    ds = D.WindowDataset(clips, window=40, stride=20, mirror=True, report=report)
    assert len(ds) == 2 * 2 * len(D.window_starts(clips[0].num_frames, 40, 20))
    item, mirrored = ds[0], ds[1]
    assert item["motion"].shape == (40, 43 * 6) and int(mirrored["mirrored"]) == 1
    from egg_core.formats.beat2 import read_beat2_npz
    from egg_core.motion import resample_motion

    m = resample_motion(read_beat2_npz(clips[0].source.motion), 15.0)
    expect = poses_to_features(np.asarray(mirror_poses(m.poses, m.trans)[0]), "gesture")[:40]
    np.testing.assert_allclose(mirrored["motion"].numpy(), expect, atol=1e-5)
    assert np.array_equal(item["audio"].numpy(), mirrored["audio"].numpy())
    with pytest.raises(EggError, match="shorter than"):
        D.load_dataset(trees["folder"], SETTINGS, window=10_000, stride=10, cache_dir=tmp_path, progress=False)


def test_empty_folder_and_bad_labels(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EggError, match="no motion/audio pairs were found"):
        D.load_clips(tmp_path / "empty", SETTINGS, cache_dir=tmp_path / "cache", progress=False)
    bad = tmp_path / "x.labels.json"
    bad.write_text('[{"class": "a", "start": 1}]')
    with pytest.raises(EggError, match="needs 'class', 'start' and 'end'"):
        D.read_labels(bad)


def test_mocap_skeleton_is_valid():
    skel = mocap_skeleton()
    assert skel.num_joints == 21 and skel.mirror[skel.index("LeftArm")] == skel.index("RightArm")


def test_mean_velocity_matches_fk_speeds(trees, tmp_path):
    from egg_core.formats.beat2 import read_beat2_npz
    from training.metrics import joint_positions, mean_joint_speed

    clips, _ = D.load_clips(trees["beat2"], SETTINGS, split="test", cache_dir=tmp_path, progress=False)
    m = read_beat2_npz(clips[0].source.motion)  # 30 fps already
    expect = mean_joint_speed([joint_positions(m.poses, m.trans)], 30.0)
    np.testing.assert_allclose(D.mean_velocity(clips), expect, rtol=1e-5)
    assert D.mean_velocity(clips).shape == (55,)


def test_mean_posture_of_the_real_take_keeps_its_pelvis_tilt(beat2_take, tmp_path):
    """BEAT2's pelvis is pitched forward ~17 degrees; the mirrored mean has no yaw or roll."""
    from egg_core.rotations import axis_angle_to_matrix, matrix_to_euler

    folder = tmp_path / "take"
    folder.mkdir()
    for suffix in (".npz", ".wav"):
        (folder / f"take{suffix}").symlink_to(beat2_take.with_suffix(suffix))
    clips, _ = D.load_clips(folder, SETTINGS, cache_dir=tmp_path / "cache", progress=False)
    posture = D.mean_posture(clips)
    assert posture.shape == (55, 3)
    pitch, yaw, roll = matrix_to_euler(axis_angle_to_matrix(posture[0].astype(np.float64)), "XYZ", degrees=True)
    assert -20.0 < pitch < -12.0 and abs(yaw) < 1e-3 and abs(roll) < 1e-3
    with pytest.raises(EggError, match="posture"):
        D.mean_posture([])
