"""``python -m training.evaluate --checkpoint CKPT --data DIR [--split test] [--evaluator EVAL] --out results.json``

Scores a trained model on the clips of one split and prints a markdown table (and writes
JSON). For every clip the model generates motion from the clip's audio (and words, when a
transcript exists) with the same chained-window generator the add-on uses, at 30 fps; the
joints the model does not produce (lower body, face) and the root translation are taken
from the real motion, so every metric looks at the generated gesture joints only.

Metrics (``training.metrics`` has the exact definitions):

* ``fgd`` -- Frechet distance between evaluator features of real and generated motion,
  with the project's own evaluator (``--evaluator``, made by ``training.train_evaluator``);
  NOT comparable to published FGD numbers. Omitted without ``--evaluator``.
* ``bc`` -- beat consistency against the audio onsets; normaliser from ``--mean-vel``
  (a ``(55,)`` .npy of mean joint speeds, e.g. BEAT2's ``mean_vel_smplxflame_30.npy``),
  else the ``mean_vel.npy`` that ``training.train`` wrote beside the checkpoint (mean speeds
  of the model's training motion), else computed from the real motion of the evaluated
  clips. The output names the one used.
* ``l1div`` (reference definition) and ``pairwise_l1div`` (the paper's eq. 14: groups of
  40 windows of the model's window length).
* ``codebook_usage`` / ``perplexity`` of the VQ-VAE codes of the real motion, and
  ``predicted_usage`` / ``predicted_perplexity`` / ``token_accuracy`` of the classifier's
  most likely codes (teacher-forced seed), per window.
* ``class_recall`` per labelled gesture class (new-speaker folders with
  ``<stem>.labels.json``), plus ``recall_rare`` (classes under 2 % of labelled tokens) and
  ``recall_frequent`` (the others), each a mean over classes.

``--speech DIR`` (added for the bundled model's card) also scores speech that has no motion
at all (e.g. ``../shared/data/real/speech/``): every audio file in DIR is turned into motion
(audio only, no words) and the generated motion's ``bc`` and ``l1div`` are reported under
``speech``; BC's normaliser is resolved as above, except that there is no real motion to
fall back on, so one of ``--mean-vel`` / ``mean_vel.npy`` beside the checkpoint is required.
With ``--speech``, ``--data`` may be left out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from egg_core.atomic import atomic_path
from egg_core.checkpoint import load_checkpoint
from egg_core.cli import run_cli
from egg_core.errors import EggError
from egg_core.formats.audio import AUDIO_EXTENSIONS
from egg_core.formats.transcripts import read_transcript
from egg_core.inference import GestureGenerator
from egg_core.model.parts import LAYOUTS
from egg_core.model.representation import joint_indices
from egg_core.motion import Motion, resample_motion
from egg_core.pipeline import SAMPLE_RATE, SpeechRequest, speech_to_motion
from training.data import (
    DataSettings,
    add_dataset_arguments,
    discover_clips,
    prepare_clips,
    read_clip_motion,
    unify_class_names,
    window_starts,
)
from training.evaluator import NOT_COMPARABLE, FGDEvaluator
from training.metrics import (
    audio_onsets,
    beat_consistency,
    codebook_usage,
    joint_positions,
    l1_div,
    mean_joint_speed,
    pairwise_l1_div,
    per_class_recall,
    read_mean_vel,
)
from training.whole_body import set_part_features

RARE_FRACTION = 0.02


def _clip_inputs(src: Any) -> tuple[Motion, list | None]:
    """Real motion at 30 fps and the words of one clip, exactly as training reads them."""
    motion = read_clip_motion(src.motion)
    if abs(motion.fps - 30.0) > 1e-6:
        motion = resample_motion(motion, 30.0)
    words = read_transcript(src.transcript).words if src.transcript is not None else None
    return motion, words


def _clip_windows(clips: list, win: int, device: torch.device):
    """Non-overlapping windows of the clips: (clip, slice, motion, audio, text) tensors (batch 1)."""
    for c in clips:
        for st in window_starts(c.num_frames, win, win):
            sl = slice(st, st + win)
            yield (c, sl, *(torch.from_numpy(np.ascontiguousarray(a[sl]))[None].to(device)
                            for a in (c.motion, c.audio, c.text)))


@torch.no_grad()
def part_token_metrics(model: Any, clips: list, device: torch.device) -> dict[str, Any]:
    """Whole-body model: codebook usage and perplexity of each part's true codes over
    non-overlapping windows, and how often the cascade's most likely code (no teacher forcing,
    each window seeded by its own true first tokens) is the true one. Means over the parts
    under the single-part names."""
    cfg = model.config
    win, s = cfg.window_frames, cfg.seed_tokens
    true_all, pred_all = [], []
    for _c, _sl, motion, audio, text in _clip_windows(clips, win, device):
        true = model.encode_indices(motion)
        pred = model.sample_window(model.condition(audio, text), true[..., :s] if s > 0 else None, 0.0, None, None)
        true_all.append(true[0, :, s:].cpu().numpy())
        pred_all.append(pred[0, :, s:].cpu().numpy())
    if not true_all:
        return {"note": f"no clip is as long as one {win}-frame window; no codebook statistics"}
    t, p = np.concatenate(true_all, axis=1), np.concatenate(pred_all, axis=1)
    parts = {}
    for k, name in enumerate(model.parts):
        usage, ppl = codebook_usage(t[k], cfg.codebook_size)
        parts[name] = {"codebook_usage": usage, "perplexity": ppl, "token_accuracy": float(np.mean(t[k] == p[k]))}
    mean = {key: float(np.mean([v[key] for v in parts.values()])) for key in ("codebook_usage", "perplexity",
                                                                           "token_accuracy")}
    return {**mean, "parts": parts, "tokens": int(t.shape[1])}


def token_metrics(model: Any, clips: list, device: torch.device) -> dict[str, Any]:
    """Codebook statistics and per-class recall over non-overlapping windows of the clips."""

    cfg = model.config
    if getattr(model, "KIND", "eggesture") == "hip":
        return part_token_metrics(model, clips, device)
    win, ds, s = cfg.window_frames, cfg.downsample, cfg.seed_tokens
    true_all, pred_all, cls_all = [], [], []
    for c, sl, motion, audio, text in _clip_windows(clips, win, device):
        true = model.encode_indices(motion)
        logits = model.predict_logits(audio, text, true[:, :s] if s > 0 else None)
        pred = logits.argmax(-1)
        labels = c.labels[sl][ds // 2 :: ds][: true.shape[1]]
        true_all.append(true[0, s:].cpu().numpy())
        pred_all.append(pred[0, s:].cpu().numpy())
        cls_all.append(labels[s:])
    if not true_all:
        return {"note": f"no clip is as long as one {win}-frame window; no codebook statistics"}
    t, p, c = np.concatenate(true_all), np.concatenate(pred_all), np.concatenate(cls_all)
    usage, ppl = codebook_usage(t, cfg.codebook_size)
    p_usage, p_ppl = codebook_usage(p, cfg.codebook_size)
    out: dict[str, Any] = {"codebook_usage": usage, "perplexity": ppl, "predicted_usage": p_usage,
                           "predicted_perplexity": p_ppl, "token_accuracy": float(np.mean(t == p)),
                           "tokens": int(len(t))}
    names = clips[0].class_names if clips else ()
    if names and np.any(c >= 0):
        recall = per_class_recall(p, t, c)
        counts = {k: int(np.sum(c == k)) for k in recall}
        total = sum(counts.values())
        rare = [recall[k] for k in recall if counts[k] / total < RARE_FRACTION]
        freq = [recall[k] for k in recall if counts[k] / total >= RARE_FRACTION]
        out["class_recall"] = {names[k]: recall[k] for k in recall}
        out["class_frequency"] = {names[k]: counts[k] / total for k in recall}
        out["recall_rare"] = float(np.mean(rare)) if rare else None
        out["recall_frequent"] = float(np.mean(freq)) if freq else None
    return out


def motion_metrics(real: list[np.ndarray], gen: list[np.ndarray], trans: list[np.ndarray],
                   waves: list[np.ndarray], mean_vel: np.ndarray, joint_idx: list[int],
                   pair_window: int) -> dict[str, dict[str, float | None]]:
    """BC, L1div and pairwise L1Div of generated and of real motion (poses at 30 fps)."""

    onsets = [audio_onsets(w, SAMPLE_RATE) for w in waves]
    out: dict[str, dict[str, float | None]] = {}
    for name, poses in (("generated", gen), ("real", real)):
        pos_t = [joint_positions(p, tr) for p, tr in zip(poses, trans, strict=True)]
        pos_0 = [joint_positions(p) for p in poses]
        row: dict[str, float | None] = {
            "bc": beat_consistency(pos_t, onsets, mean_vel),
            "l1div": l1_div(pos_0),
        }
        wins = [p[i : i + pair_window, joint_idx].reshape(pair_window, -1)
                for p in poses for i in range(0, len(p) - pair_window + 1, pair_window)]
        row["pairwise_l1div"] = pairwise_l1_div(wins) if len(wins) >= 2 else None
        out[name] = row
    return out


def evaluate(checkpoint: str | Path, data: str | Path, split: str | None = "test", fmt: str = "auto",
             evaluator: str | Path | None = None, mean_vel: str | Path | None = None,
             speakers: list[str] | None = None, device: str = "auto", seed: int = 0,
             temperature: float = 1.0, max_clips: int | None = None, cache_dir: str | Path | None = None,
             save_mean_vel: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Compute every metric; returns the results dict written as JSON by the CLI."""


    model, meta = load_checkpoint(checkpoint, device)
    dev = next(model.parameters()).device
    cfg = model.config
    gen = GestureGenerator(model, meta, dev)
    sources, report = discover_clips(data, fmt, split, speakers)
    if max_clips:
        sources = sources[:max_clips]
    settings = DataSettings(fps=cfg.fps, joint_set=cfg.joint_set, text_encoder=gen.text_encoder)
    prepared = prepare_clips(sources, settings, report, cache_dir, progress=False)
    # one shared class list: each clip's labels file names only its own classes, so the raw
    # ids of different clips do not agree (token_metrics pools them)
    unify_class_names(prepared)
    usable = {c.name for c in prepared}
    sources = [s for s in sources if s.name in usable]
    if not sources:
        raise EggError(f"no usable clip to evaluate in {data} (split {split or 'all'})\n" + report.summary())

    if gen.whole_body:  # every generated joint is scored; the features come from the cache
        set_part_features(prepared, cfg)
        idx = sorted({j for p in cfg.part_names for j in LAYOUTS[p].joints})
    else:
        idx = list(joint_indices(cfg.joint_set))
    real, fake, trans, waves = [], [], [], []
    for k, src in enumerate(tqdm(sources, desc="generating", unit="clip", disable=not progress)):
        motion, words = _clip_inputs(src)
        request = SpeechRequest(audio=src.audio, words=words or [], fps=30.0, seed=seed + k,
                                temperature=temperature)
        result = speech_to_motion(gen, request)
        out, wave = result.motion, result.wave
        n = min(motion.num_frames, out.num_frames)
        composite = motion.poses[:n].copy()
        composite[:, idx] = out.poses[:n, idx]
        real.append(motion.poses[:n])
        fake.append(composite)
        trans.append(motion.trans[:n])
        waves.append(wave[: int(round(n / 30.0 * SAMPLE_RATE))])

    mv, mv_source = resolve_mean_vel(checkpoint, mean_vel)
    if mv is None:
        mv = mean_joint_speed([joint_positions(p, t) for p, t in zip(real, trans, strict=True)])
        mv_source = "computed from the real motion of the evaluated clips (pass --mean-vel to fix it)"
    if save_mean_vel is not None:
        np.save(save_mean_vel, mv.astype(np.float32))

    pair_window = int(round(cfg.window_frames / cfg.fps * 30.0))
    if min(len(p) for p in fake) < pair_window or sum(len(p) // pair_window for p in fake) < 2:
        pair_window = max(30, min(len(p) for p in fake) // 2)
    rows = motion_metrics(real, fake, trans, waves, mv, idx, pair_window)
    results: dict[str, Any] = {
        "checkpoint": str(checkpoint), "data": str(data), "split": split or "all",
        "clips": len(sources), "seconds": float(sum(len(p) for p in real) / 30.0),
        "metrics": dict(rows["generated"]), "real_motion": rows["real"],
        "mean_vel": mv_source, "pairwise_l1div_window_frames_30fps": pair_window,
        "generation": {"seed": seed, "temperature": temperature},
        "problems": [f"{a}: {b}" for a, b in report.problems], "notes": report.notes,
    }
    if evaluator is not None:

        ev = FGDEvaluator.load(evaluator, dev)
        results["metrics"]["fgd"] = ev.fgd(real, fake)
        results["evaluator"] = str(evaluator)
        results["fgd_note"] = NOT_COMPARABLE
    else:
        results["metrics"]["fgd"] = None
        results["fgd_note"] = "no --evaluator given: FGD not computed (train one with training.train_evaluator)"
    results["metrics"].update(token_metrics(model, prepared, dev))
    return results


def resolve_mean_vel(checkpoint: str | Path, mean_vel: str | Path | None) -> tuple[np.ndarray | None, str]:
    """BC normaliser: ``mean_vel`` if given, else ``mean_vel.npy`` beside the checkpoint, else None."""
    beside = Path(checkpoint).parent / "mean_vel.npy"
    if mean_vel is None and beside.is_file():
        mean_vel = beside
    if mean_vel is None:
        return None, "none"
    return read_mean_vel(mean_vel), str(mean_vel)


def speech_metrics(checkpoint: str | Path, speech: str | Path, mean_vel: str | Path | None = None,
                   device: str = "auto", seed: int = 0, temperature: float = 1.0,
                   progress: bool = True) -> dict[str, Any]:
    """BC and L1div of motion generated from every audio file in ``speech`` (no motion needed).

    Why: the bundled model must be judged on real speech it never saw, and the only such
    speech we have has no motion capture; BC needs only the audio onsets and the generated
    motion, L1div only the generated motion.
    """


    folder = Path(speech)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS) if folder.is_dir() else []
    if not files:
        raise EggError(f"no audio file in {folder}; --speech needs a folder of speech recordings")
    mv, mv_source = resolve_mean_vel(checkpoint, mean_vel)
    if mv is None:
        raise EggError("--speech needs a BC normaliser: pass --mean-vel (e.g. BEAT2's "
                       "mean_vel_smplxflame_30.npy) or keep training's mean_vel.npy beside the checkpoint")
    model, meta = load_checkpoint(checkpoint, device)
    gen = GestureGenerator(model, meta, next(model.parameters()).device)
    pos_t, pos_0, onsets, seconds = [], [], [], 0.0
    for k, path in enumerate(tqdm(files, desc="speech", unit="file", disable=not progress)):
        result = speech_to_motion(gen, SpeechRequest(audio=path, fps=30.0, seed=seed + k,
                                                     temperature=temperature))
        out, wave = result.motion, result.wave
        pos_t.append(joint_positions(out.poses, out.trans))
        pos_0.append(joint_positions(out.poses))
        onsets.append(audio_onsets(wave[: int(round(out.num_frames / 30.0 * SAMPLE_RATE))], SAMPLE_RATE))
        seconds += out.num_frames / 30.0
    return {"folder": str(folder), "files": [p.name for p in files], "seconds": seconds,
            "bc": beat_consistency(pos_t, onsets, mv), "l1div": l1_div(pos_0), "mean_vel": mv_source,
            "generation": {"seed": seed, "temperature": temperature}}


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v)


def markdown_table(results: dict[str, Any]) -> str:
    """The results as a markdown table (generated vs real motion where both apply)."""
    m, r = results["metrics"], results["real_motion"]
    lines = [f"Evaluation of {results['checkpoint']} on {results['data']} "
             f"(split {results['split']}, {results['clips']} clips, {results['seconds']:.1f} s)", "",
             "| metric | generated | real motion |", "| --- | --- | --- |"]
    names = [("fgd", "FGD (own evaluator, not comparable to published)"), ("bc", "BC"),
             ("l1div", "L1div (reference)"), ("pairwise_l1div", "L1Div pairwise (paper eq. 14)"),
             ("codebook_usage", "codebook usage (real motion codes)"), ("perplexity", "codebook perplexity"),
             ("predicted_usage", "predicted code usage"), ("predicted_perplexity", "predicted code perplexity"),
             ("token_accuracy", "token accuracy"), ("recall_rare", "recall, rare classes (<2%)"),
             ("recall_frequent", "recall, frequent classes")]
    for key, label in names:
        if key in m or key in r:
            lines.append(f"| {label} | {_fmt(m.get(key))} | {_fmt(r.get(key))} |")
    for cls, rec in (m.get("class_recall") or {}).items():
        freq = m["class_frequency"][cls]
        lines.append(f"| recall '{cls}' ({100 * freq:.1f}% of labelled tokens) | {_fmt(rec)} | |")
    lines += ["", f"BC normaliser: {results['mean_vel']}", f"FGD: {results['fgd_note']}"]
    return "\n".join(lines)


def speech_table(sp: dict[str, Any]) -> str:
    """The ``--speech`` results as a short markdown table."""
    return "\n".join([f"Generated from the speech in {sp['folder']} ({len(sp['files'])} files, "
                      f"{sp['seconds']:.1f} s, audio only)", "", "| metric | generated |", "| --- | --- |",
                      f"| BC | {_fmt(sp['bc'])} |", f"| L1div (reference) | {_fmt(sp['l1div'])} |", "",
                      f"BC normaliser: {sp['mean_vel']}"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="model .safetensors (e.g. RUN_DIR/model.safetensors)")
    add_dataset_arguments(ap, split="test", data_required=False,
                          data_help="dataset folder (required unless --speech is given)")
    ap.add_argument("--speech", default=None, help="also score motion generated from the audio files in this folder")
    ap.add_argument("--evaluator", default=None, help="FGD evaluator from training.train_evaluator")
    ap.add_argument("--mean-vel", default=None, help="(55,) .npy of mean joint speeds for BC")
    ap.add_argument("--save-mean-vel", default=None, help="write the BC normaliser used to this .npy")
    ap.add_argument("--out", required=True, help="results .json")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--max-clips", type=int, default=None)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    return run_cli(lambda: _evaluate_cli(args), quiet=args.quiet)


def _evaluate_cli(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise EggError(f"{out} already exists; pass --overwrite to replace it")
    if args.data is None and args.speech is None:
        raise EggError("give --data (a dataset folder) and/or --speech (a folder of speech)")
    results: dict[str, Any] = {"checkpoint": str(args.checkpoint)}
    if args.data is not None:
        results = evaluate(args.checkpoint, args.data, None if args.split == "all" else args.split,
                           args.format, args.evaluator, args.mean_vel, args.speakers, args.device,
                           args.seed, args.temperature, args.max_clips, args.cache_dir,
                           args.save_mean_vel, progress=not args.quiet)
        print(markdown_table(results))
    if args.speech is not None:
        results["speech"] = speech_metrics(args.checkpoint, args.speech, args.mean_vel, args.device,
                                           args.seed, args.temperature, progress=not args.quiet)
        print(speech_table(results["speech"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
