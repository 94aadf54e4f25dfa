"""The study drivers' step runner (training.workdir) and the settings the drivers hand to the
trainer: each step runs a Python function in its own process with a fixed thread count, its
output in a log, and a failure names that log; the drivers' training settings are exactly
the command lines they used to build."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import pytest
import torch

from egg_core.errors import EggError
from training import ablation as A
from training import default_model as DM
from training import train as T
from training.workdir import module_step, run_step, start_step, wait_any


def report_threads(tag: str) -> int:
    """A step: what the process sees of its thread settings."""
    print(f"{tag} torch={torch.get_num_threads()} omp={os.environ.get('OMP_NUM_THREADS')}")
    return 0


def fail_like_a_user(message: str) -> int:
    raise EggError(message)


def test_step_runs_in_its_own_process_with_the_thread_count_and_a_log(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    before = (torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS"))
    seconds = run_step(report_threads, "probe", label="probe", log=log, threads=2)
    assert seconds > 0
    assert log.read_text().strip() == "probe torch=2 omp=2"
    # the driver's own settings are untouched
    assert (torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")) == before
    # appending continues a log (the ablation's resumed rows)
    step = start_step(report_threads, "again", label="again", log=log, append=True, threads=1)
    assert wait_any([step]) == [step]
    assert step.done() and step.wait() > 0
    assert log.read_text().splitlines() == ["probe torch=2 omp=2", "again torch=1 omp=1"]


def test_a_failed_step_names_its_log(tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    with pytest.raises(EggError, match=r"exit 2\): bad step; see .*bad\.log"):
        run_step(fail_like_a_user, "the data folder is empty", label="bad step", log=log)
    assert "error: the data folder is empty" in log.read_text()
    from training import real_split

    with pytest.raises(EggError, match="python -m training.real_split --take"):
        module_step(real_split, ["--take", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o")],
                    log=tmp_path / "split.log")


def _settings_of(cmd: list[str]) -> T.TrainSettings:
    assert cmd[:3] == [sys.executable, "-m", "training.train"]
    return T.settings_from_args(T.build_parser().parse_args(cmd[3:]))


def test_ablation_rows_train_with_the_settings_of_their_old_command(tmp_path: Path) -> None:
    """The command line ablation.py used to build, parsed, gives the settings it now passes."""
    work = tmp_path / "work"
    old = [sys.executable, "-m", "training.train", "--data", str(work / "synth"), "--format", "folder",
           "--split", "train", "--out", str(work / "runs" / "eg-softmax"), "--config", "small", "--ablation",
           "eg-softmax", "--epochs", "7", "--batch-size", "32", "--seed", "3",
           "--threads", "1", "--no-tensorboard", "--quiet"]
    new = A.train_settings(work, "eg-softmax", 7, 3, 32)
    assert new == _settings_of(old)
    assert _settings_of([sys.executable, "-m", "training.train", *new.to_argv()]) == new


def test_default_model_trains_with_the_settings_of_its_old_command(tmp_path: Path) -> None:
    data, run = tmp_path / "data_real", tmp_path / "run_real"
    args = argparse.Namespace(epochs=9, batch_size=8, seed=2, threads=1, codebook_init="data", overwrite=False)
    old = [sys.executable, "-m", "training.train", "--data", str(data), "--format", "folder",
           "--split", "all", "--out", str(run), "--config", "small", "--ablation", "full",
           "--epochs", "9", "--batch-size", "8", "--seed", "2",
           "--threads", "1", "--no-tensorboard", "--quiet", "--codebook-init", "data"]
    assert DM.train_settings(data, run, args) == _settings_of(old)


def test_ablation_trains_rows_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rows at once through the runner (tiny model on a miniature folder); done rows are skipped."""
    from training.minidata import write_folder_tree
    from training.workdir import run_finished

    work = tmp_path / "work"
    write_folder_tree(work / "synth", n_clips=3, seconds=8.0)
    real = A.train_settings

    def tiny(*a: object) -> T.TrainSettings:
        return dataclasses.replace(real(*a), config="tiny", text_encoder="hashed", split="all",
                                   cache_dir=str(tmp_path / "cache"))

    monkeypatch.setattr(A, "train_settings", tiny)
    seconds = A.train_rows(work, ["vanilla", "full"], epochs=1, seed=0, batch_size=4, parallel=2)
    assert set(seconds) == {"vanilla", "full"}
    for row in ("vanilla", "full"):
        assert run_finished(work / "runs" / row, 1)
        assert (work / "runs" / f"{row}.log").is_file()
    assert A.train_rows(work, ["vanilla", "full"], epochs=1, seed=0, batch_size=4, parallel=2) == {}


def test_cross_take_settings_and_summary(tmp_path: Path) -> None:
    """The cross-take driver trains each direction on one whole take and averages both ways."""
    from training import cross_take as CT

    args = CT.build_parser().parse_args(["--work", str(tmp_path / "w"), "--epochs", "7", "--seed", "3"])
    s = CT.train_settings(tmp_path / "data_a", tmp_path / "run_a", args)
    assert (s.split, s.config, s.ablation, s.audio_features, s.epochs, s.seed) == \
        ("all", "small", "eg-no-reweight", "mel", 7, 3)

    def report(fr: float, wrist: float, l1: float) -> dict:
        ref = {"frechet": 0.0, "wrist_height_mean": 0.01, "wrist_height_std": 0.1, "median_wrist_speed": 0.3,
               "l1div": 10.0, "bc": 0.6, "seam_ratio": 1.0}
        gen = dict(ref, wrist_height_mean=wrist, l1div=l1, frechet=fr)
        return {"generated": gen, "reference": ref, "ratio_to_baseline": {"frechet": fr / 20.0}}

    table, numbers = CT.summary_table({"a → b": [report(10.0, 0.0, 8.0), report(12.0, 0.02, 6.0)],
                                       "b → a": [report(20.0, -0.01, 5.0)]}, "title")
    assert numbers["frechet"]["per_direction"] == {"a → b": pytest.approx(0.55), "b → a": pytest.approx(1.0)}
    assert numbers["frechet"]["mean"] == pytest.approx(0.775)
    assert numbers["wrist_height_mean"]["per_direction"]["b → a"] == pytest.approx(-2.0)  # cm
    assert numbers["l1div"]["mean"] == pytest.approx((0.7 + 0.5) / 2)
    assert "| Fréchet distance / real-vs-real |" in table and "**0.775**" in table
