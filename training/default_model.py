"""Train, measure and bundle the default model, with one command.

``python -m training.default_model --work DIR --variant real|mix [--install] [--overwrite | --reuse]``

Why: the add-on and the generation CLI need a model that works out of the box on a CPU, and
its model card must hold measured numbers. The only real motion we have is one BEAT2 take
of about a minute, so every step is about not fooling ourselves:

1. :mod:`training.real_split` cuts the take (``--take``) into ``DIR/real/train`` and the
   last ``--holdout`` seconds ``DIR/real/holdout``; the holdout is never trained on.
2. Training data: ``real`` = the training part only (mirrored); ``mix`` = the training part,
   repeated ``--real-repeats`` times so it is not drowned, plus ``--synth-clips`` clips of the
   synthetic benchmark (``--synth``, its train split; made with :mod:`training.synth`).
   The folder ``DIR/data_<variant>`` holds symlinks only.
3. :mod:`training.train` with ``--config small`` for ``--epochs`` epochs (``--threads``).
4. The FGD evaluator is trained on the real training part (``DIR/evaluator_real.safetensors``)
   and :mod:`training.evaluate` scores the model on the held-out tail (FGD, BC, L1div) and on
   the real speech in ``--speech`` that it never saw (BC, L1div; audio only).
5. ``--install`` copies the model with :func:`egg_core.checkpoint.save_checkpoint` to
   :func:`egg_core.checkpoint.default_checkpoint_path`, with the data, config, command,
   training time and metrics in its metadata.

Nothing from the data is written into the repository; only the weights are (with --install).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from egg_core.checkpoint import default_checkpoint_path, load_checkpoint, save_checkpoint
from egg_core.cli import run_cli
from egg_core.errors import EggError
from egg_core.inference import DEFAULT_TEMPERATURE
from training import cross_take, evaluate, real_split, train_evaluator
from training.evaluate import speech_metrics
from training.train import TrainSettings, train_run
from training.workdir import link, link_takes, module_step, prepare_work_dir, run_finished, run_step

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real"


def build_data_folder(work: Path, variant: str, synth: Path | None, synth_clips: int,
                      real_repeats: int) -> Path:
    """``DIR/data_<variant>``: symlinks to the real training part (and synthetic clips)."""
    folder = work / f"data_{variant}"
    folder.mkdir(parents=True, exist_ok=True)
    real = sorted((work / "real" / "train").glob("*.npz"))
    repeats = 1 if variant == "real" else real_repeats
    for npz in real:
        for r in range(repeats):
            stem = f"{npz.stem}_r{r}"
            link(npz, folder / f"{stem}.npz")
            link(npz.with_suffix(".wav"), folder / f"{stem}.wav")
    if variant == "mix":
        if synth is None or not (synth / "train_test_split.csv").is_file():
            raise EggError("--variant mix needs --synth, a folder made by training.synth")
        rows = (synth / "train_test_split.csv").read_text(encoding="utf-8").splitlines()[1:]
        train = [r.split(",")[0] for r in rows if r.endswith(",train")][:synth_clips]
        for stem in train:
            for ext in (".npz", ".wav", ".TextGrid"):
                if (synth / f"{stem}{ext}").is_file():
                    link(synth / f"{stem}{ext}", folder / f"{stem}{ext}")
    return folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.default_model", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="working folder outside the repository")
    ap.add_argument("--variant", choices=["takes", "real", "mix"], default="takes",
                    help="takes: every real take (v2); real: one take minus a holdout (v1); mix: + synthetic")
    ap.add_argument("--takes", nargs="+", default=[str(t) for t in cross_take.TAKES],
                    help="the real takes of --variant takes (.npz with .wav and .TextGrid beside)")
    ap.add_argument("--model", default="eg", choices=["eg", "parts", "cascade", "hip"],
                    help="--variant takes: the network (python -m training.train --model); eg is v2, cascade v3")
    ap.add_argument("--ablation", default=None,
                    help="training recipe (default: eg-no-reweight for takes, full for real/mix)")
    ap.add_argument("--text-dropout", type=float, default=0.3,
                    help="--variant takes: chance a training window's words are withheld")
    ap.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                    help="generation temperature recorded in the model and used by the cross-take check")
    ap.add_argument("--take", default=str(SHARED / "beat2" / "2_scott_0_1_1.npz"))
    ap.add_argument("--speech", default=str(SHARED / "speech"))
    ap.add_argument("--mean-vel", default=str(SHARED / "beat2" / "mean_vel_smplxflame_30.npy"))
    ap.add_argument("--holdout", type=float, default=15.0)
    ap.add_argument("--synth", default=None, help="synthetic benchmark folder (for --variant mix)")
    ap.add_argument("--synth-clips", type=int, default=6)
    ap.add_argument("--real-repeats", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--codebook-init", default=None, choices=["random", "data"],
                    help="passed to training.train (default: the small preset's, random)")
    ap.add_argument("--install", action="store_true", help="bundle the model into egg_core/assets/")
    ap.add_argument("--overwrite", action="store_true", help="retrain a run that exists")
    ap.add_argument("--reuse", action="store_true",
                    help="do not retrain: reuse the finished run and its measured summary (e.g. to --install it)")
    args = ap.parse_args(argv)
    return run_cli(lambda: _build(args),
                   interrupted="interrupted; the steps saved their state, run the same command again to continue")


def _build(args: argparse.Namespace) -> int | None:
    if args.ablation is None:
        args.ablation = "eg-no-reweight" if args.variant == "takes" else "full"
    if args.variant == "takes":
        return _build_from_takes(args)
    work = prepare_work_dir(args.work)
    threads = args.threads
    if not (work / "real" / "holdout").is_dir():
        module_step(real_split, ["--take", args.take, "--out", str(work / "real"), "--holdout", str(args.holdout)],
                    log=work / "real_split.log", threads=threads)
    data = build_data_folder(work, args.variant, Path(args.synth) if args.synth else None,
                             args.synth_clips, args.real_repeats)
    run = work / f"run_{args.variant}"
    train = train_settings(data, run, args)
    results = work / f"results_{args.variant}.json"
    summary_path = work / f"summary_{args.variant}.json"
    eval_argv = ["--checkpoint", str(run / "model.safetensors"), "--data", str(work / "real" / "holdout"),
                 "--format", "folder", "--split", "all", "--evaluator", str(work / "evaluator_real.safetensors"),
                 "--mean-vel", args.mean_vel, "--speech", args.speech, "--seed", str(args.seed),
                 "--out", str(results), "--overwrite", "--quiet"]
    if args.reuse and summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        print(f"reusing {run} and {summary_path}")
        if args.install:
            install(run, args, train, eval_argv, summary)
        return 0
    if run_finished(run, args.epochs) and not args.overwrite:
        # an earlier call trained it and stopped later: its wall time is run.json -> final save
        train_s = (run / "model.safetensors").stat().st_mtime - (run / "run.json").stat().st_mtime
        print(f"{run} is already trained ({train_s:.0f} s); evaluating it")
    else:
        train_s = run_step(train_run, train, label=train.command(), log=work / f"train_{args.variant}.log",
                           threads=threads)
    evaluator = work / "evaluator_real.safetensors"
    if not evaluator.is_file():
        module_step(train_evaluator, ["--data", str(work / "real" / "train"), "--format", "folder", "--split",
                                      "all", "--out", str(evaluator), "--seed", str(args.seed)],
                    log=work / "evaluator_real.log", threads=threads)
    module_step(evaluate, eval_argv, log=work / f"eval_{args.variant}.log", threads=threads)
    print((work / f"eval_{args.variant}.log").read_text(encoding="utf-8"))
    res = json.loads(results.read_text(encoding="utf-8"))
    summary = {"train_seconds": round(train_s, 1), "holdout": {k: res["metrics"].get(k) for k in
               ("fgd", "bc", "l1div", "codebook_usage", "perplexity")},
               "holdout_real_motion": res.get("real_motion"),
               "speech": {k: res["speech"][k] for k in ("bc", "l1div", "seconds", "files")}}
    summary_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary, indent=2))
    if args.install:
        install(run, args, train, eval_argv, summary)
    return 0


def _build_from_takes(args: argparse.Namespace) -> int:
    """v2/v3: the cross-take protocol with this recipe, then one model trained on every take."""
    work = prepare_work_dir(args.work)
    takes = [Path(t) for t in args.takes]
    if args.reuse and (work / "summary_takes.json").is_file():
        summary = json.loads((work / "summary_takes.json").read_text(encoding="utf-8"))
    else:
        status = cross_take.main(
            ["--work", str(work / "cross_take"), "--model", args.model, "--ablation", args.ablation,
             "--epochs", str(args.epochs),
             "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--threads", str(args.threads),
             "--temperature", str(args.temperature), "--text-dropout", str(args.text_dropout),
             "--takes", *map(str, takes[:2])])
        if status != 0:
            raise EggError(f"the cross-take check failed (exit {status}); see {work / 'cross_take'}")
        tag = (f"{args.ablation}_mel" + (f"_td{args.text_dropout:g}" if args.text_dropout else "")
               + ("" if args.model == "eg" else f"_{args.model}"))
        protocol = json.loads((work / "cross_take" / f"cross_take_{tag}.json").read_text(encoding="utf-8"))
        data = link_takes(work / "data_takes", takes)
        run = work / "run_takes"
        train = train_settings(data, run, args)
        if run_finished(run, args.epochs) and not args.overwrite:
            train_s = (run / "model.safetensors").stat().st_mtime - (run / "run.json").stat().st_mtime
        else:
            train_s = run_step(train_run, train, label=train.command(), log=work / "train_takes.log",
                               threads=args.threads)
        speech = speech_metrics(run / "model.safetensors", args.speech, args.mean_vel, "cpu", args.seed,
                                args.temperature, progress=False)
        summary = {"train_seconds": round(train_s, 1), "cross_take": protocol["summary"],
                   "speech": {k: speech[k] for k in ("bc", "l1div", "seconds", "files")}}
        (work / "summary_takes.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary, indent=2))
    if args.install:
        run = work / "run_takes"
        install_takes(run, args, train_settings(work / "data_takes", run, args), summary)
    return 0


def install_takes(run: Path, args: argparse.Namespace, train: TrainSettings, summary: dict[str, Any]) -> Path:
    """Bundle the model of every take (v2: eg, v3: whole body): its recipe, cross-take figures, generation defaults."""
    model, meta = load_checkpoint(run / "model.safetensors", "cpu")
    meta = {k: v for k, v in meta.items() if k not in ("config", "format_version")}
    meta["default_model"] = {
        "version": 2 if args.model == "eg" else 3,
        "data": {"real": ", ".join(Path(t).name for t in args.takes) + " (every frame, mirrored, with words)"},
        "command": dataclasses.replace(train, overwrite=False).command(),
        "study_command": shlex.join(["python", "-m", "training.default_model", "--work", "WORK",
                                     "--variant", "takes", "--model", args.model, "--epochs", str(args.epochs),
                                     "--text-dropout", f"{args.text_dropout:g}", "--install"]),
        "train_seconds": summary["train_seconds"],
        "metrics": summary,
        "hardware": f"CPU, {args.threads} thread{'s' if args.threads != 1 else ''} (shared 2-core machine)",
        "dataset_terms": "trained on BEAT2 material: the BEAT2 dataset's terms apply to these weights",
    }
    meta["generation"] = {"temperature": args.temperature}
    meta["training_data"] = meta["default_model"]["data"]["real"]
    return _bundle(model, meta, run)


def _bundle(model: Any, meta: dict[str, Any], run: Path) -> Path:
    """Write ``model`` with ``meta`` as the bundled default, with the run's BC normaliser beside it."""
    path = default_checkpoint_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, path, meta, overwrite=True)
    mean_vel = run / "mean_vel.npy"
    if mean_vel.is_file():
        (path.parent / "mean_vel.npy").write_bytes(mean_vel.read_bytes())
    print(f"installed {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


def train_settings(data: Path, run: Path, args: argparse.Namespace) -> TrainSettings:
    """The training settings of the default model: the small preset on ``data``, all of it."""
    return TrainSettings(data=str(data), format="folder", split="all", out=str(run), config="small",
                         model=getattr(args, "model", "eg") if getattr(args, "variant", None) == "takes" else "eg",
                         ablation=getattr(args, "ablation", None) or "full",
                         text_dropout=(getattr(args, "text_dropout", None) or None)
                         if getattr(args, "variant", None) == "takes" else None,
                         epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                         threads=args.threads, codebook_init=args.codebook_init or None,
                         overwrite=bool(args.overwrite), no_tensorboard=True, quiet=True)


def install(run: Path, args: argparse.Namespace, train: TrainSettings, eval_argv: list[str],
            summary: dict[str, Any]) -> Path:
    """Save the run's model as the bundled default with everything the model card needs."""
    model, meta = load_checkpoint(run / "model.safetensors", "cpu")
    meta = {k: v for k, v in meta.items() if k not in ("config", "format_version")}
    record = dataclasses.replace(train, overwrite=False)  # how to reproduce it, not how it was forced
    meta["default_model"] = {
        "data": {"real": f"{Path(args.take).name} minus its last {args.holdout:g} s, mirrored",
                 "variant": args.variant,
                 "synthetic": (f"{args.synth_clips} train clips of the synthetic benchmark"
                               if args.variant == "mix" else None)},
        "command": record.command(),
        "evaluation_command": shlex.join(["python", "-m", "training.evaluate", *eval_argv]),
        "train_seconds": summary["train_seconds"],
        "metrics": summary,
        "hardware": f"CPU, {args.threads} thread{'s' if args.threads != 1 else ''} (shared 2-core machine)",
    }
    meta["training_data"] = meta["default_model"]["data"]["real"]
    return _bundle(model, meta, run)


if __name__ == "__main__":
    sys.exit(main())
