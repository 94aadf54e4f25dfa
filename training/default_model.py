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
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from egg_core.errors import EggError
from training.workdir import prepare_work_dir

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real"


def _run(cmd: list[str], log: Path) -> None:
    print("$ " + shlex.join(cmd), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with log.open("w") as fh:
        res = subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise EggError(f"step failed (exit {res.returncode}): {shlex.join(cmd)}; see {log}")


def _link(src: Path, dst: Path) -> None:
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    dst.symlink_to(src.resolve())


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
            _link(npz, folder / f"{stem}.npz")
            _link(npz.with_suffix(".wav"), folder / f"{stem}.wav")
    if variant == "mix":
        if synth is None or not (synth / "train_test_split.csv").is_file():
            raise EggError("--variant mix needs --synth, a folder made by training.synth")
        rows = (synth / "train_test_split.csv").read_text(encoding="utf-8").splitlines()[1:]
        train = [r.split(",")[0] for r in rows if r.endswith(",train")][:synth_clips]
        for stem in train:
            for ext in (".npz", ".wav", ".TextGrid"):
                if (synth / f"{stem}{ext}").is_file():
                    _link(synth / f"{stem}{ext}", folder / f"{stem}{ext}")
    return folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.default_model", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="working folder outside the repository")
    ap.add_argument("--variant", choices=["real", "mix"], default="real")
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
    try:
        work = prepare_work_dir(args.work)
        if not (work / "real" / "holdout").is_dir():
            _run([sys.executable, "-m", "training.real_split", "--take", args.take, "--out", str(work / "real"),
                  "--holdout", str(args.holdout)], work / "real_split.log")
        data = build_data_folder(work, args.variant, Path(args.synth) if args.synth else None,
                                 args.synth_clips, args.real_repeats)
        run = work / f"run_{args.variant}"
        train_cmd = [sys.executable, "-m", "training.train", "--data", str(data), "--format", "folder",
                     "--split", "all", "--out", str(run), "--config", "small", "--ablation", "full",
                     "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--seed", str(args.seed),
                     "--threads", str(args.threads), "--no-tensorboard", "--quiet"]
        if args.codebook_init:
            train_cmd += ["--codebook-init", args.codebook_init]
        if args.overwrite:
            train_cmd.append("--overwrite")
        results = work / f"results_{args.variant}.json"
        summary_path = work / f"summary_{args.variant}.json"
        eval_cmd = [sys.executable, "-m", "training.evaluate", "--checkpoint", str(run / "model.safetensors"),
                    "--data", str(work / "real" / "holdout"), "--format", "folder", "--split", "all",
                    "--evaluator", str(work / "evaluator_real.safetensors"), "--mean-vel", args.mean_vel,
                    "--speech", args.speech, "--seed", str(args.seed), "--out", str(results), "--overwrite",
                    "--quiet"]
        if args.reuse and summary_path.is_file():
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            print(f"reusing {run} and {summary_path}")
            if args.install:
                install(run, args, train_cmd, eval_cmd, summary)
            return 0
        meta_path = run / "model.json"
        finished = meta_path.is_file() and json.loads(meta_path.read_text(encoding="utf-8")).get(
            "metadata", {}).get("training", {}).get("epoch", -1) >= args.epochs
        if finished and not args.overwrite:
            # an earlier call trained it and stopped later: its wall time is run.json -> final save
            train_s = (run / "model.safetensors").stat().st_mtime - (run / "run.json").stat().st_mtime
            print(f"{run} is already trained ({train_s:.0f} s); evaluating it")
        else:
            t0 = time.time()
            _run(train_cmd, work / f"train_{args.variant}.log")
            train_s = time.time() - t0
        evaluator = work / "evaluator_real.safetensors"
        if not evaluator.is_file():
            _run([sys.executable, "-m", "training.train_evaluator", "--data", str(work / "real" / "train"),
                  "--format", "folder", "--split", "all", "--out", str(evaluator), "--seed", str(args.seed)],
                 work / "evaluator_real.log")
        _run(eval_cmd, work / f"eval_{args.variant}.log")
        print((work / f"eval_{args.variant}.log").read_text(encoding="utf-8"))
        res = json.loads(results.read_text(encoding="utf-8"))
        summary = {"train_seconds": round(train_s, 1), "holdout": {k: res["metrics"].get(k) for k in
                   ("fgd", "bc", "l1div", "codebook_usage", "perplexity")},
                   "holdout_real_motion": res.get("real_motion"),
                   "speech": {k: res["speech"][k] for k in ("bc", "l1div", "seconds", "files")}}
        summary_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
        print(json.dumps(summary, indent=2))
        if args.install:
            install(run, args, train_cmd, eval_cmd, summary)
        return 0
    except EggError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def install(run: Path, args: argparse.Namespace, train_cmd: list[str], eval_cmd: list[str],
            summary: dict[str, Any]) -> Path:
    """Save the run's model as the bundled default with everything the model card needs."""
    from egg_core.checkpoint import default_checkpoint_path, load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(run / "model.safetensors", "cpu")
    meta = {k: v for k, v in meta.items() if k not in ("config", "format_version")}
    meta["default_model"] = {
        "data": {"real": f"{Path(args.take).name} minus its last {args.holdout:g} s, mirrored",
                 "variant": args.variant,
                 "synthetic": (f"{args.synth_clips} train clips of the synthetic benchmark"
                               if args.variant == "mix" else None)},
        "command": shlex.join(["python", *train_cmd[1:]]),
        "evaluation_command": shlex.join(["python", *eval_cmd[1:]]),
        "train_seconds": summary["train_seconds"],
        "metrics": summary,
        "hardware": "CPU, 1 thread (shared 2-core machine)",
    }
    meta["training_data"] = meta["default_model"]["data"]["real"]
    path = default_checkpoint_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, path, meta, overwrite=True)
    mean_vel = run / "mean_vel.npy"
    if mean_vel.is_file():
        (path.parent / "mean_vel.npy").write_bytes(mean_vel.read_bytes())
    print(f"installed {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


if __name__ == "__main__":
    sys.exit(main())
