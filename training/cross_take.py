"""``python -m training.cross_take --work DIR``: train on one real take, test on the other, both ways.

Why: with two takes of one speaker, the only honest measure of a recipe is speech the model
never heard, against the real motion for that speech. Each direction trains a model on one take
(mirrored, with its words) and scores it with :mod:`training.realism` on the other take, with the
training take itself as the real-vs-real baseline; the table reports both directions and their
mean, over ``--eval-seeds``.

::

    python -m training.cross_take --work DIR [--tag NAME] [--ablation eg-no-reweight]
        [--audio-features mel|whisper] [--epochs 500] [--batch-size 16] [--seed 0] [--threads 1]
        [--temperature 0.4] [--top-k K] [--eval-seeds 0 1] [--no-words] [--out table.md]

``DIR`` (outside the repository) gets ``data_<take>/`` (symlinks), ``run_<tag>_<take>/`` (the
run folders; a finished run is reused) and ``realism_<tag>_<take>_s<seed>.json``. Generation
uses the words of the test take's TextGrid unless ``--no-words`` (same models, words withheld).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from egg_core.cli import run_cli
from egg_core.errors import EggError
from training import realism
from training.train import TrainSettings, train_run
from training.workdir import link_takes, prepare_work_dir, run_finished, start_step, wait_any

log = logging.getLogger("training.cross_take")
REPO = Path(__file__).resolve().parents[1]
BEAT2 = REPO.parent / "shared" / "data" / "real" / "beat2"
TAKES = (BEAT2 / "2_scott_0_1_1.npz", BEAT2 / "2_scott_0_2_2.npz")
#: Figures summarised in the table: (key, label, how it is read against real motion).
SUMMARY = (
    ("frechet", "Fréchet distance / real-vs-real", "ratio_to_baseline"),
    ("wrist_height_mean", "wrist height − real (cm)", "difference_cm"),
    ("wrist_height_std", "wrist height spread / real", "ratio_to_reference"),
    ("median_wrist_speed", "median wrist speed / real", "ratio_to_reference"),
    ("l1div", "L1div / real", "ratio_to_reference"),
    ("bc", "BC − real", "difference"),
    ("seam_ratio", "seam ratio", "value"),
    ("jaw_loudness", "jaw–loudness correlation (real 0.30 / 0.15)", "value"),
    ("expression_mse", "expression MSE against real", "value"),
    ("jaw_mse", "jaw MSE against real (rad²)", "value"),
    ("foot_skating", "foot speed in contact, median cm/s (real 1.2–2.1)", "value"),
)


def train_settings(data: Path, run: Path, args: argparse.Namespace) -> TrainSettings:
    """One direction's training run: the small preset on every window of one take."""
    return TrainSettings(data=str(data), format="folder", split="all", out=str(run), config="small",
                         model=args.model, ablation=args.ablation, audio_features=args.audio_features,
                         text_dropout=args.text_dropout or None, epochs=args.epochs,
                         batch_size=args.batch_size, seed=args.seed, threads=args.threads,
                         no_tensorboard=True, quiet=True)
#: Where the "real" column of a figure comes from: the test take's own real motion (a property
#: of one motion), or the training take held against the test take (an error against real).
REAL_COLUMN = {"jaw_loudness": "reference", "foot_skating": "reference",
               "expression_mse": "baseline", "jaw_mse": "baseline"}


def figure(report: dict[str, Any], key: str, how: str) -> float | None:
    """One summary number of a realism report, read as :data:`SUMMARY` says."""
    g, r = report["generated"].get(key), report["reference"].get(key)
    if g is None:
        return None
    if how == "ratio_to_baseline":
        return report["ratio_to_baseline"].get(key)
    if how == "ratio_to_reference":
        return None if not r else g / r
    if how == "difference_cm":
        return 100.0 * (g - r)
    if how == "difference":
        return g - r
    return g


def summary_table(reports: dict[str, list[dict[str, Any]]], title: str) -> tuple[str, dict[str, Any]]:
    """Markdown table (one column per direction, then the mean) and the numbers behind it."""
    directions = list(reports)
    numbers: dict[str, Any] = {}
    lines = [title, "", "| figure | " + " | ".join(directions) + " | mean | real-vs-real |",
             "| --- | " + " | ".join("---" for _ in directions) + " | --- | --- |"]
    def mean_of(values: list[float | None]) -> float | None:
        kept = [v for v in values if v is not None]  # None: the figure does not apply (a still jaw)
        return float(np.mean(kept)) if kept else None

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.3g}"

    for key, label, how in SUMMARY:
        per = [mean_of([figure(r, key, how) for r in reports[d]]) for d in directions]
        mean = mean_of(per)
        real = {"ratio_to_baseline": "1", "difference_cm": "0", "ratio_to_reference": "1",
                "difference": "0"}.get(how, "~1")
        if key in REAL_COLUMN:  # the real motion's own figure, or the other real take's
            real = fmt(mean_of([mean_of([r.get(REAL_COLUMN[key], {}).get(key) for r in reports[d]]) for d in directions]))
        numbers[key] = {"per_direction": dict(zip(directions, per, strict=True)), "mean": mean}
        lines.append(f"| {label} | " + " | ".join(fmt(v) for v in per) + f" | **{fmt(mean)}** | {real} |")
    return "\n".join(lines), numbers


def _study(args: argparse.Namespace) -> None:
    work = prepare_work_dir(args.work)
    takes = [Path(t) for t in args.takes]
    if len(takes) != 2:
        raise EggError("--takes needs exactly two takes (motion .npz with .wav beside it)")
    tag = args.tag or (f"{args.ablation}_{args.audio_features}" + (f"_td{args.text_dropout:g}" if args.text_dropout else "")
                       + ("" if args.model == "eg" else f"_{args.model}"))
    plans = []
    for train_take, test_take in ((takes[0], takes[1]), (takes[1], takes[0])):
        data = link_takes(work / f"data_{train_take.stem}", [train_take])
        run = work / f"run_{tag}_{train_take.stem}"
        plans.append((train_take, test_take, run, train_settings(data, run, args)))
    steps = [start_step(train_run, s, label=s.command(), log=work / f"train_{tag}_{tr.stem}.log",
                        threads=args.threads)
             for tr, _, run, s in plans if not run_finished(run, args.epochs)]
    while steps:
        for step in wait_any(steps):
            steps.remove(step)
            step.wait()
    if args.train_only:
        return
    reports: dict[str, list[dict[str, Any]]] = {}
    for train_take, test_take, run, _ in plans:
        direction = f"{train_take.stem} → {test_take.stem}"
        reports[direction] = []
        for seed in args.eval_seeds:
            out = work / f"realism_{tag}{'_nowords' if args.no_words else ''}_{train_take.stem}_s{seed}.json"
            argv = ["--checkpoint", str(run / "model.safetensors"), "--reference", str(test_take),
                    "--audio", str(test_take.with_suffix(".wav")), "--baseline", str(train_take),
                    "--seed", str(seed), "--temperature", str(args.temperature), "--out", str(out),
                    "--overwrite", "--quiet"]
            grid = test_take.with_suffix(".TextGrid")
            if grid.is_file() and not args.no_words:
                argv += ["--transcript", str(grid)]
            if args.top_k:
                argv += ["--top-k", str(args.top_k)]
            realism.run_realism(realism.build_parser().parse_args(argv))
            reports[direction].append(json.loads(out.read_text(encoding="utf-8")))
    title = (f"Cross-take protocol, recipe `{tag}` (model {args.model}, {args.ablation}, {args.audio_features} audio, "
             f"text dropout {args.text_dropout:g}, "
             f"{args.epochs} epochs, seed {args.seed}); generation T={args.temperature:g}"
             f"{f', top-k {args.top_k}' if args.top_k else ''}, {'no words' if args.no_words else 'with words'}, "
             f"mean over evaluation seeds {', '.join(map(str, args.eval_seeds))}")
    table, numbers = summary_table(reports, title)
    print(table)
    out = Path(args.out) if args.out else work / f"cross_take_{tag}{'_nowords' if args.no_words else ''}.md"
    out.write_text(table + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"recipe": vars(args), "summary": numbers}, indent=2,
                                                   default=str), encoding="utf-8")
    log.info("wrote %s", out)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.cross_take", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="working folder outside the repository")
    ap.add_argument("--takes", nargs=2, default=[str(t) for t in TAKES], help="the two takes (.npz)")
    ap.add_argument("--tag", default=None, help="name of the recipe in file names (default ablation_features)")
    ap.add_argument("--model", default="eg", choices=["eg", "parts", "cascade", "hip"],
                    help="single-part model or a whole-body variant (python -m training.train --model)")
    ap.add_argument("--ablation", default="eg-no-reweight")
    ap.add_argument("--audio-features", default="mel", choices=["mel", "whisper"])
    ap.add_argument("--text-dropout", type=float, default=0.3,
                    help="chance a training window's words are withheld (the model must work without words)")
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="threads per training process (both run at once)")
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--eval-seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--no-words", action="store_true", help="generate without the test take's words")
    ap.add_argument("--train-only", action="store_true", help="train (or finish) the runs, score nothing")
    ap.add_argument("--out", default=None, help="markdown table (default WORK/cross_take_<tag>.md)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _study(args),
                   interrupted="interrupted; the runs saved their state, run the same command again to continue")


if __name__ == "__main__":
    raise SystemExit(main())
