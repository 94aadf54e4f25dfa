"""Training throughput on CPU: samples per second of the default model, 1 process vs 2 torchrun processes.

    python bench/train.py [--steps 8] [--batch-size 8] [--threads-total N] [--json out.json]

A synthetic new-speaker folder (``training.minidata``, 40 s clips so the default 300-frame
window fits) is written to a temporary folder, its features are cached once, and then
``python -m training.train --config default`` runs for ``--steps`` steps as one process with
all ``--threads-total`` threads, as one process with one thread, and under
``torchrun --nproc_per_node 2`` (gloo) with half the threads each. Both runs use the same global batch. Throughput = global batch / step time
as logged by rank 0 (``samples_per_s`` in log.csv), median over the steps after the first
two (warm-up). Rerun on an idle machine: other processes on the CPU distort the numbers.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from training.minidata import write_folder_tree
from training.train import TrainSettings

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"benchmark run failed ({' '.join(cmd)}):\n{res.stderr[-2000:]}")
    return time.perf_counter() - t0


def _rates(run: Path) -> list[float]:
    with (run / "log.csv").open(newline="") as fh:
        return [float(r["samples_per_s"]) for r in csv.DictReader(fh)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8, help="global batch")
    ap.add_argument("--threads-total", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.steps < 3:
        ap.error("--steps must be at least 3 (two warm-up steps are not counted)")

    with tempfile.TemporaryDirectory(prefix="egg_bench_") as tmp:
        tmp_path = Path(tmp)
        data = write_folder_tree(tmp_path / "data", n_clips=args.clips, seconds=40.0)
        common = TrainSettings(data=str(data), out="", config="default", text_encoder="hashed",
                               batch_size=args.batch_size, epochs=1000, max_steps=args.steps,
                               cache_dir=str(tmp_path / "cache"), quiet=True, no_tensorboard=True, device="cpu",
                               save_every=0)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        # fill the feature cache first so neither timed run pays for it
        warm = dataclasses.replace(common, out=str(tmp_path / "warm"), max_steps=1)
        _run([sys.executable, "-m", "training.train", *warm.to_argv()], env)
        results = {}
        # (processes, threads each): one process with every thread, one with a single thread
        # (separates thread scaling from process scaling), two processes sharing the threads
        layouts = [(1, args.threads_total), (1, 1), (2, max(1, args.threads_total // 2))]
        for procs, threads in dict.fromkeys(layouts):
            run = tmp_path / f"run{procs}x{threads}"
            # a command line, not train_run: the layouts differ in processes, which torchrun makes
            train = ["-m", "training.train", *dataclasses.replace(common, out=str(run), threads=threads).to_argv()]
            if procs == 1:
                cmd = [sys.executable, *train]
            else:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       "--nproc_per_node", str(procs), *train]
            wall = _run(cmd, env)
            rates = _rates(run)[2:]
            results[f"{procs}x{threads}"] = {"processes": procs, "threads_each": threads,
                                           "samples_per_s": statistics.median(rates),
                                           "steps_timed": len(rates), "wall_s": wall}
    print(f"training throughput, default model, CPU ({os.cpu_count()} cores, torch {torch.__version__}), "
          f"global batch {args.batch_size}, window 300 frames")
    print("| processes | threads each | samples/s | wall time (s) |")
    print("| --- | --- | --- | --- |")
    for r in results.values():
        print(f"| {r['processes']} | {r['threads_each']} | {r['samples_per_s']:.2f} | {r['wall_s']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
