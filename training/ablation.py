"""The ablation table on the synthetic long-tail benchmark, with one command.

``python -m training.ablation --work DIR [--minutes 60] [--seed 0] [--epochs 10] [--parallel 2] [--table OUT.md]``

Why: the paper's central claim (entropy guidance raises codebook usage and the recall of
rare gestures, Tables 3-5) must be measured on data whose gesture classes are known. This
driver runs every step with the same budget for each row and writes the table:

1. ``DIR/synth``: :mod:`training.synth` (``--minutes``, ``--seed``, idle motion from the
   real BEAT2 take when ``--idle-source`` exists), split 80/10/10 by clip.
2. ``DIR/evaluator.safetensors``: the FGD evaluator (:mod:`training.train_evaluator`) on the
   synthetic *train* split.
3. ``DIR/runs/<row>``: :mod:`training.train` for each row (``--config small``, same
   ``--epochs``, batch, seed; ``--threads 1`` per process, ``--parallel`` rows at a time).
4. ``DIR/results/<row>.json``: :mod:`training.evaluate` on the *test* split with that
   evaluator and BEAT2's mean joint speeds as the BC normaliser (when available).
5. The markdown table, printed and written to ``--table`` (default ``DIR/table.md``).

Every step is skipped when its output already exists (a finished run has ``model.safetensors``
and no newer ``train_state.pt`` work to do), so an interrupted study resumes; ``--fresh``
redoes the runs and results. Rows (``--ablation`` presets of :mod:`training.train`):
vanilla VQ-VAE (two-stage), reweight-only (linear), EG without reweighting, EG with softmax
instead of Gumbel, full EG.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from egg_core.cli import run_cli
from egg_core.errors import EggError
from training import evaluate, synth, train_evaluator
from training.train import TrainSettings, train_run
from training.workdir import Step, module_step, prepare_work_dir, run_finished, start_step, wait_any

REPO = Path(__file__).resolve().parents[1]
ROWS: tuple[tuple[str, str], ...] = (
    ("vanilla", "vanilla VQ-VAE (two-stage)"),
    ("reweight-linear", "reweight only (linear)"),
    ("eg-no-reweight", "EG, no reweighting"),
    ("eg-softmax", "EG, softmax (no Gumbel)"),
    ("full", "full EG"),
)
#: the evaluator sees ~43 k windows per epoch on an hour of data; 3 epochs (~2 k Adam steps)
#: instead of its default 40 keep it to minutes on a CPU.
EVALUATOR_EPOCHS = 3
#: CPU threads of every step: rows train ``--parallel`` at a time, so one each, and the other
#: steps use the same count so that the study's numbers come from one setting.
THREADS = 1
DEFAULT_IDLE = REPO.parent / "shared" / "data" / "real" / "beat2" / "2_scott_0_1_1.npz"
DEFAULT_MEAN_VEL = REPO.parent / "shared" / "data" / "real" / "beat2" / "mean_vel_smplxflame_30.npy"


def train_settings(work: Path, row: str, epochs: int, seed: int, batch_size: int) -> TrainSettings:
    """The exact training settings of one row (the same budget for every row)."""
    return TrainSettings(data=str(work / "synth"), format="folder", split="train", out=str(work / "runs" / row),
                         config="small", ablation=row, epochs=epochs, batch_size=batch_size, seed=seed,
                         threads=THREADS, no_tensorboard=True, quiet=True)


def eval_argv(work: Path, row: str, seed: int, mean_vel: Path | None) -> list[str]:
    """``training.evaluate`` arguments of one row: its model on the *test* split."""
    argv = ["--checkpoint", str(work / "runs" / row / "model.safetensors"),
            "--data", str(work / "synth"), "--format", "folder", "--split", "test",
            "--evaluator", str(work / "evaluator.safetensors"), "--out", str(work / "results" / f"{row}.json"),
            "--seed", str(seed), "--overwrite", "--quiet"]
    if mean_vel is not None:
        argv += ["--mean-vel", str(mean_vel)]
    return argv


def train_rows(work: Path, rows: list[str], epochs: int, seed: int, batch_size: int, parallel: int) -> dict[str, float]:
    """Train the rows, ``parallel`` at a time; returns wall seconds per row."""
    (work / "runs").mkdir(parents=True, exist_ok=True)
    todo = [r for r in rows if not run_finished(work / "runs" / r, epochs)]
    running: dict[str, Step] = {}
    seconds: dict[str, float] = {}
    try:
        while todo or running:
            while todo and len(running) < parallel:
                row = todo.pop(0)
                run = work / "runs" / row
                settings = train_settings(work, row, epochs, seed, batch_size)
                if (run / "train_state.pt").is_file():
                    settings = dataclasses.replace(settings, resume=True)
                elif run.exists():
                    settings = dataclasses.replace(settings, overwrite=True)
                running[row] = start_step(train_run, settings, label=settings.command(),
                                          log=work / "runs" / f"{row}.log", append=True, threads=THREADS)
            ended = wait_any(running.values())
            for row, step in list(running.items()):
                if step not in ended:
                    continue
                del running[row]
                try:
                    seconds[row] = step.wait()
                except EggError as exc:
                    raise EggError(f"training row {row} failed: {exc}") from exc
                print(f"row {row} trained in {seconds[row] / 60:.1f} min", flush=True)
    except KeyboardInterrupt:
        for step in running.values():  # they got the Ctrl-C too and are saving
            step.process.join()
        raise
    except BaseException:
        for step in running.values():  # a row failed: the others save and stop, to resume later
            step.stop()
        raise
    return seconds


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _num(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


def make_table(work: Path, rows: list[str]) -> str:
    """Markdown table of the results in ``work/results``."""
    names = dict(ROWS)
    lines = ["| row | codebook usage % | perplexity | FGD (own evaluator) | BC | L1div | "
             "recall, classes < 2 % | recall, majority classes | token accuracy |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        res = json.loads((work / "results" / f"{row}.json").read_text(encoding="utf-8"))
        m = res["metrics"]
        lines.append(f"| {names.get(row, row)} (`{row}`) | {_pct(m.get('codebook_usage'))} | "
                     f"{_num(m.get('perplexity'))} | {_num(m.get('fgd'))} | {_num(m.get('bc'))} | "
                     f"{_num(m.get('l1div'))} | {_num(m.get('recall_rare'))} | "
                     f"{_num(m.get('recall_frequent'))} | {_num(m.get('token_accuracy'))} |")
    real = json.loads((work / "results" / f"{rows[0]}.json").read_text(encoding="utf-8"))["real_motion"]
    lines.append(f"| real test motion | - | - | 0 | {_num(real.get('bc'))} | {_num(real.get('l1div'))} | - | - | - |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.ablation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="working folder (data, runs, results; outside the repo)")
    ap.add_argument("--minutes", type=float, default=60.0, help="synthetic data to generate")
    ap.add_argument("--seed", type=int, default=0, help="seed of the data, the training and the evaluation")
    ap.add_argument("--epochs", type=int, default=10, help="epochs per row (the same for every row)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--parallel", type=int, default=2, help="rows trained at the same time (1 thread each)")
    ap.add_argument("--rows", nargs="*", default=[r for r, _ in ROWS], choices=[r for r, _ in ROWS])
    ap.add_argument("--idle-source", default=str(DEFAULT_IDLE), help="real BEAT2 npz for idle motion")
    ap.add_argument("--mean-vel", default=str(DEFAULT_MEAN_VEL), help="BC normaliser (55,) .npy")
    ap.add_argument("--table", default=None, help="markdown table output (default WORK/table.md)")
    ap.add_argument("--fresh", action="store_true", help="retrain and re-evaluate every row")
    args = ap.parse_args(argv)
    return run_cli(lambda: _study(args),
                   interrupted="interrupted; the runs saved their state, run the same command again to continue")


def _study(args: argparse.Namespace) -> int | None:
    work = prepare_work_dir(args.work)
    if args.fresh:
        for sub in ("runs", "results"):
            shutil.rmtree(work / sub, ignore_errors=True)
    synth_dir = work / "synth"
    if not (synth_dir / "manifest.json").is_file():
        present = sorted(synth_dir.iterdir()) if synth_dir.is_dir() else []
        if present:  # never replace files we did not finish writing ourselves
            raise EggError(f"{synth_dir} holds {len(present)} file(s) but no manifest.json (an interrupted "
                           "generation, or other data); delete that folder to regenerate the benchmark, "
                           "or give another --work")
        argv = ["--out", str(synth_dir), "--minutes", str(args.minutes), "--seed", str(args.seed),
                "--workers", "1", "--quiet"]
        if Path(args.idle_source).is_file():
            argv += ["--idle-source", args.idle_source]
        module_step(synth, argv, threads=THREADS)
    if not (work / "evaluator.safetensors").is_file():
        module_step(train_evaluator, ["--data", str(work / "synth"), "--format", "folder", "--split", "train",
                                      "--out", str(work / "evaluator.safetensors"), "--seed", str(args.seed),
                                      "--epochs", str(EVALUATOR_EPOCHS)],
                    log=work / "evaluator.log", threads=THREADS)
    t0 = time.time()
    seconds = train_rows(work, args.rows, args.epochs, args.seed, args.batch_size, args.parallel)
    (work / "results").mkdir(exist_ok=True)
    mean_vel = Path(args.mean_vel) if Path(args.mean_vel).is_file() else None
    for row in args.rows:
        if not (work / "results" / f"{row}.json").is_file():
            module_step(evaluate, eval_argv(work, row, args.seed, mean_vel), log=work / "results" / f"{row}.log",
                        threads=THREADS)
    table = make_table(work, args.rows)
    out = Path(args.table) if args.table else work / "table.md"
    out.write_text(table + "\n", encoding="utf-8")
    print(table)
    print(f"\nwrote {out}; training wall time this call: {(time.time() - t0) / 60:.1f} min "
          + json.dumps({k: round(v / 60, 1) for k, v in seconds.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
