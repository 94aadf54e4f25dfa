"""The whole dataset: every clip in a fresh process, the train/val/test split, the manifest."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from egg_core.errors import EggError
from egg_core.speech_synth import espeak_available
from training.synth.clips import ClipResult, SynthSettings, write_clip
from training.synth.constants import FPS, GENERATOR_VERSION, SAMPLE_RATE, STEM_PREFIX
from training.synth.idle import IdleSource
from training.synth.vocabulary import GESTURE_CLASSES, ZIPF_Q, ZIPF_S, zipf_probabilities


def _worker(args: tuple[str, int, SynthSettings, float, bool, IdleSource | None]) -> ClipResult:
    out, index, settings, duration, overwrite, idle = args
    return write_clip(Path(out), index, settings, duration, idle, overwrite)


def split_assignment(n_clips: int, seed: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> list[str]:
    """train/val/test per clip (a seeded shuffle; at least one val and test clip from 3 clips on)."""
    n_val = n_test = 0
    if n_clips >= 3:
        n_val = max(1, int(round(n_clips * fractions[1])))
        n_test = max(1, int(round(n_clips * fractions[2])))
    order = np.random.default_rng([seed, 10_000_019]).permutation(n_clips)
    out = ["train"] * n_clips
    for k in order[:n_test]:
        out[int(k)] = "test"
    for k in order[n_test:n_test + n_val]:
        out[int(k)] = "val"
    return out


def _existing_outputs(out: Path) -> list[Path]:
    """Files of an earlier run in ``out`` (clips, manifest, and its split file)."""
    names = [p for p in out.glob(f"{STEM_PREFIX}*") if p.is_file()]
    if (out / "manifest.json").is_file():
        names += [out / "manifest.json"]
        if (out / "train_test_split.csv").is_file():
            names += [out / "train_test_split.csv"]
    elif (out / "train_test_split.csv").is_file():
        raise EggError(f"{out} holds a train_test_split.csv that training.synth did not write; "
                       "choose an empty --out folder for the synthetic dataset")
    return names


def generate_dataset(out: str | Path, settings: SynthSettings, workers: int = 2, overwrite: bool = False,
                     progress: bool = True) -> dict:
    """Generate the whole dataset into ``out``; returns (and writes) the manifest."""
    out = Path(out)
    if not espeak_available():
        raise EggError("espeak-ng is needed to synthesise the speech of the benchmark; install it "
                       "(e.g. `sudo apt-get install espeak-ng`) and run again")
    if settings.minutes <= 0 or settings.clip_seconds < 3:
        raise EggError("--minutes must be positive and --clip-seconds at least 3")
    if settings.idle_source and not Path(settings.idle_source).is_file():
        raise EggError(f"the idle source {settings.idle_source} does not exist; give a BEAT2 npz "
                       "(e.g. ../shared/data/real/beat2/2_scott_0_1_1.npz) or leave --idle-source out")
    out.mkdir(parents=True, exist_ok=True)
    old = _existing_outputs(out)
    if old and not overwrite:
        raise EggError(f"{out} already holds a generated dataset ({len(old)} files); pass --overwrite "
                       "to replace it or choose another --out folder")
    for p in old:
        p.unlink()
    durations = settings.clip_durations()
    idle = IdleSource.load(settings.idle_source, settings.arm_keep) if settings.idle_source else None
    jobs = [(str(out), k, settings, d, overwrite, idle) for k, d in enumerate(durations)]
    t0 = time.perf_counter()
    results = list(_progress(_map_fresh_processes(jobs, workers), len(jobs), progress))
    elapsed = time.perf_counter() - t0
    splits = split_assignment(len(results), settings.seed, settings.split)
    with (out / "train_test_split.csv").open("w", encoding="utf-8", newline="") as fh:
        fh.write("id,type\n")
        for r, s in zip(results, splits, strict=True):
            fh.write(f"{r.stem},{s}\n")
    manifest = build_manifest(settings, results, splits)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    manifest["_elapsed_s"] = elapsed
    return manifest


def _map_fresh_processes(jobs: list, workers: int) -> Iterator[ClipResult]:
    """Run every clip in a process of its own (results in job order).

    libespeak-ng keeps state from one utterance to the next (its output differs by a few
    samples depending on what was spoken before), so a clip is deterministic only when
    its speech is synthesised in a fresh process. A fork server that has already
    imported the modules a clip needs (but not loaded espeak) hands out those processes cheaply.
    """
    if "forkserver" not in mp.get_all_start_methods():  # e.g. Windows: slower, same result
        ctx = mp.get_context("spawn")
    else:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["egg_core.formats.audio", "soundfile", "egg_core.speech_synth",
                                    "egg_core.formats.beat2", "egg_core.formats.transcripts",
                                    "egg_core.motion", "egg_core.skeleton", "egg_core.rotations"])
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx, max_tasks_per_child=1) as pool:
        yield from pool.map(_worker, jobs)


def _progress(it: Iterable[ClipResult], total: int, enabled: bool) -> Iterable[ClipResult]:
    # lazy: only the parent draws the bar, and each clip's fresh worker process imports
    # this package, so tqdm stays out of their start-up
    from tqdm import tqdm

    return tqdm(it, total=total, desc="synthesising clips", unit="clip", disable=not enabled)


def build_manifest(settings: SynthSettings, results: list[ClipResult], splits: list[str]) -> dict:
    """Settings, per-clip summary and the class frequency table (target vs realised, per split)."""
    probs = zipf_probabilities()
    total = Counter()
    per_split: dict[str, Counter] = {}
    for r, s in zip(results, splits, strict=True):
        total.update(r.classes)
        per_split.setdefault(s, Counter()).update(r.classes)
    n = max(1, sum(total.values()))
    table = [{"rank": k + 1, "class": c.name, "keywords": list(c.keywords), "gesture": c.description,
              "target_p": round(float(probs[k]), 5), "count": int(total[c.name]),
              "fraction": round(total[c.name] / n, 5),
              **{f"count_{s}": int(per_split.get(s, Counter())[c.name]) for s in ("train", "val", "test")}}
             for k, c in enumerate(GESTURE_CLASSES)]
    return {
        "generator": "training.synth", "version": GENERATOR_VERSION,
        "settings": {**asdict(settings), "split": list(settings.split)},
        "idle": ("real BEAT2 segments (mirrored half the time, arms relaxed toward relaxed_pose, "
                 f"keeping {settings.arm_keep:.0%} of the real arm motion)" if settings.idle_source
                 else "procedural (breathing, weight shift, head motion)"),
        "fps": FPS, "sample_rate": SAMPLE_RATE,
        "zipf": {"q": ZIPF_Q, "s": ZIPF_S},
        "clips": len(results),
        "seconds": round(sum(r.seconds for r in results), 3),
        "semantic_gestures": int(sum(total.values())),
        "beats": int(sum(r.beats for r in results)),
        "words": int(sum(r.words for r in results)),
        "classes": table,
        "clip_table": [{**asdict(r), "split": s} for r, s in zip(results, splits, strict=True)],
    }
