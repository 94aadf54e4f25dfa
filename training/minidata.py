"""Miniature dataset trees (BEAT2, Trinity, new-speaker folder) written from synthetic data.

Used by the tests and handy for a smoke test of an installation: every file is made here
(smooth random SMPL-X motion, noise-plus-tone audio, timed words), in the exact layouts
:mod:`training.data` reads, so ``python -m training.train`` can run end to end in seconds::

    python -c "from training.minidata import write_folder_tree; write_folder_tree('/tmp/mini')"
    python -m training.train --data /tmp/mini --out /tmp/run --config tiny --epochs 2
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from egg_core.formats.beat2 import write_beat2_npz
from egg_core.formats.bvh import write_bvh
from egg_core.formats.transcripts import Transcript, Word, write_textgrid
from egg_core.motion import Motion
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import Skeleton

WORDS = ("so", "this", "is", "a", "huge", "idea", "you", "know", "and", "we", "build", "it", "together",
         "no", "stop", "three", "small", "things")


def synthetic_poses(num_frames: int, fps: float, seed: int, amplitude: float = 0.35) -> np.ndarray:
    """Smooth random SMPL-X axis-angle poses ``(T, 55, 3)``: a few sinusoids per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames)[:, None] / fps
    poses = np.zeros((num_frames, 55 * 3))
    for _ in range(3):
        freq = rng.uniform(0.2, 1.5, size=165)
        phase = rng.uniform(0, 2 * np.pi, size=165)
        amp = rng.uniform(0.0, amplitude / 3, size=165)
        poses += amp * np.sin(2 * np.pi * freq * t + phase)
    return poses.reshape(num_frames, 55, 3).astype(np.float32)


def synthetic_audio(seconds: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """Quiet noise with a short tone burst every ~0.5 s (something for onset detection)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    wave = rng.normal(scale=0.01, size=n)
    t = 0.3
    while t < seconds - 0.3:
        i = int(t * sample_rate)
        m = int(0.15 * sample_rate)
        wave[i : i + m] += 0.3 * np.sin(2 * np.pi * rng.uniform(150, 400) * np.arange(m) / sample_rate)
        t += rng.uniform(0.35, 0.7)
    return wave.astype(np.float32)


def synthetic_words(seconds: float, seed: int) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(seed)
    out, t = [], 0.2
    while t < seconds - 0.5:
        d = float(rng.uniform(0.2, 0.45))
        out.append((str(rng.choice(WORDS)), round(t, 3), round(t + d, 3)))
        t += d + float(rng.uniform(0.0, 0.3))
    return out


def _write_wav(path: Path, wave: np.ndarray, sample_rate: int = 16000) -> None:

    sf.write(str(path), wave, sample_rate, subtype="FLOAT")


def _write_npz(path: Path, seconds: float, seed: int, fps: float = 30.0) -> None:

    n = int(round(seconds * fps))
    trans = np.zeros((n, 3), np.float32)
    trans[:, 1] = 1.0
    write_beat2_npz(Motion(poses=synthetic_poses(n, fps, seed), trans=trans, fps=fps), path)


def _write_textgrid(path: Path, words: list[tuple[str, float, float]], seconds: float) -> None:

    write_textgrid(Transcript([Word(w, s, e) for w, s, e in words], True, "synthetic"), path, xmax=seconds)


def write_beat2_tree(root: str | Path, n_clips: int = 3, seconds: float = 12.0, speaker: int = 2,
                     seed: int = 0) -> Path:
    """A BEAT2 language folder: clip ``k`` is train except the last (test); one extra id is
    listed in the split file without files (to exercise the missing-file report)."""
    root = Path(root)
    for sub in ("smplxflame_30", "wave16k", "textgrid"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows = ["id,type"]
    for k in range(n_clips):
        cid = f"{speaker}_synth_0_{k + 1}_{k + 1}"
        _write_npz(root / "smplxflame_30" / f"{cid}.npz", seconds, seed + k)
        _write_wav(root / "wave16k" / f"{cid}.wav", synthetic_audio(seconds, seed + k))
        _write_textgrid(root / "textgrid" / f"{cid}.TextGrid", synthetic_words(seconds, seed + k), seconds)
        rows.append(f"{cid},{'test' if k == n_clips - 1 else 'train'}")
    rows.append(f"{speaker}_synth_0_99_99,train")  # listed, but no files
    (root / "train_test_split.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


_MOCAP_JOINTS = (
    ("Hips", -1, (0, 1.0, 0)), ("Spine", 0, (0, 0.1, 0)), ("Spine1", 1, (0, 0.12, 0)),
    ("Spine2", 2, (0, 0.12, 0)), ("Spine3", 3, (0, 0.1, 0)), ("Neck", 4, (0, 0.1, 0)),
    ("Head", 5, (0, 0.1, 0)),
    ("LeftShoulder", 4, (0.05, 0.08, 0)), ("LeftArm", 7, (0.12, 0, 0)), ("LeftForeArm", 8, (0.28, 0, 0)),
    ("LeftHand", 9, (0.25, 0, 0)),
    ("RightShoulder", 4, (-0.05, 0.08, 0)), ("RightArm", 11, (-0.12, 0, 0)),
    ("RightForeArm", 12, (-0.28, 0, 0)), ("RightHand", 13, (-0.25, 0, 0)),
    ("LeftUpLeg", 0, (0.1, -0.05, 0)), ("LeftLeg", 15, (0, -0.42, 0)), ("LeftFoot", 16, (0, -0.42, 0)),
    ("RightUpLeg", 0, (-0.1, -0.05, 0)), ("RightLeg", 18, (0, -0.42, 0)), ("RightFoot", 19, (0, -0.42, 0)),
)


def mocap_skeleton():
    """A small Trinity-like BVH skeleton (Hips/Spine.../LeftArm...; not SMPL-X names)."""

    names = tuple(n for n, _, _ in _MOCAP_JOINTS)
    mirror = tuple(
        names.index(n.replace("Left", "Right")) if n.startswith("Left")
        else names.index(n.replace("Right", "Left")) if n.startswith("Right") else i
        for i, n in enumerate(names)
    )
    return Skeleton("mocap", names, tuple(p for _, p, _ in _MOCAP_JOINTS),
                    np.array([o for _, _, o in _MOCAP_JOINTS], dtype=np.float64), {}, mirror)


def write_trinity_tree(root: str | Path, n_clips: int = 2, seconds: float = 12.0, seed: int = 0) -> Path:
    """GENEA/Trinity layout: ``Motion/*.bvh`` (mocap joint names, 60 fps), ``Audio/*.wav``
    (44.1 kHz), ``Transcripts/*.json`` (speech-recogniser JSON with "0.5s" times)."""

    root = Path(root)
    for sub in ("Motion", "Audio", "Transcripts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    skel = mocap_skeleton()
    fps = 60.0
    for k in range(n_clips):
        stem = f"Recording_{k + 1:03d}"
        n = int(round(seconds * fps))
        aa = synthetic_poses(n, fps, seed + k)[:, : skel.num_joints]
        rot = np.asarray(axis_angle_to_matrix(aa.astype(np.float64)))
        root_pos = np.tile(np.array([0.0, 1.0, 0.0]), (n, 1))
        write_bvh(root / "Motion" / f"{stem}.bvh", skel, rot, root_pos, fps)
        _write_wav(root / "Audio" / f"{stem}.wav", synthetic_audio(seconds, seed + k, 44100), 44100)
        words = synthetic_words(seconds, seed + k)
        segs = [{"alternatives": [{"transcript": " ".join(w for w, _, _ in words[i : i + 6]), "words": [
            {"start_time": f"{s}s", "end_time": f"{e}s", "word": w} for w, s, e in words[i : i + 6]]}]}
            for i in range(0, len(words), 6)]
        (root / "Transcripts" / f"{stem}.json").write_text(json.dumps(segs), encoding="utf-8")
    (root / "Audio" / "Recording_999.wav").parent.mkdir(exist_ok=True)
    _write_wav(root / "Audio" / "Recording_999.wav", synthetic_audio(2.0, 99, 44100), 44100)  # no motion
    return root


def write_folder_tree(root: str | Path, n_clips: int = 3, seconds: float = 12.0, seed: int = 0,
                      classes: tuple[str, ...] = ("huge", "stop", "you")) -> Path:
    """New-speaker folder: ``<stem>.npz`` + ``<stem>.wav`` (+ ``.TextGrid`` on the first clip
    only, + ``<stem>.labels.json``); one motion without audio and one pair whose lengths do
    not match, to exercise the problem report."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n_clips):
        stem = f"take{k + 1}"
        _write_npz(root / f"{stem}.npz", seconds, seed + k)
        _write_wav(root / f"{stem}.wav", synthetic_audio(seconds, seed + k))
        if k == 0:
            _write_textgrid(root / f"{stem}.TextGrid", synthetic_words(seconds, seed + k), seconds)
        spans = []
        t = 0.5
        while t < seconds - 1.0:
            spans.append({"class": str(rng.choice(classes)), "start": round(t, 2), "end": round(t + 0.8, 2)})
            t += float(rng.uniform(1.2, 2.5))
        (root / f"{stem}.labels.json").write_text(json.dumps(spans), encoding="utf-8")
    _write_npz(root / "lonely.npz", 3.0, 77)  # no audio
    _write_npz(root / "cut.npz", seconds, 78)
    _write_wav(root / "cut.wav", synthetic_audio(seconds / 3, 78))  # far too short for its motion
    return root
