"""Training data: find clips in a dataset folder, turn them into model features, cut windows.

Three folder layouts are understood (``detect_format`` guesses which one):

``beat2``
    One BEAT2 language folder: ``smplxflame_30/<id>.npz``, ``wave16k/<id>.wav``,
    ``textgrid/<id>.TextGrid`` and ``train_test_split.csv`` (columns ``id,type``). Ids
    start with the speaker id (``2_scott_0_1_1``), which ``speakers`` filters on. The
    "additional" rows count as training data, as in the public BEAT2 recipes.
``trinity``
    GENEA 2020 / Trinity Speech-Gesture: ``Motion/*.bvh``, ``Audio/*.wav`` and
    optionally ``Transcripts/*.json`` (speech-recogniser JSON). BVH skeletons are retargeted to
    SMPL-X (names of the common conventions, else the hierarchy; rest poses corrected;
    :func:`bvh_to_smplx_poses`, :mod:`egg_core.retarget`).
``folder``
    A "new speaker" folder: motion files (``.npz`` in BEAT2 layout or ``.bvh``) each with
    an audio file of the same stem; optional transcript of the same stem (``.TextGrid``,
    ``.json``, ``.srt``, ``.vtt``, ``.txt``) and optional gesture labels
    ``<stem>.labels.json`` (``[{"class": "huge", "start": 1.2, "end": 2.0}, ...]`` or
    ``{"labels": [...]}``; times in seconds) used for per-class recall. Sub-folders are
    searched too.

For ``trinity`` and ``folder`` a ``train_test_split.csv`` beside the data (BEAT2 form)
selects splits; without it every clip belongs to every split (a note says so).

Every clip is turned once into model features (rot6d of the model's joint set at the
model's frame rate, audio features, text features, per-frame labels, and the mirrored
motion) and cached on disk under ``cache_dir/<settings hash>/``; the settings hash
covers the frame rate, joint set, text encoder and feature versions, and each clip's
entry is keyed by its files' paths, sizes and modification times, so changing either
rebuilds it. Problems (missing partners, unreadable files, length mismatches, clips
shorter than a window) are collected in one :class:`DataReport` and shown with a count;
nothing is dropped silently, and an empty result raises :class:`EggError` saying why.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from egg_core.atomic import atomic_path
from egg_core.errors import EggError
from egg_core.formats.audio import AUDIO_EXTENSIONS, load_audio, resample
from egg_core.formats.beat2 import read_beat2_npz
from egg_core.formats.bvh import BvhMotion, bvh_to_motion, read_bvh
from egg_core.formats.extensions import TRANSCRIPT_EXTENSIONS
from egg_core.formats.transcripts import read_transcript
from egg_core.model import audio as audio_mod
from egg_core.model import text as text_mod
from egg_core.model.audio import compute_audio_features, compute_whisper_features
from egg_core.model.representation import poses_to_features
from egg_core.model.text import TEXT_FEATURE_DIM, compute_text_features, resolve_text_encoder
from egg_core.motion import Motion, resample_motion
from egg_core.retarget import bvh_to_smplx_motion, detect_bone_map, rig_from_bvh, smplx_bone_map
from egg_core.rotations import (
    axis_angle_to_quat,
    quat_average,
    quat_outer_sum,
    quat_to_axis_angle,
)
from egg_core.skeleton import SMPLX, mirror_poses
from training.metrics import EVAL_FPS, joint_positions, joint_speeds

FORMATS = ("beat2", "trinity", "folder")
CACHE_VERSION = 5  # 3: posture statistics (pose_outer); 4: whole-body arrays (poses, trans, expressions);
#                   5: BVH clips retargeted with rest-pose correction (egg_core.retarget)
MOTION_EXTENSIONS = (".npz", ".bvh")
LABELS_SUFFIX = ".labels.json"
SPLITS = ("train", "val", "test", "additional", "all")
#: A motion and its audio may differ by this much (seconds, or this fraction) before the
#: clip is reported as mismatched; within it both are cut to the shorter one.
MISMATCH_TOLERANCE_S = 1.0
MISMATCH_TOLERANCE_FRAC = 0.05
#: The audio feature kinds the cache can compute (``DataSettings.audio_features``).
CACHED_AUDIO_FEATURES = ("mel", "whisper")


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class ClipSource:
    """The files of one clip. ``split`` is one of :data:`SPLITS` ("all" = no split file)."""

    name: str
    motion: Path
    audio: Path
    transcript: Path | None = None
    labels: Path | None = None
    split: str = "all"


@dataclass
class DataReport:
    """Everything found, used and skipped while reading one dataset folder."""

    root: Path
    format: str
    found: int = 0
    used: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skip(self, what: str, why: str) -> None:
        self.problems.append((what, why))

    def summary(self, max_lines: int = 30) -> str:
        lines = [
            f"dataset {self.root} ({self.format}): {len(self.used)} clip(s) used, "
            f"{len(self.problems)} problem(s)"
        ]
        lines += [f"  note: {n}" for n in self.notes]
        for what, why in self.problems[:max_lines]:
            lines.append(f"  skipped {what}: {why}")
        if len(self.problems) > max_lines:
            lines.append(f"  ... and {len(self.problems) - max_lines} more")
        return "\n".join(lines)


def detect_format(root: str | Path) -> str:
    """Guess the layout of ``root``: "beat2", "trinity" or "folder"."""
    root = Path(root)
    if not root.is_dir():
        raise EggError(f"dataset folder {root} does not exist or is not a folder")
    if (root / "smplxflame_30").is_dir():
        return "beat2"
    names = {p.name.lower() for p in root.iterdir() if p.is_dir()}
    if "motion" in names and "audio" in names:
        return "trinity"
    return "folder"


def _read_split_file(path: Path) -> dict[str, str]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EggError(f"cannot read the split file {path}: {exc}") from exc
    if rows and not {"id", "type"} <= set(rows[0]):
        raise EggError(f"{path} must have the columns 'id,type' (BEAT2 form); found {list(rows[0])}")
    return {r["id"].strip(): r["type"].strip().lower() for r in rows if r.get("id")}


def _split_matches(clip_split: str, wanted: str | None) -> bool:
    if wanted in (None, "all") or clip_split == "all":
        return True
    if wanted == "train":
        return clip_split in ("train", "additional")
    return clip_split == wanted


def _subdir(root: Path, name: str) -> Path | None:
    for p in root.iterdir():
        if p.is_dir() and p.name.lower() == name.lower():
            return p
    return None


def _index_by_stem(files: Iterable[Path], exts: Sequence[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        if f.is_file() and f.suffix.lower() in exts and not f.name.endswith(LABELS_SUFFIX):
            out.setdefault(f.stem, f)
    return out


def add_dataset_arguments(parser: argparse.ArgumentParser, *, split: str, data_required: bool = True,
                          data_help: str = "dataset folder (BEAT2, Trinity or new-speaker layout)") -> None:
    """The dataset options every training CLI shares (--data, --format, --split, --speakers)."""
    parser.add_argument("--data", required=data_required, default=None, help=data_help)
    parser.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    parser.add_argument("--split", default=split, help=f"split to use: train/val/test/all (default {split})")
    parser.add_argument("--speakers", nargs="*", default=None, help="BEAT2 speaker ids to keep, e.g. 2")


def discover_clips(
    root: str | Path,
    fmt: str = "auto",
    split: str | None = None,
    speakers: Sequence[str | int] | None = None,
    report: DataReport | None = None,
) -> tuple[list[ClipSource], DataReport]:
    """List the clips of a dataset folder, pairing motion, audio, transcript and labels.

    ``split`` keeps one split ("train" includes BEAT2's "additional"); ``None`` keeps all.
    ``speakers`` (BEAT2 only) keeps ids whose first ``_`` field is one of them.
    """
    root = Path(root)
    if fmt == "auto":
        fmt = detect_format(root)
    if fmt not in FORMATS:
        raise EggError(f"unknown dataset format {fmt!r}; use one of {', '.join(FORMATS)} or auto")
    if not root.is_dir():
        raise EggError(f"dataset folder {root} does not exist or is not a folder")
    report = report or DataReport(root=root, format=fmt)
    if fmt == "beat2":
        clips = _discover_beat2(root, report, speakers)
    elif fmt == "trinity":
        clips = _discover_trinity(root, report)
    else:
        clips = _discover_folder(root, report)
    report.found = len(clips)
    if fmt != "beat2":
        split_file = root / "train_test_split.csv"
        if split_file.is_file():
            table = _read_split_file(split_file)
            clips = [
                ClipSource(c.name, c.motion, c.audio, c.transcript, c.labels, table.get(c.name, "all"))
                for c in clips
            ]
        elif split not in (None, "all"):
            report.notes.append(
                f"no train_test_split.csv in {root}: every clip is used for split '{split}'"
            )
    kept = [c for c in clips if _split_matches(c.split, split)]
    if split not in (None, "all") and len(kept) < len(clips):
        report.notes.append(f"{len(clips) - len(kept)} clip(s) belong to other splits than '{split}'")
    return kept, report


def _discover_beat2(root: Path, report: DataReport, speakers: Sequence[str | int] | None) -> list[ClipSource]:
    motion_dir = root / "smplxflame_30"
    wave_dir = _subdir(root, "wave16k")
    tg_dir = _subdir(root, "textgrid")
    motions = _index_by_stem(motion_dir.iterdir(), (".npz",))
    waves = _index_by_stem(wave_dir.iterdir(), AUDIO_EXTENSIONS) if wave_dir else {}
    grids = _index_by_stem(tg_dir.iterdir(), (".textgrid",)) if tg_dir else {}
    if wave_dir is None:
        report.notes.append(f"{root} has no wave16k/ folder")
    split_file = root / "train_test_split.csv"
    table = _read_split_file(split_file) if split_file.is_file() else {}
    if not table:
        report.notes.append(f"no train_test_split.csv in {root}: every clip is used for every split")
    wanted = None if speakers is None else {str(s) for s in speakers}
    clips = []
    for cid in sorted(set(motions) | set(waves) | set(table)):
        if wanted is not None and cid.split("_")[0] not in wanted:
            continue
        if cid not in motions:
            report.skip(cid, "no motion file smplxflame_30/" + cid + ".npz")
            continue
        if cid not in waves:
            report.skip(cid, "no audio file wave16k/" + cid + ".wav")
            continue
        if cid not in grids:
            report.notes.append(f"{cid}: no TextGrid, trained without words")
        clips.append(ClipSource(cid, motions[cid], waves[cid], grids.get(cid), None, table.get(cid, "all")))
    return clips


def _discover_trinity(root: Path, report: DataReport) -> list[ClipSource]:
    motion_dir = _subdir(root, "Motion")
    audio_dir = _subdir(root, "Audio")
    tr_dir = _subdir(root, "Transcripts") or _subdir(root, "Transcript")
    assert motion_dir is not None and audio_dir is not None  # detect_format checked
    motions = _index_by_stem(motion_dir.iterdir(), (".bvh",))
    audios = _index_by_stem(audio_dir.iterdir(), AUDIO_EXTENSIONS)
    trans = _index_by_stem(tr_dir.iterdir(), (".json",)) if tr_dir else {}
    clips = []
    for stem in sorted(set(motions) | set(audios)):
        if stem not in motions:
            report.skip(str(audios[stem]), "no motion file Motion/" + stem + ".bvh")
        elif stem not in audios:
            report.skip(str(motions[stem]), "no audio file Audio/" + stem + ".wav")
        else:
            clips.append(ClipSource(stem, motions[stem], audios[stem], trans.get(stem)))
    return clips


def _discover_folder(root: Path, report: DataReport) -> list[ClipSource]:
    audio_exts = AUDIO_EXTENSIONS
    by_dir: dict[Path, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        by_dir[Path(dirpath)] = [Path(dirpath) / f for f in sorted(filenames)]
    clips = []
    for folder, files in by_dir.items():
        motions = _index_by_stem(files, MOTION_EXTENSIONS)
        audios = _index_by_stem(files, audio_exts)
        trans = _index_by_stem(files, TRANSCRIPT_EXTENSIONS)
        for stem in sorted(set(motions) | set(audios)):
            if stem not in motions:
                report.skip(str(audios[stem]), f"audio without a motion file {stem}.npz/.bvh beside it")
                continue
            if stem not in audios:
                report.skip(str(motions[stem]), f"motion without an audio file {stem}.wav (or other audio) beside it")
                continue
            labels = folder / (stem + LABELS_SUFFIX)
            clips.append(
                ClipSource(stem, motions[stem], audios[stem], trans.get(stem), labels if labels.is_file() else None)
            )
    return clips


# --------------------------------------------------------------------------- reading clips


def bvh_joint_map(bvh: BvhMotion) -> dict[int, int]:
    """SMPL-X joint index -> BVH joint index, for the joints that play the same body part.

    Found by :func:`egg_core.retarget.detect_bone_map` (the names of every common
    convention, then the hierarchy), the detection the Blender add-on and
    ``generate --target-skeleton`` use too. Chain parts (spine, neck) pair their joints in
    order; :func:`bvh_to_smplx_poses` spreads chains of other lengths by position instead.
    """
    mapping = detect_bone_map(rig_from_bvh(bvh))
    names = bvh.skeleton.joint_names
    out: dict[int, int] = {}
    for part, bones in mapping.parts.items():
        for joint, bone in zip(smplx_bone_map().parts[part], bones, strict=False):
            out[SMPLX.index(joint)] = names.index(bone)
    return out


def bvh_to_smplx_poses(bvh: BvhMotion) -> np.ndarray:
    """SMPL-X axis-angle poses ``(T, 55, 3)`` of a mocap BVH of any joint naming.

    :func:`egg_core.retarget.bvh_to_smplx_motion`: each matched SMPL-X joint points where
    its BVH bone points, with both rest poses corrected (an A-pose recording gives SMPL-X
    T-pose-relative rotations); extra spine or neck joints are spread over SMPL-X's by
    position; unmatched SMPL-X joints keep their rest rotation.
    """
    return bvh_to_smplx_motion(bvh).poses


def read_clip_motion(path: Path) -> Motion:
    """Read a motion file (BEAT2 npz or BVH) as an SMPL-X :class:`Motion` at its own rate."""
    if path.suffix.lower() == ".npz":

        return read_beat2_npz(path)

    bvh = read_bvh(path)
    if set(SMPLX.joint_names) <= set(bvh.skeleton.joint_names):
        return bvh_to_motion(bvh)
    return bvh_to_smplx_motion(bvh)


def read_labels(path: Path) -> list[tuple[str, float, float]]:
    """Read ``<stem>.labels.json``: a list (or ``{"labels": [...]}``) of class/start/end."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EggError(f"cannot read the labels file {path}: {exc}") from exc
    items = data.get("labels") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise EggError(f"{path}: expected a list of {{'class', 'start', 'end'}} objects")
    out = []
    for k, it in enumerate(items):
        try:
            out.append((str(it["class"]), float(it["start"]), float(it["end"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise EggError(f"{path}: label {k} needs 'class', 'start' and 'end' (seconds): {exc}") from exc
    return out


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class DataSettings:
    """What the cached features depend on (hashed into the cache key)."""

    fps: float = 15.0
    joint_set: str = "gesture"
    text_encoder: str = "auto"
    sample_rate: int = 16000
    #: "mel" (:func:`compute_audio_features`) or "whisper" (:func:`compute_whisper_features`)
    audio_features: str = "mel"

    def __post_init__(self) -> None:
        if self.audio_features not in CACHED_AUDIO_FEATURES:
            raise EggError(f"the training feature cache computes {' or '.join(CACHED_AUDIO_FEATURES)} audio "
                           f"features, not {self.audio_features!r}")

    @classmethod
    def from_config(cls, config: object) -> DataSettings:
        """Settings matching a model config (``fps``, ``joint_set``, ``text_encoder``, ``audio_features``)."""
        return cls(
            fps=float(getattr(config, "fps", 15.0)),
            joint_set=str(getattr(config, "joint_set", "gesture")),
            text_encoder=str(getattr(config, "text_encoder", "auto")),
            audio_features=str(getattr(config, "audio_features", "mel")),
        )

    def key(self) -> str:
        """Hash of everything the cached features depend on. The "mel" key is the one written
        before ``audio_features`` existed (that field is left out for mel), so old caches stay valid."""
        fields = asdict(self)
        kind = fields.pop("audio_features")
        blob: dict[str, object] = {
            **fields,
            "text_encoder": resolve_text_encoder(self.text_encoder),
            "audio_dim": audio_mod.AUDIO_FEATURE_DIM,
            "audio_version": audio_mod.AUDIO_FEATURE_VERSION,
            "text_version": text_mod.TEXT_FEATURE_VERSION,
            "text_dim": TEXT_FEATURE_DIM,
            "cache_version": CACHE_VERSION,
        }
        if kind != "mel":
            blob.update(audio_features=kind, audio_dim=audio_mod.WHISPER_FEATURE_DIM,
                        audio_version=audio_mod.WHISPER_FEATURE_VERSION)
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class PreparedClip:
    """One clip as model features, all at ``DataSettings.fps`` and of equal length T."""

    name: str
    motion: np.ndarray  # (T, J*6) rot6d of the joint set
    motion_mirror: np.ndarray  # (T, J*6) the same performance mirrored left/right
    audio: np.ndarray  # (T, F_audio)
    text: np.ndarray  # (T, D_text)
    labels: np.ndarray  # (T,) int64 class id per frame, -1 where unlabelled
    class_names: tuple[str, ...] = ()
    source: ClipSource | None = None
    speed_sum: np.ndarray | None = None  # (55,) sum of FK joint speeds at 30 fps (BC normaliser)
    speed_frames: int = 0
    pose_outer: np.ndarray | None = None  # (55, 4, 4) sum of q q^T of every joint, motion and mirror
    # the whole body at ``DataSettings.fps`` (the whole-body model's features are made from these)
    poses: np.ndarray | None = None  # (T, 55, 3) axis-angle
    trans: np.ndarray | None = None  # (T, 3)
    expressions: np.ndarray | None = None  # (T, 100); mirrored copies keep them (FLAME has no mirror map)
    poses_mirror: np.ndarray | None = None
    trans_mirror: np.ndarray | None = None
    #: more per-frame arrays a trainer attaches (name -> (normal, mirrored), each (T, ...));
    #: :class:`WindowDataset` cuts them into windows like the motion (e.g. the phase manifold)
    extras: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])


def default_cache_dir() -> Path:
    """``$EGG_CACHE_DIR``, else ``$XDG_CACHE_HOME/eggesture/features`` (``~/.cache/...``)."""
    if os.environ.get("EGG_CACHE_DIR"):
        return Path(os.environ["EGG_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "eggesture" / "features"


def _file_stamp(path: Path | None) -> list:
    if path is None:
        return [None]
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _clip_key(src: ClipSource) -> str:
    blob = json.dumps([src.name] + _file_stamp(src.motion) + _file_stamp(src.audio)
                      + _file_stamp(src.transcript) + _file_stamp(src.labels))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class ClipProblem(Exception):
    """Internal: a clip that cannot be used; the message goes into the report."""


def compute_clip_features(src: ClipSource, settings: DataSettings) -> dict[str, np.ndarray]:
    """Read one clip's files and compute every cached array (see :class:`PreparedClip`)."""

    try:
        motion = read_clip_motion(src.motion)
    except EggError as exc:
        raise ClipProblem(f"unreadable motion: {exc}") from exc
    try:
        wave = load_audio(src.audio, settings.sample_rate)
    except EggError as exc:
        raise ClipProblem(f"unreadable audio: {exc}") from exc
    audio_s = len(wave) / settings.sample_rate
    if abs(motion.duration - audio_s) > max(MISMATCH_TOLERANCE_S, MISMATCH_TOLERANCE_FRAC * audio_s):
        raise ClipProblem(
            f"motion lasts {motion.duration:.2f} s but audio {audio_s:.2f} s; "
            "they do not belong together (or one is cut)"
        )
    words = None
    if src.transcript is not None:

        try:
            words = read_transcript(src.transcript).words
        except EggError as exc:
            raise ClipProblem(f"unreadable transcript: {exc}") from exc
    speed_sum, speed_frames = _speed_statistics(motion)
    if abs(motion.fps - settings.fps) > 1e-6:
        motion = resample_motion(motion, settings.fps)
    if settings.audio_features == "whisper":
        wave16 = resample(wave, settings.sample_rate, audio_mod.WHISPER_SAMPLE_RATE)
        audio = compute_whisper_features(wave16, audio_mod.WHISPER_SAMPLE_RATE, settings.fps)
    else:
        audio = compute_audio_features(wave, settings.sample_rate, settings.fps)
    n = min(motion.num_frames, audio.shape[0])
    poses = motion.poses[:n]
    mirrored, mirrored_trans = mirror_poses(poses, motion.trans[:n])
    text = compute_text_features(words, n, settings.fps, settings.text_encoder)
    labels = np.full(n, -1, dtype=np.int64)
    names: list[str] = []
    if src.labels is not None:
        spans = read_labels(src.labels)
        names = sorted({c for c, _, _ in spans})
        for cls, start, end in spans:
            f0 = max(0, int(round(start * settings.fps)))
            f1 = min(n, max(f0 + 1, int(round(end * settings.fps))))
            labels[f0:f1] = names.index(cls)
    return {
        "motion": poses_to_features(poses, settings.joint_set),
        "motion_mirror": poses_to_features(np.asarray(mirrored), settings.joint_set),
        "audio": np.asarray(audio[:n], np.float32),
        "text": np.asarray(text, np.float32),
        "labels": labels,
        "class_names": np.array(names, dtype=str),
        "speed_sum": speed_sum,
        "speed_frames": np.array(speed_frames, dtype=np.int64),
        "pose_outer": (quat_outer_sum(axis_angle_to_quat(poses.astype(np.float64)))
                       + quat_outer_sum(axis_angle_to_quat(np.asarray(mirrored, np.float64)))),
        "poses": np.asarray(poses, np.float32),
        "trans": np.asarray(motion.trans[:n], np.float32),
        "expressions": np.asarray(motion.expressions[:n], np.float32),
        "poses_mirror": np.asarray(mirrored, np.float32),
        "trans_mirror": np.asarray(mirrored_trans, np.float32),
    }


def _speed_statistics(motion: Motion) -> tuple[np.ndarray, int]:
    """Sum over frames of each joint's FK speed at 30 fps, and the frame count (BC normaliser)."""

    m30 = motion if abs(motion.fps - EVAL_FPS) < 1e-6 else resample_motion(motion, EVAL_FPS)
    speeds = joint_speeds(joint_positions(m30.poses, m30.trans), EVAL_FPS)
    return speeds.sum(axis=0), int(speeds.shape[0])


def mean_velocity(clips: Sequence[PreparedClip]) -> np.ndarray:
    """Mean FK joint speed (55,) at 30 fps over the clips' real motion: the BC normaliser.

    ``training.train`` saves it as ``mean_vel.npy`` in the run folder so that
    ``training.evaluate`` scores BC with the normaliser of the model's own training data.
    """
    total = sum(c.speed_sum for c in clips)
    frames = sum(c.speed_frames for c in clips)
    if frames == 0:
        raise EggError("no motion frames to compute the mean joint speed from")
    return (np.asarray(total, dtype=np.float64) / frames).astype(np.float32)


def mean_posture(clips: Sequence[PreparedClip]) -> np.ndarray:
    """Average pose ``(55, 3)`` axis-angle of the clips' real motion and its mirror image.

    Why: the joints a model does not generate (pelvis orientation, legs, jaw) must hold the
    posture the generated joints were learned on. BEAT2's pelvis is pitched about 17 degrees;
    the spine rotations are relative to it, so a zero pelvis tilts the whole upper body and
    drops the wrists by about 7 cm (docs/QUALITY.md). The mirror makes the mean symmetric.
    """
    sums = [c.pose_outer for c in clips if c.pose_outer is not None]
    if not sums:
        raise EggError("no motion frames to compute the mean posture from")
    return np.asarray(quat_to_axis_angle(quat_average(sum(sums))), dtype=np.float32)


def prepare_clips(
    sources: Sequence[ClipSource],
    settings: DataSettings,
    report: DataReport,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> list[PreparedClip]:
    """Features of every clip, from the cache when present; unusable clips go to ``report``."""

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / settings.key()
    clips = []
    for src in tqdm(sources, desc="preparing clips", unit="clip", disable=not progress or len(sources) < 2):
        path = folder / f"{_clip_key(src)}.npz"
        arrays = None
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
            except (OSError, ValueError):
                arrays = None  # a broken cache entry is simply rebuilt
        if arrays is None:
            try:
                arrays = compute_clip_features(src, settings)
            except ClipProblem as exc:
                report.skip(src.name, str(exc))
                continue
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(path, suffix=".npz") as tmp:
                np.savez(tmp, **arrays)
        report.used.append(src.name)
        clips.append(
            PreparedClip(
                name=src.name,
                motion=arrays["motion"],
                motion_mirror=arrays["motion_mirror"],
                audio=arrays["audio"],
                text=arrays["text"],
                labels=arrays["labels"],
                class_names=tuple(str(c) for c in arrays["class_names"]),
                source=src,
                speed_sum=arrays["speed_sum"],
                speed_frames=int(arrays["speed_frames"]),
                pose_outer=arrays.get("pose_outer"),
                poses=arrays.get("poses"),
                trans=arrays.get("trans"),
                expressions=arrays.get("expressions"),
                poses_mirror=arrays.get("poses_mirror"),
                trans_mirror=arrays.get("trans_mirror"),
            )
        )
    return clips


def unify_class_names(clips: Sequence[PreparedClip]) -> tuple[str, ...]:
    """Give every clip's labels ids into one shared sorted class list (in place); return it."""
    names = tuple(sorted({n for c in clips for n in c.class_names}))
    for c in clips:
        if c.class_names and c.class_names != names:
            remap = np.array([names.index(n) for n in c.class_names], dtype=np.int64)
            c.labels = np.where(c.labels >= 0, remap[np.maximum(c.labels, 0)], -1)
        c.class_names = names
    return names


# --------------------------------------------------------------------------- windows


def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """Starts of ``window``-frame windows every ``stride`` frames, plus one flush with the end."""
    if num_frames < window:
        return []
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] != num_frames - window:
        starts.append(num_frames - window)
    return starts


class WindowDataset(Dataset):
    """Fixed-length training windows over prepared clips (and their mirrored copies).

    Items are dicts of tensors: ``motion (W, J*6)``, ``audio (W, F)``, ``text (W, D)``,
    ``labels (W,)`` (int64, -1 unlabelled), ``clip`` (index into ``clips``) and
    ``mirrored`` (0/1) -- the batch layout ``EGGesture.losses`` takes -- plus one ``(W, ...)``
    tensor per entry of the clips' ``extras``.
    """

    def __init__(self, clips: Sequence[PreparedClip], window: int, stride: int, mirror: bool = True,
                 report: DataReport | None = None) -> None:
        if window < 1 or stride < 1:
            raise EggError(f"window ({window}) and stride ({stride}) must be positive frame counts")
        self.clips = list(clips)
        self.window = window
        self.stride = stride
        self.mirror = mirror
        self.class_names = unify_class_names(self.clips)
        self.index: list[tuple[int, int, bool]] = []
        for ci, clip in enumerate(self.clips):
            starts = window_starts(clip.num_frames, window, stride)
            if not starts and report is not None:
                report.skip(clip.name, f"{clip.num_frames} frames, shorter than one {window}-frame window")
                if clip.name in report.used:
                    report.used.remove(clip.name)
            for s in starts:
                self.index.append((ci, s, False))
                if mirror:
                    self.index.append((ci, s, True))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ci, s, mirrored = self.index[i]
        c = self.clips[ci]
        sl = slice(s, s + self.window)
        motion = c.motion_mirror if mirrored else c.motion
        return {
            "motion": torch.from_numpy(np.ascontiguousarray(motion[sl], dtype=np.float32)),
            "audio": torch.from_numpy(np.ascontiguousarray(c.audio[sl], dtype=np.float32)),
            "text": torch.from_numpy(np.ascontiguousarray(c.text[sl], dtype=np.float32)),
            "labels": torch.from_numpy(np.ascontiguousarray(c.labels[sl], dtype=np.int64)),
            "clip": torch.tensor(ci),
            "mirrored": torch.tensor(int(mirrored)),
            **{name: torch.from_numpy(np.ascontiguousarray(pair[1 if mirrored else 0][sl], dtype=np.float32))
               for name, pair in c.extras.items()},
        }


def load_clips(
    root: str | Path,
    settings: DataSettings,
    fmt: str = "auto",
    split: str | None = None,
    speakers: Sequence[str | int] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[list[PreparedClip], DataReport]:
    """Discover and prepare every clip of a dataset folder (raises :class:`EggError` if none)."""
    sources, report = discover_clips(root, fmt, split, speakers)
    clips = prepare_clips(sources, settings, report, cache_dir, progress)
    if not clips:
        raise EggError(
            f"no usable clip in {root} (format {report.format}, split {split or 'all'}): "
            + (f"found {report.found} candidate(s)\n" + report.summary() if report.found or report.problems
               else "no motion/audio pairs were found; check the folder layout (see training/data.py)")
        )
    return clips, report


def load_dataset(
    root: str | Path,
    settings: DataSettings,
    window: int,
    stride: int,
    fmt: str = "auto",
    split: str | None = "train",
    speakers: Sequence[str | int] | None = None,
    mirror: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    prepare: Callable[[list[PreparedClip]], None] | None = None,
) -> tuple[WindowDataset, DataReport]:
    """Everything a trainer needs: clips -> windows; empty results raise :class:`EggError`.

    ``prepare`` may change the clips in place before windows are cut (the whole-body model
    replaces the motion features and attaches phase targets, :mod:`training.whole_body`)."""
    clips, report = load_clips(root, settings, fmt, split, speakers, cache_dir, progress)
    if prepare is not None:
        prepare(clips)
    ds = WindowDataset(clips, window, stride, mirror, report)
    if len(ds) == 0:
        raise EggError(
            f"no training window: every clip in {root} is shorter than {window} frames "
            f"({window / settings.fps:.1f} s at {settings.fps:g} fps)\n" + report.summary()
        )
    return ds, report
