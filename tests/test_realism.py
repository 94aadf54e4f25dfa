"""The realism benchmark (training.realism): its arithmetic on known motion, and its CLI.

These tests check the computation, not the quality of any model. The real-data tests use the
first 12 s of the two BEAT2 takes in ../shared/data/real/beat2 and skip when that folder is
missing; the CLI test generates 12 s with the bundled model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from egg_core.checkpoint import default_checkpoint_path
from egg_core.formats.audio import load_audio
from egg_core.formats.beat2 import read_beat2_npz
from egg_core.motion import Motion
from egg_core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from egg_core.skeleton import SMPLX, relaxed_pose
from training import metrics as M
from training import realism as R

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BEAT2 = SHARED_DATA / "real" / "beat2"
SECONDS = 12.0
SR = 16000


def _beat2(name: str):
    path = BEAT2 / name
    for folder in (SHARED_DATA, SHARED_DATA / "real", BEAT2):
        if not folder.is_dir():
            pytest.skip(f"reference data folder {folder} is missing (put the project's shared/ "
                        "folder beside the repo to run this test)")
    if not path.exists():
        pytest.skip(f"reference file {path} is missing")
    return path


def _clip(take: str) -> Motion:
    m = read_beat2_npz(_beat2(f"2_scott_0_{take}.npz"))
    n = int(SECONDS * 30)
    return Motion(poses=m.poses[:n], trans=m.trans[:n], fps=30.0)


def _rodrigues(aa: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(aa))
    if theta == 0.0:
        return np.eye(3)
    kx, ky, kz = aa / theta
    k = np.array([[0.0, -kz, ky], [kz, 0.0, -kx], [-ky, kx, 0.0]])
    return np.eye(3) + math.sin(theta) * k + (1.0 - math.cos(theta)) * (k @ k)


# --------------------------------------------------------------------------- arithmetic


def test_ledoit_wolf_matches_sklearn():
    sk = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(0)
    for n, d in [(60, 22), (10, 30), (300, 4)]:
        x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        cov, shrink = M.ledoit_wolf_covariance(x)
        ref_cov, ref_shrink = sk.ledoit_wolf(x)
        assert shrink == pytest.approx(ref_shrink, rel=1e-9)
        np.testing.assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-12)


def test_frechet_of_identical_and_shifted_features():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(60, len(R.FEATURE_NAMES))) * rng.uniform(0.01, 1.0, len(R.FEATURE_NAMES))
    assert R.feature_frechet(feats, feats)["frechet"] == pytest.approx(0.0, abs=1e-8)
    # a pure shift leaves the covariance alone: the distance is the squared shift in
    # units of the reference's standard deviations
    delta = rng.normal(size=feats.shape[1]) * 0.1
    expected = float(np.sum((delta / feats.std(axis=0)) ** 2))
    out = R.feature_frechet(feats + delta, feats)
    assert out["frechet"] == pytest.approx(expected, rel=1e-6)
    assert out["mean_term"] == pytest.approx(expected, rel=1e-9)


def test_seam_ratio_of_constant_acceleration_is_one_and_a_kick_raises_it():
    rng = np.random.default_rng(2)
    t = (np.arange(300) / 30.0)[:, None, None]
    c, v, a = (rng.normal(size=(1, 55, 3)) for _ in range(3))
    pos = c + v * t + 0.5 * a * t**2
    joins = [60, 120, 200]
    for step in (1, 2):
        acc = R.acceleration_magnitude(pos, 30.0, step)
        expected = np.linalg.norm(a[0, list(R.BODY_JOINTS)], axis=-1).mean()
        np.testing.assert_allclose(acc[step:-step], expected, rtol=1e-6)
        assert R.seam_ratio(pos, joins, 30.0, step) == pytest.approx(1.0, abs=1e-6)
    kicked = pos.copy()
    for j in joins:
        kicked[j:, list(R.BODY_JOINTS)] += 0.01 * (np.arange(300 - j) / 30.0)[:, None, None] * 30
    assert R.seam_ratio(kicked, joins, 30.0, 2) > 2.0
    assert R.seam_ratio(pos, [], 30.0, 2) is None


def test_join_frames_follow_plan_windows():
    # 60 s at 30 fps = 900 frames at 15 fps; windows of 128 with a 16-frame overlap start at
    # 0, 112, ..., 784; each join gives both cross-fade ends, doubled to 30 fps
    frames = R.join_frames(1800, 128, 4, 4, 15.0)
    expected = sorted(f * 2 for s in range(112, 785, 112) for f in (s, s + 16))
    assert frames == expected
    assert R.join_frames(1800, 128, 0, 4, 15.0) == [s * 2 for s in range(128, 900, 128)]
    assert R.join_frames(200, 128, 4, 4, 15.0) == []  # one window: no join
    assert R.seam_step(15.0) == 2 and R.seam_step(30.0) == 1


def test_wrist_height_of_the_relaxed_pose_matches_fk_by_hand():
    pose = relaxed_pose()
    assert np.all(pose[[3, 6, 9, 13, 14]] == 0)  # the chain below the shoulders is at rest
    poses = np.tile(pose, (40, 1, 1))
    poses[:, 0] = [0.0, 0.5, 0.0]  # a turned root and a translation: both removed
    motion = Motion(poses=poses, trans=np.tile([0.4, 1.3, -2.0], (40, 1)), fps=30.0)
    off = SMPLX.offsets
    pose = motion.poses[0].astype(np.float64)  # Motion stores float32: use what FK gets
    heights = []
    for shoulder, elbow, wrist, collar in ((16, 18, 20, 13), (17, 19, 21, 14)):
        p_shoulder = off[3] + off[6] + off[9] + off[collar] + off[shoulder]
        r_s, r_e = _rodrigues(pose[shoulder]), _rodrigues(pose[elbow])
        p_wrist = p_shoulder + r_s @ off[elbow] + r_s @ r_e @ off[wrist]
        heights.append(p_wrist[1])
    mean, std = R.wrist_height_stats(R.body_positions(motion))
    assert mean == pytest.approx(np.mean(heights), abs=1e-10)
    assert std == pytest.approx(0.0, abs=1e-9)
    assert -0.2 < mean < -0.1  # hanging arms: wrists a little below the pelvis joint
    # a tilted pelvis is kept (a viewer sees the lean): pitched forward, the hanging wrists move
    tilted = motion.poses.copy()
    tilted[:, 0] = [0.3, 0.5, 0.0]
    lean, _ = R.wrist_height_stats(R.body_positions(Motion(poses=tilted, trans=motion.trans, fps=30.0)))
    assert abs(lean - mean) > 0.005


def test_swinging_arms_give_the_known_median_wrist_speed():
    # both straight arms swing about the shoulder: theta = theta0 + B sin(w t), so each wrist
    # moves at r B w |cos(w t)|, whose median over whole periods is r B w / sqrt(2)
    fps, T, B, w = 30.0, 600, 0.3, math.pi  # 20 s = 10 periods of 0.5 Hz
    t = np.arange(T) / fps
    theta = -math.radians(72.0) + B * np.sin(w * t)
    poses = np.zeros((T, 55, 3))
    poses[:, 16, 2] = theta
    poses[:, 17, 2] = -theta  # the mirror image
    rest = SMPLX.rest_positions()
    r = float(np.linalg.norm(rest[20] - rest[16]))
    assert r == pytest.approx(float(np.linalg.norm(rest[21] - rest[17])))
    speed = R.median_wrist_speed(R.body_positions(Motion(poses=poses, trans=np.zeros((T, 3)), fps=fps)))
    assert speed == pytest.approx(r * B * w / math.sqrt(2.0), rel=0.01)


def test_jerk_of_a_cubic_is_its_third_derivative():
    t = (np.arange(120) / 30.0)[:, None, None]
    pos = np.zeros((120, 55, 3)) + 2.0 * t**3  # d3/dt3 = 12 along each axis
    assert R.mean_jerk(pos) == pytest.approx(12.0 * math.sqrt(3.0), rel=1e-6)


# --------------------------------------------------------------------------- real clips


@pytest.mark.shared
def test_report_on_real_clips_identical_motion_matches_the_reference():
    ref, base = _clip("1_1"), _clip("2_2")
    wave = load_audio(_beat2("2_scott_0_1_1.wav"), SR)[: int(SECONDS * SR)]
    mean_vel = np.load(_beat2("mean_vel_smplxflame_30.npy"))
    seams = R.join_frames(ref.num_frames, 128, 4, 4, 15.0)
    report = R.realism_report(ref, ref, base, wave, SR, seams, step=2, mean_vel=mean_vel)
    assert report["frames"] == 360 and report["windows"] == 12
    assert report["generated"]["frechet"] == pytest.approx(0.0, abs=1e-8)
    assert report["baseline"]["frechet"] > 1.0  # another take is not the same motion
    for key, _ in R.FIGURES:
        assert report["generated"][key] == pytest.approx(report["reference"][key], abs=1e-12)
        assert report["baseline"][key] is not None
        assert report["ratio_to_baseline"][key] == pytest.approx(
            report["generated"][key] / report["baseline"][key])
    assert report["seam_frames"] == [224, 256]
    # the heading frame: moving and turning the whole body changes nothing
    moved = Motion(poses=ref.poses.copy(), trans=ref.trans + np.array([1.0, 0.0, 3.0]), fps=30.0)
    turn = axis_angle_to_matrix(np.array([0.0, 1.0, 0.0]))  # a turn about the vertical
    moved.poses[:, 0] = matrix_to_axis_angle(turn @ axis_angle_to_matrix(ref.poses[:, 0].astype(np.float64)))
    again = R.realism_report(moved, ref, base, wave, SR, seams, mean_vel=mean_vel)
    assert again["generated"]["frechet"] == pytest.approx(0.0, abs=1e-6)
    assert again["generated"]["l1div"] == pytest.approx(report["reference"]["l1div"], rel=1e-6)


@pytest.mark.shared
def test_cli_prints_the_table_writes_every_figure_and_refuses_to_overwrite(tmp_path, capsys):
    ckpt = default_checkpoint_path()
    if not ckpt.exists():
        pytest.skip(f"no bundled model at {ckpt}")
    out = tmp_path / "realism.json"
    args = ["--checkpoint", str(ckpt), "--reference", str(_beat2("2_scott_0_1_1.npz")),
            "--audio", str(_beat2("2_scott_0_1_1.wav")),
            "--transcript", str(_beat2("2_scott_0_1_1.TextGrid")),
            "--baseline", str(_beat2("2_scott_0_2_2.npz")), "--seconds", str(SECONDS),
            "--seed", "0", "--out", str(out), "--quiet"]
    assert R.main(args) == 0
    printed = capsys.readouterr().out
    assert "| figure | reference | generated | baseline | generated / baseline |" in printed
    for _, label in R.FIGURES:
        assert f"| {label} |" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["frames"] == 360
    for side in ("generated", "baseline", "reference", "ratio_to_baseline"):
        for key, _ in R.FIGURES:
            assert isinstance(data[side][key], float) and math.isfinite(data[side][key]), (side, key)
    assert data["generation"]["seed"] == 0 and data["generation"]["words"].startswith("words: given")
    assert data["mean_vel"].endswith("mean_vel_smplxflame_30.npy")

    before = out.read_bytes()
    assert R.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "already exists" in err[0]
    assert out.read_bytes() == before

    # --generated scores a file as it is: the reference scored as "generated" is at distance 0
    scored = tmp_path / "self.json"
    assert R.main(args[:args.index("--out")] + ["--generated", str(_beat2("2_scott_0_1_1.npz")),
                                                 "--out", str(scored), "--quiet"]) == 0
    self_report = json.loads(scored.read_text(encoding="utf-8"))
    assert self_report["generated"]["frechet"] == pytest.approx(0.0, abs=1e-8)
    assert self_report["generated"]["bc"] == pytest.approx(self_report["reference"]["bc"])
