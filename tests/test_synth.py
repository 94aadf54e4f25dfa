"""The synthetic long-tail gesture benchmark (training.synth).

Pure parts (sentence generator, gesture poses, scheduling, idle motion) are tested
without speech; generation of a tiny dataset needs espeak-ng and skips without it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from egg_core.errors import EggError
from egg_core.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    quat_conjugate,
    quat_multiply,
    quat_to_axis_angle,
)
from egg_core.skeleton import SMPLX, forward_kinematics, relaxed_pose
from training import synth as S

J = {n: i for i, n in enumerate(SMPLX.joint_names)}


def _espeak() -> bool:
    from egg_core.speech_synth import espeak_available

    return espeak_available()


needs_espeak = pytest.mark.skipif(
    not _espeak(), reason="espeak-ng (libespeak-ng) is not installed: apt-get install espeak-ng"
)


def fk(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return forward_kinematics(SMPLX, axis_angle_to_matrix(np.asarray(poses, dtype=np.float64)))


def stroke(name: str, seed: int = 0, mirror: bool = False, hold: float = 0.8, at: float = 0.7):
    """FK of a previewed gesture at a fraction ``at`` of its hold, and the whole pose track."""
    poses, inst = S.preview_gesture(name, seed=seed, hold=hold, mirror=mirror)
    frame = int(round((inst.onset + at * inst.hold) * S.FPS))
    pos, rot = fk(poses[frame])
    return pos, rot, poses, inst


# ----------------------------------------------------------------------------- sentences


def test_at_least_24_classes_each_with_a_gesture_and_keywords():
    assert len(S.GESTURE_CLASSES) >= 24
    assert len(set(S.CLASS_NAMES)) == len(S.CLASS_NAMES)
    for cls in S.GESTURE_CLASSES:
        assert cls.keywords, cls.name
        assert cls.name in S._BUILDERS
    # no keyword triggers two classes
    all_kw = [k for c in S.GESTURE_CLASSES for k in c.keywords]
    assert len(all_kw) == len(set(all_kw))


def test_target_law_is_long_tailed():
    p = S.zipf_probabilities()
    assert p.sum() == pytest.approx(1.0)
    assert np.all(np.diff(p) < 0)
    assert 0.17 <= p[0] <= 0.23
    assert p[-1] <= 0.005


def test_sentence_class_frequencies_follow_the_long_tail():
    rng = np.random.default_rng(123)
    counts = np.zeros(len(S.CLASS_NAMES))
    n_sent = 6000
    for _ in range(n_sent):
        for _, c in S.generate_sentence(rng).keywords:
            counts[S.CLASS_NAMES.index(c)] += 1
    freq = counts / counts.sum()
    assert counts.sum() > n_sent  # more than one keyword per sentence on average
    assert 0.17 <= freq[0] <= 0.23, freq[0]
    assert freq.min() <= 0.007
    assert np.all(counts > 0)  # even the rarest class occurs
    assert (freq < 0.02).sum() >= 10  # a real tail of rare classes
    # realised frequencies track the target law, rank by rank
    target = S.zipf_probabilities()
    assert np.abs(freq - target).max() < 0.015
    ranks = np.argsort(np.argsort(-freq))
    rho = np.corrcoef(ranks, np.arange(len(freq)))[0, 1]
    assert rho > 0.95


def test_every_keyword_in_a_sentence_is_annotated_and_nothing_else():
    rng = np.random.default_rng(7)
    for _ in range(1500):
        sent = S.generate_sentence(rng)
        annotated = dict(sent.keywords)
        for i, w in enumerate(sent.words):
            b = S.bare(w)
            if i in annotated:
                assert S.KEYWORD_CLASS[b] == annotated[i], (sent.text, w)
            else:
                assert b not in S.KEYWORD_CLASS, f"unlabelled keyword {w!r} in {sent.text!r}"
        assert sent.text[0].isupper() and sent.text.endswith(".")


def test_filler_vocabulary_holds_no_keyword():
    words = set()
    for vals in S._SLOTS.values():
        for v in vals:
            words.update(S.bare(x) for x in v.split())
    for t in S.FILLER_CLAUSES + S.CONNECTORS:
        words.update(S.bare(x) for x in t.split() if "{" not in x)
    assert not words & set(S.KEYWORD_CLASS)


# ----------------------------------------------------------------------------- gestures

REST_POS, _ = fk(relaxed_pose())


def _palm_centre(pos: np.ndarray, side: str) -> np.ndarray:
    return 0.5 * (pos[J[f"{side}_wrist"]] + pos[J[f"{side}_middle1"]])


def _extended_fingers(pos: np.ndarray, side: str) -> int:
    """Fingers whose tip joint is far from the wrist (straight) rather than curled in."""
    n = 0
    for f in ("thumb", "index", "middle", "ring", "pinky"):
        a, c = pos[J[f"{side}_{f}1"]], pos[J[f"{side}_{f}3"]]
        straight = np.linalg.norm(SMPLX.offsets[J[f"{side}_{f}2"]]) + np.linalg.norm(SMPLX.offsets[J[f"{side}_{f}3"]])
        n += np.linalg.norm(c - a) > 0.93 * straight
    return int(n)


def test_ik_puts_the_wrist_on_target_with_the_asked_orientation():
    for side, sign in (("L", 1.0), ("R", -1.0)):
        target = np.array([0.2 * sign, 0.02, 0.33])
        fingers, palm = np.array([0.0, 1.0, 0.15]), np.array([0.0, 0.0, 1.0])
        pose = relaxed_pose()
        for j, aa in S.arm_pose_at(target, fingers * [sign, 1, 1], palm, "open", side).items():
            pose[j] = aa
        pos, rot = fk(pose)
        wrist = J["left_wrist" if side == "L" else "right_wrist"]
        assert np.allclose(pos[wrist], target, atol=1e-6)
        g = rot[wrist]
        bone = g[:, 0] * sign  # the hand's rest direction is +X on the left, -X on the right
        assert bone @ (fingers * [sign, 1, 1] / np.linalg.norm(fingers)) > 0.999  # hand points where asked
        assert -g[:, 1] @ palm > 0.98  # palm faces where asked


def test_every_class_moves_the_body_visibly_and_differently():
    snapshots = {}
    for name in S.CLASS_NAMES:
        _, _, poses, inst = stroke(name)
        pos_all, rot_all = fk(poses)
        hold = slice(int(inst.onset * S.FPS), int((inst.onset + inst.hold) * S.FPS))
        hand_move = np.linalg.norm(pos_all[hold] - REST_POS, axis=-1).max()
        head_aa = np.asarray(quat_to_axis_angle(_mat_quat(rot_all[hold, J["head"]])))
        head_turn = np.degrees(np.linalg.norm(head_aa, axis=-1)).max()
        assert hand_move > 0.15 or head_turn > 8.0, name
        # before and long after the gesture the body is back at rest
        assert np.allclose(pos_all[0], REST_POS, atol=1e-6)
        assert np.allclose(pos_all[-1], REST_POS, atol=1e-6)
        mid = pos_all[(hold.start + hold.stop) // 2]
        snapshots[name] = mid[list(SMPLX.parts["gesture"]) + [J["head"], J["left_eye_smplhf"]]]
    arm_classes = [n for n in S.CLASS_NAMES if n not in ("no", "yes")]
    for i, a in enumerate(arm_classes):
        for b in arm_classes[i + 1:]:
            d = np.linalg.norm(snapshots[a] - snapshots[b], axis=-1).max()
            assert d > 0.03, f"{a} and {b} look alike ({d:.3f} m)"


def _mat_quat(R: np.ndarray) -> np.ndarray:
    from egg_core.rotations import matrix_to_quat

    return np.asarray(matrix_to_quat(R))


def test_huge_spreads_the_wrists_wide():
    for seed in range(4):
        pos, *_ = stroke("huge", seed=seed)
        d = np.linalg.norm(pos[J["left_wrist"]] - pos[J["right_wrist"]])
        assert d > 1.0, d
    assert np.linalg.norm(REST_POS[J["left_wrist"]] - REST_POS[J["right_wrist"]]) < 0.8


@pytest.mark.parametrize("mirror", [False, True])
def test_self_puts_a_hand_on_the_chest(mirror):
    pos, *_ = stroke("self", seed=2, mirror=mirror)
    side, other = ("right", "left") if mirror else ("left", "right")
    assert np.linalg.norm(_palm_centre(pos, side) - S.CHEST) < 0.12
    assert np.linalg.norm(_palm_centre(pos, other) - S.CHEST) > 0.3  # the other hand stays down


def test_you_points_forward_with_the_index():
    pos, rot, *_ = stroke("you", seed=1)
    tip = pos[J["left_index3"]]
    assert tip[2] > 0.5  # far in front of the body
    g = rot[J["left_index3"]][:, 0]
    assert g[2] > 0.85  # the index points forward
    assert _extended_fingers(pos, "left") <= 2  # index (and maybe the thumb), the rest curled


def _head_angles(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and pitch (degrees) of the head relative to the spine3 frame, per frame."""
    _, rot = fk(poses)
    rel = np.einsum("tij,tik->tjk", rot[:, J["spine3"]], rot[:, J["head"]])
    fwd = rel[:, :, 2]
    yaw = np.degrees(np.arctan2(fwd[:, 0], fwd[:, 2]))
    pitch = np.degrees(np.arcsin(np.clip(-fwd[:, 1], -1, 1)))
    return yaw, pitch


def test_no_shakes_the_head():
    poses, inst = S.preview_gesture("no", seed=0, hold=1.0)
    yaw, _ = _head_angles(poses)
    seg = yaw[int(inst.start * S.FPS):int(inst.end * S.FPS)]
    assert seg.max() > 8 and seg.min() < -8
    signs = np.sign(seg[np.abs(seg) > 2])
    assert np.count_nonzero(np.diff(signs)) >= 3  # at least left-right-left-right
    _, rot = fk(poses)
    assert np.allclose(fk(poses)[0][:, J["left_wrist"]], REST_POS[J["left_wrist"]], atol=1e-6)


def test_yes_nods_the_head_down():
    poses, inst = S.preview_gesture("yes", seed=0, hold=1.0)
    _, pitch = _head_angles(poses)
    seg = pitch[int(inst.start * S.FPS):int(inst.end * S.FPS)]
    assert seg.max() > 8
    peaks = [i for i in range(1, len(seg) - 1) if seg[i] > seg[i - 1] and seg[i] >= seg[i + 1] and seg[i] > 5]
    assert len(peaks) >= 2


def test_stop_shows_both_palms_forward():
    pos, rot, *_ = stroke("stop")
    for side in ("left", "right"):
        palm = -rot[J[f"{side}_wrist"]][:, 1]
        assert palm[2] > 0.8
        assert pos[J[f"{side}_wrist"]][2] > 0.35


@pytest.mark.parametrize("name,n", [("one", 1), ("two", 2), ("three", 3), ("four", 4), ("five", 5)])
def test_counting_raises_that_many_fingers(name, n):
    for mirror in (False, True):
        pos, *_ = stroke(name, seed=3, mirror=mirror)
        side = "right" if mirror else "left"
        assert _extended_fingers(pos, side) == n


def test_head_touching_gestures_reach_their_landmark():
    pos, *_ = stroke("think")
    assert np.linalg.norm(pos[J["left_index3"]] - S.TEMPLE_L) < 0.05
    pos, *_ = stroke("quiet")
    assert np.linalg.norm(pos[J["left_index3"]] - (S.MOUTH + [0, 0.01, 0.025])) < 0.05
    pos, *_ = stroke("up", at=1.0)
    assert pos[J["left_index3"]][1] > pos[J["head"]][1]


def test_one_handed_gestures_use_either_hand():
    rng = np.random.default_rng(0)
    sides = {S.build_gesture("you", rng, 0.5).joints[0] in S._LEFT_ARM for _ in range(40)}
    assert sides == {True, False}
    plan = S.build_gesture("huge", rng, 0.5)
    assert any(j in S._LEFT_ARM for j in plan.joints) and any(j not in S._LEFT_ARM for j in plan.joints)


def test_gestures_blend_without_jumps():
    for name in ("huge", "fast", "hello", "around", "self"):
        poses, _ = S.preview_gesture(name, seed=5)
        q = np.asarray(axis_angle_to_quat(poses.astype(np.float64)))
        step = np.linalg.norm(np.asarray(quat_to_axis_angle(quat_multiply(quat_conjugate(q[:-1]), q[1:]))), axis=-1)
        assert np.degrees(step.max()) < 25.0, name


# ----------------------------------------------------------------------------- scheduling


def test_schedule_keeps_labels_apart_and_on_their_words():
    from egg_core.formats.transcripts import Word

    rng = np.random.default_rng(0)
    for _ in range(50):
        words, keywords, t = [], [], 0.5
        for i in range(12):
            dur = float(rng.uniform(0.12, 0.45))
            words.append(Word(f"w{i}", t, t + dur))
            t += dur + float(rng.uniform(0.0, 0.1))
        for i in sorted(rng.choice(6, size=3, replace=False)):  # keywords >= 2 words apart, as in sentences
            keywords.append((int(2 * i), str(rng.choice(S.CLASS_NAMES))))
        insts = S.schedule_gestures(words, keywords, rng)
        for k, (inst, (wi, name)) in enumerate(zip(insts, keywords, strict=True)):
            a, b = inst.label
            assert inst.name == name and b > a
            w = words[wi]
            assert a <= w.end and b >= w.start + 0.1, (a, b, w)  # the label covers its word
            if k:
                assert insts[k - 1].label[1] <= a + 1e-9


# ----------------------------------------------------------------------------- idle


def _max_step_deg(q: np.ndarray) -> float:
    d = np.asarray(quat_multiply(quat_conjugate(q[:-1]), q[1:]))
    return float(np.degrees(np.linalg.norm(np.asarray(quat_to_axis_angle(d)), axis=-1).max()))


def test_procedural_idle_is_smooth_and_standing():
    q, trans = S.procedural_idle(300, np.random.default_rng(0))
    assert q.shape == (300, 55, 4) and trans.shape == (300, 3)
    assert _max_step_deg(q) < 1.0
    assert np.all(np.abs(trans[:, 1] - S.STANDING_TRANS_Y) < 0.01)
    assert np.abs(trans[:, 0]).max() < 0.05
    moving = np.ptp(np.asarray(quat_to_axis_angle(q)), axis=0)
    assert moving[J["head"]].max() > math.radians(1.0)  # it is alive


@pytest.mark.shared
def test_idle_from_the_real_take_relaxes_arms_and_stays_continuous(beat2_take):
    src = S.IdleSource.load(beat2_take)
    q, trans = src.idle(600, np.random.default_rng(1))
    assert _max_step_deg(q[:, [J["spine3"], J["neck"], J["left_shoulder"], J["right_elbow"]]]) < 15.0
    poses = np.asarray(quat_to_axis_angle(q))
    pos, _ = fk(poses)
    # arms hang: wrists below the pelvis height and near the relaxed pose
    assert np.all(pos[:, J["left_wrist"], 1] < pos[:, J["spine1"], 1])
    assert np.abs(poses[:, J["jaw"]]).max() < 1e-6
    # horizontal position re-centred per segment, height from the real take
    assert np.abs(trans[:, [0, 2]]).max() < 0.6
    assert 1.1 < np.median(trans[:, 1]) < 1.5


def test_idle_source_too_short_is_a_user_error(tmp_path):
    from egg_core.formats.beat2 import write_beat2_npz
    from egg_core.motion import Motion

    path = tmp_path / "short.npz"
    write_beat2_npz(Motion(np.zeros((30, 55, 3)), np.zeros((30, 3)), 30.0), path)
    with pytest.raises(EggError, match="at least 5 s"):
        S.IdleSource.load(path)


# ----------------------------------------------------------------------------- datasets


def _tiny(out: Path, seed: int = 0, workers: int = 1, minutes: float = 0.25, **kw) -> dict:
    settings = S.SynthSettings(minutes=minutes, seed=seed, clip_seconds=5.0, **kw)
    return S.generate_dataset(out, settings, workers=workers, overwrite=True, progress=False)


def _arrays(folder: Path) -> dict[str, bytes]:
    from egg_core.formats.beat2 import read_beat2_npz

    out = {}
    for p in sorted(folder.iterdir()):
        if p.suffix == ".npz":
            m = read_beat2_npz(p)
            out[p.name] = m.poses.tobytes() + m.trans.tobytes()
        else:
            out[p.name] = p.read_bytes()
    return out


@needs_espeak
def test_generation_is_deterministic_by_seed_and_independent_of_workers(tmp_path):
    m1 = _tiny(tmp_path / "a", seed=4, workers=1)
    _tiny(tmp_path / "b", seed=4, workers=2)
    _tiny(tmp_path / "c", seed=5, workers=2)
    a, b, c = (_arrays(tmp_path / x) for x in "abc")
    assert m1["clips"] == 3
    assert a == b
    assert a.keys() == c.keys()
    assert a["synth_0000.wav"] != c["synth_0000.wav"]
    assert a["synth_0000.npz"] != c["synth_0000.npz"]


@needs_espeak
def test_generated_files_load_with_the_repo_readers(tmp_path, beat2_take):
    from egg_core.formats.audio import load_audio
    from egg_core.formats.beat2 import read_beat2_npz
    from egg_core.formats.transcripts import read_transcript
    from training.data import discover_clips, read_labels

    out = tmp_path / "ds"
    manifest = _tiny(out, seed=1, minutes=0.5, idle_source=str(beat2_take))
    clips, report = discover_clips(out)
    assert len(clips) == manifest["clips"] == 6 and not report.problems
    assert {c.split for c in clips} == {"train", "val", "test"}
    n_labels = 0
    for c in clips:
        motion = read_beat2_npz(c.motion)
        wave = load_audio(c.audio, 16000)
        assert motion.fps == 30 and abs(len(wave) / 16000 - motion.duration) < 1 / 30
        words = read_transcript(c.transcript).words
        assert words and words[-1].end <= motion.duration
        spans = read_labels(c.labels)
        n_labels += len(spans)
        for cls, a, b in spans:
            assert cls in S.CLASS_NAMES and 0 <= a < b <= motion.duration
            # the label sits on a keyword of its class
            hits = [w for w in words if S.KEYWORD_CLASS.get(S.bare(w.text)) == cls and a - 0.05 <= w.start <= b]
            assert hits, (c.name, cls, a, b)
        starts = [a for _, a, _ in spans]
        assert starts == sorted(starts)
        # every keyword spoken got its label
        kw = [w for w in words if S.bare(w.text) in S.KEYWORD_CLASS]
        assert len(kw) == len(spans)
    assert n_labels >= 3
    assert sum(r["count"] for r in manifest["classes"]) == n_labels
    saved = json.loads((out / "manifest.json").read_text())
    assert saved["settings"]["seed"] == 1 and "real BEAT2" in saved["idle"]


@needs_espeak
def test_gesture_in_a_generated_clip_holds_its_pose_at_the_keyword():
    settings = S.SynthSettings(minutes=0.2, seed=11, clip_seconds=12.0)
    motion, wave, words, gestures, summary = S.render_clip(0, settings, 12.0, None)
    assert gestures, "expected at least one keyword in 12 s of speech"
    assert summary.beats > len(gestures)  # beats are the majority
    pos, _ = fk(motion.poses)
    checked = 0
    for g in gestures:
        f_mid = int(round((g.onset + 0.5 * g.hold) * S.FPS))
        others = [o for o in gestures if o is not g and o.start * S.FPS <= f_mid <= o.end * S.FPS]
        f_before = max(0, int((g.start - 0.3) * S.FPS))
        moved = np.linalg.norm(pos[f_mid] - pos[f_before], axis=-1).max()
        head = np.abs(motion.poses[f_before:int(g.end * S.FPS), J["head"]]).max()
        assert moved > 0.05 or head > 0.1, g.name
        if g.plan.joints and len(g.plan.times) == 1 and not others:
            # the driven joints are exactly at the class's pose mid-stroke, over idle and beats
            q = np.asarray(axis_angle_to_quat(motion.poses[f_mid, list(g.plan.joints)].astype(np.float64)))
            assert np.abs(np.sum(q * g.plan.key_quats()[0], axis=-1)).min() > 0.999, g.name
            checked += 1
    assert checked >= 1


@needs_espeak
def test_existing_dataset_needs_overwrite(tmp_path, capsys):
    _tiny(tmp_path, minutes=0.08)
    with pytest.raises(EggError, match="--overwrite"):
        S.generate_dataset(tmp_path, S.SynthSettings(minutes=0.08, clip_seconds=5.0), workers=1,
                           progress=False)
    assert S.main(["--out", str(tmp_path), "--minutes", "0.08", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert S.main(["--out", str(tmp_path), "--minutes", "0.08", "--clip-seconds", "5", "--quiet",
                   "--overwrite"]) == 0
    assert len(list(tmp_path.glob("synth_*.npz"))) == 1


def test_missing_idle_source_is_a_user_error(tmp_path):
    if not _espeak():
        pytest.skip("espeak-ng is not installed")
    with pytest.raises(EggError, match="idle source"):
        S.generate_dataset(tmp_path, S.SynthSettings(minutes=0.1, idle_source=str(tmp_path / "nope.npz")),
                           progress=False)
