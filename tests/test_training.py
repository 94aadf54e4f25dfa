"""End-to-end training: three dataset layouts, run-folder safety, exact resume after Ctrl-C and
after SIGKILL, two-process torchrun (gloo), the real BEAT2 take, evaluation and the evaluator."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from egg_core.errors import EggError
from training import train as T
from training.minidata import write_beat2_tree, write_folder_tree, write_trinity_tree

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One thread for every run of this module (module fixtures included): exact-resume
    comparisons need identical float reductions, and the machine is shared."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    return {
        "root": root,
        "cache": root / "cache",
        "beat2": write_beat2_tree(root / "beat2", n_clips=3, seconds=8.0),
        "trinity": write_trinity_tree(root / "trinity", n_clips=2, seconds=8.0),
        "folder": write_folder_tree(root / "folder", n_clips=3, seconds=8.0),
    }


def _args(work, data, out, *extra):
    return ["--data", str(data), "--out", str(out), "--config", "tiny", "--text-encoder", "hashed",
            "--batch-size", "4", "--stride", "16", "--cache-dir", str(work["cache"]), "--quiet", "--threads", "1", *extra]


def _log(run: Path) -> list[dict[str, str]]:
    with (run / "log.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _state(run: Path) -> dict:
    return torch.load(run / "train_state.pt", map_location="cpu", weights_only=False)


@pytest.mark.parametrize("layout", ["beat2", "trinity", "folder"])
def test_train_each_layout_end_to_end(work, layout):
    from egg_core.checkpoint import load_checkpoint

    run = work["root"] / f"run_{layout}"
    extra = [] if layout == "folder" else ["--no-tensorboard"]
    assert T.main(_args(work, work[layout], run, "--epochs", "2", "--max-steps", "3", *extra)) == 0
    rows = _log(run)
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    for key in T.LOG_KEYS + ("lr",):
        assert all(math.isfinite(float(r[key])) for r in rows), key
    model, meta = load_checkpoint(run / "model.safetensors", "cpu")
    assert meta["training"]["global_step"] == 3 and model.config.codebook_size == 32
    assert np.asarray(meta["posture"]).shape == (55, 3)  # the pose of the joints it does not generate
    assert np.load(run / "mean_vel.npy").shape == (55,)
    info = json.loads((run / "run.json").read_text())
    assert len(info["dataset"]["problems"]) >= 1  # each tree has one deliberately broken clip
    if layout == "folder":
        assert info["dataset"]["class_names"] == ["huge", "stop", "you"]
        assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").iterdir())


def test_run_folder_is_never_overwritten_silently(work, capsys):
    run = work["root"] / "run_protect"
    base = _args(work, work["folder"], run, "--epochs", "1", "--max-steps", "1", "--no-tensorboard")
    assert T.main(base) == 0
    assert T.main(base) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert T.main(base + ["--overwrite"]) == 0
    other = work["root"] / "not_a_run"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    assert T.main(_args(work, work["folder"], other, "--overwrite", "--max-steps", "1")) == 2
    assert (other / "precious.txt").exists()
    assert T.main(_args(work, work["folder"], work["root"] / "fresh", "--resume")) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_ablation_presets_and_two_stage_schedule(work):
    cfg = T.build_config("tiny", "vanilla", None, epochs=5, vq_epochs=None, gamma=None)
    assert (cfg.joint_training, cfg.entropy, cfg.reweight, cfg.vq_epochs) == (False, False, "none", 3)
    cfg = T.build_config("default", "reweight-sqrt", 2048, epochs=120, vq_epochs=None, gamma=None)
    assert (cfg.reweight, cfg.entropy, cfg.codebook_size, cfg.vq_epochs) == ("sqrt", False, 2048, 60)
    assert T.build_config("tiny", "eg-softmax", None, 2, None, None).gumbel is False
    assert T.build_config("tiny", "eg-no-reweight", None, 2, None, None).reweight == "none"
    assert T.build_config("tiny", "eg-no-joint", None, 2, None, None).joint_training is False
    # codebook init: random directions on the sphere, data init for the tiny preset's raw latents
    assert T.build_config("small", "full", None, 2, None, None).codebook_data_init is False
    assert T.build_config("tiny", "full", None, 2, None, None).codebook_data_init is True
    assert T.build_config("small", "full", None, 2, None, None, "data").codebook_data_init is True
    assert T.build_config("tiny", "full", None, 2, None, None, "random").codebook_data_init is False
    with pytest.raises(EggError, match="codebook-init"):
        T.build_config("small", "full", None, 2, None, None, "kmeans")
    # vanilla two-stage: epoch 0 trains the VQ-VAE only, epoch 1 the classifier only
    run = work["root"] / "run_vanilla"
    assert T.main(_args(work, work["folder"], run, "--ablation", "vanilla", "--epochs", "2",
                        "--vq-epochs", "1", "--no-tensorboard")) == 0
    rows = _log(run)
    stage1 = [r for r in rows if r["epoch"] == "0"]
    stage2 = [r for r in rows if r["epoch"] == "1"]
    assert stage1 and stage2
    assert all(float(r["cls"]) == 0 and float(r["rec"]) > 0 for r in stage1)
    assert all(float(r["rec"]) == 0 and float(r["cls"]) > 0 for r in stage2)


def test_settings_are_the_cli_options():
    """One field per option with the CLI's defaults, and a record that parses back to itself."""
    parser = T.build_parser()
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert dests == {f.name for f in dataclasses.fields(T.TrainSettings)}
    assert T.settings_from_args(parser.parse_args(["--data", "d", "--out", "o"])) == T.TrainSettings(data="d", out="o")
    s = T.TrainSettings(data="d x", out="o", speakers=["2", "4"], config="tiny", lr=1e-5, gamma=2.5, no_mirror=True,
                        epochs=3, max_steps=7, resume=True, codebook_init="data")
    assert T.settings_from_args(parser.parse_args(s.to_argv())) == s
    assert s.command().startswith("python -m training.train --data 'd x' --speakers 2 4 --out o --config tiny")


def test_resume_takes_the_run_defining_settings_from_an_old_run_json():
    """run.json ``args`` as every version so far wrote it (argparse's ``vars``) still resumes."""
    old = vars(T.build_parser().parse_args(["--data", "d", "--out", "o", "--config", "tiny", "--lr", "1e-3",
                                            "--batch-size", "4", "--epochs", "5", "--seed", "7", "--max-steps", "9"]))
    now = T.TrainSettings(data="d", out="o", resume=True, max_steps=20, quiet=True, lr=5.0)
    got = now.resumed(old)
    assert (got.config, got.lr, got.batch_size, got.seed, got.epochs) == ("tiny", 1e-3, 4, 7, 5)
    assert (got.max_steps, got.quiet, got.resume) == (20, True, True)  # this session's
    assert T.TrainSettings(data="d", out="o", epochs=8).resumed(old).epochs == 8  # given: kept


@pytest.fixture(scope="module")
def reference_run(work):
    """An uninterrupted 10-step run; the resumed runs must end with the same parameters."""
    run = work["root"] / "run_ref"
    assert T.main(_args(work, work["folder"], run, "--epochs", "50", "--max-steps", "10",
                        "--no-tensorboard", "--save-every", "1")) == 0
    return run


def _assert_same_run(a: Path, b: Path) -> None:
    sa, sb = _state(a), _state(b)
    assert sa["global_step"] == sb["global_step"] == 10
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), k
    oa, ob = sa["optimizer"]["state"], sb["optimizer"]["state"]
    for k in oa:
        assert torch.equal(oa[k]["exp_avg"], ob[k]["exp_avg"])
    assert [r["total"] for r in _log(a)] == [r["total"] for r in _log(b)]


def test_ctrl_c_saves_and_resume_is_exact(work, reference_run, monkeypatch):
    run = work["root"] / "run_sigint"
    original = T.Trainer.step

    def step_then_ctrl_c(self, batch, epoch):
        out = original(self, batch, epoch)
        if self.global_step == 3:  # the 4th step is running: Ctrl-C arrives during it
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(T.Trainer, "step", step_then_ctrl_c)
    args = _args(work, work["folder"], run, "--epochs", "50", "--no-tensorboard", "--save-every", "1")
    assert T.main(args) == 130
    state = _state(run)
    assert state["global_step"] == 4 and state["batch"] != 0  # stopped mid-epoch, after the step
    monkeypatch.setattr(T.Trainer, "step", original)
    assert T.main(args + ["--resume", "--max-steps", "10"]) == 0
    _assert_same_run(reference_run, run)


def test_sigkill_mid_epoch_then_resume_is_exact(work, reference_run):
    run = work["root"] / "run_kill"
    args = _args(work, work["folder"], run, "--epochs", "50", "--no-tensorboard", "--save-every", "1")
    proc = subprocess.Popen([sys.executable, "-m", "training.train", *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            path = run / "train_state.pt"
            if path.exists():
                st = _state(run)
                if st["global_step"] >= 3 and st["batch"] != 0:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_at = _state(run)
    assert 3 <= killed_at["global_step"] < 10
    assert T.main(args + ["--resume", "--max-steps", "10"]) == 0
    _assert_same_run(reference_run, run)


def test_every_epoch_visits_its_own_permutation(work, monkeypatch):
    """Epoch e feeds the batches of ``epoch_batches(..., e)``: the order the module docstring
    promises and the one --resume replays (it used to repeat epoch 0's order every epoch)."""
    fed: list[list[int]] = []
    original = T.collate

    def recording(dataset, indices, device):
        fed.append([int(i) for i in indices])
        return original(dataset, indices, device)

    monkeypatch.setattr(T, "collate", recording)
    run = work["root"] / "run_order"
    assert T.main(_args(work, work["folder"], run, "--epochs", "2", "--no-tensorboard", "--save-every", "0")) == 0
    n = json.loads((run / "run.json").read_text())["dataset"]["windows"]
    expected = [b.tolist() for e in (0, 1) for b in T.epoch_batches(n, 4, 0, e)]
    assert fed == expected and fed[: len(fed) // 2] != fed[len(fed) // 2 :]


#: resume points of the exactness tests, in batches per epoch ``n``
RESUME_POINTS = {"inside epoch 0": lambda n: 2, "at the first epoch boundary": lambda n: n,
                 "mid-way through epoch 1": lambda n: n + n // 2, "at the boundary of epoch 2": lambda n: 2 * n,
                 "inside epoch 2": lambda n: 2 * n + 1}


@pytest.fixture(scope="module", params=["3 epochs, lr step at epoch 2", "50 epochs, no lr step"])
def three_epoch_reference(work, request):
    """An uninterrupted run of three epochs; with ``--epochs 3`` the lr decays at epoch 2."""
    epochs = request.param.split()[0]
    run = work["root"] / f"run_ref3_{epochs}"
    base = _args(work, work["folder"], run, "--epochs", epochs, "--no-tensorboard", "--save-every", "0")
    assert T.main(base + ["--max-steps", "1"]) == 0  # only to read the epoch length
    n = json.loads((run / "run.json").read_text())["dataset"]["windows"] // 4
    assert T.main(base + ["--overwrite", "--max-steps", str(3 * n)]) == 0
    lrs = {r["epoch"]: float(r["lr"]) for r in _log(run)}
    assert len(lrs) == 3 and (lrs["2"] < lrs["1"]) == (epochs == "3")
    return run, base, n


@pytest.mark.parametrize("point", list(RESUME_POINTS))
def test_resume_is_exact_at_any_point(work, three_epoch_reference, point):
    """Stop after k steps, resume to the end: weights, buffers (quantizer usage and hit counts),
    optimizer, scheduler and logged losses equal the uninterrupted run's, bit for bit."""
    ref, base, n = three_epoch_reference
    k = RESUME_POINTS[point](n)
    run = work["root"] / f"{ref.name}_at{k}"
    args = [str(run) if a == str(ref) else a for a in base]
    assert T.main(args + ["--max-steps", str(k)]) == 0
    assert _state(run)["global_step"] == k
    assert T.main(args + ["--resume", "--max-steps", str(3 * n)]) == 0
    sa, sb = _state(ref), _state(run)
    assert (sa["global_step"], sa["epoch"], sa["batch"]) == (sb["global_step"], sb["epoch"], sb["batch"]) == (3 * n, 3, 0)
    for k_, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k_]), k_
    for i, st in sa["optimizer"]["state"].items():
        for name, v in st.items():
            assert torch.equal(v, sb["optimizer"]["state"][i][name]), (i, name)
    assert sa["scheduler"] == sb["scheduler"]
    strip = [{k_: v for k_, v in r.items() if k_ != "samples_per_s"} for r in _log(ref)]
    assert strip == [{k_: v for k_, v in r.items() if k_ != "samples_per_s"} for r in _log(run)]


def test_torchrun_two_processes_gloo(work, tmp_path):
    run = tmp_path / "run_ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "training.train", *_args(work, work["folder"], run, "--epochs", "2", "--max-steps", "3",
                                          "--no-tensorboard", "--device", "cpu")]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=170)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = _log(run)
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert json.loads((run / "run.json").read_text())["world_size"] == 2
    state = _state(run)
    assert state["world"] == 2 and set(state["rng"]) == {0, 1}
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    # the same global batches in one process: the reconstruction loss agrees up to batch-split
    # noise (the classifier loss differs more: each rank draws its own seed dropout and Gumbel noise)
    single = tmp_path / "run_single"
    assert T.main(_args(work, work["folder"], single, "--epochs", "2", "--max-steps", "3",
                        "--no-tensorboard", "--device", "cpu")) == 0
    np.testing.assert_allclose([float(r["rec"]) for r in rows], [float(r["rec"]) for r in _log(single)],
                               rtol=2e-3)


def test_real_take_losses_fall_and_usage_rises(beat2_take, beat2_wav, tmp_path, capsys):
    """The shipped recipe (small preset, lr 3e-4) on the real take: every loss term falls.

    800 steps of batch 8 (about 35 epochs of the take's windows). Shorter runs are not enough
    for the classification term: its targets get harder while codebook usage rises (perplexity
    about 2 -> 100), and at 400 steps it had only just turned (5.145 -> 5.143). ``--gamma 1``
    puts the classifier at full weight from the start, so the total is comparable over the run
    (with the eq. 11 ramp the total rises by construction). Measured with seeds 0 and 1, entropy
    loss 0.23 -> 0.05 and 0.16 -> 0.05, usage 2 % -> 52 % and 2 % -> 50 %.
    """
    data = tmp_path / "take"
    data.mkdir()
    for src in (beat2_take, beat2_wav):  # links, not copies, of the shared recording
        (data / src.name).symlink_to(src)
    run = tmp_path / "run_real"
    steps = 800
    assert T.main(["--data", str(data), "--out", str(run), "--config", "small", "--text-encoder", "hashed",
                   "--batch-size", "8", "--stride", "8", "--epochs", "40", "--gamma", "1",
                   "--max-steps", str(steps), "--cache-dir", str(tmp_path / "cache"), "--quiet",
                   "--no-tensorboard"]) == 0
    rows = _log(run)
    assert len(rows) == steps

    def mean(key, lo, hi):
        return float(np.mean([float(r[key]) for r in rows[lo:hi]]))

    k = 20
    summary = {key: (mean(key, 1, 1 + k), mean(key, steps - k, steps))
               for key in ("total", "rec", "commit", "entropy", "cls", "usage", "perplexity")}
    with capsys.disabled():
        print("\nreal take, mean of steps 2-21 -> last 20:",
              ", ".join(f"{key} {a:.4g} -> {b:.4g}" for key, (a, b) in summary.items()))
    for key in ("total", "rec", "commit", "entropy", "cls"):
        assert summary[key][1] < summary[key][0], key
    # step 1 is excluded: the first soft usage estimate is that one batch
    assert summary["usage"][1] > 5 * summary["usage"][0]
    assert summary["perplexity"][1] > 10 * summary["perplexity"][0]


def test_train_evaluator_and_evaluate_print_all_metrics(work, reference_run, tmp_path, capsys):
    from training import evaluate as E
    from training import train_evaluator as TE
    from training.evaluator import NOT_COMPARABLE, FGDEvaluator

    ev = tmp_path / "evaluator.safetensors"
    assert TE.main(["--data", str(work["folder"]), "--out", str(ev), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "NOT comparable" in out and ev.exists()
    assert FGDEvaluator.load(ev).config.latent_dim == 240
    assert TE.main(["--data", str(work["folder"]), "--out", str(ev), "--epochs", "1"]) == 2  # no overwrite

    res = tmp_path / "results.json"
    assert E.main(["--checkpoint", str(reference_run / "model.safetensors"), "--data", str(work["folder"]),
                   "--split", "all", "--evaluator", str(ev), "--out", str(res), "--cache-dir",
                   str(work["cache"]), "--device", "cpu", "--quiet"]) == 0
    table = capsys.readouterr().out
    for label in ("FGD", "BC", "L1div (reference)", "L1Div pairwise", "codebook usage",
                  "codebook perplexity", "predicted code usage", "recall 'huge'"):
        assert label in table, label
    results = json.loads(res.read_text())
    m = results["metrics"]
    for key in ("fgd", "bc", "l1div", "pairwise_l1div", "codebook_usage", "perplexity",
                "predicted_usage", "token_accuracy"):
        assert isinstance(m[key], float) and math.isfinite(m[key]), key
    assert 0 <= m["bc"] <= 1 and 0 < m["codebook_usage"] <= 1
    assert set(m["class_recall"]) == {"huge", "stop", "you"}
    assert results["fgd_note"] == NOT_COMPARABLE
    assert results["real_motion"]["l1div"] > 0
    assert results["mean_vel"] == str(reference_run / "mean_vel.npy")  # the training data's normaliser


def test_quantizer_diag_reports_usage_geometry_and_trajectory(work, capsys):
    """The diagnostic behind the quantizer's defaults prints a trajectory and a final summary."""
    from training import quantizer_diag as QD

    assert QD.main(["--data", str(work["folder"]), "--steps", "4", "--report-every", "2",
                    "normalize_latents=True", "codebook_size=16", "code_dim=8"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("step") for r in lines[:-1]] == [1, 2]  # step 4 is the final summary
    final = lines[-1]
    assert final["steps"] == 4 and final["overrides"]["codebook_size"] == 16
    for row in lines:
        assert 0 < row["usage"] <= 1 and 1 <= row["perplexity"] <= 16
        assert 0 <= row["soft_sample_entropy_norm"] <= row["soft_entropy_norm"] + 1e-6 <= 1 + 1e-6
        assert -1 <= row["code_cosine"] <= 1 and -1 <= row["latent_cosine"] <= 1
        assert math.isclose(row["code_norm"], 1.0, rel_tol=1e-4)  # unit sphere
    assert "entropy_loss" in lines[0] and "entropy_loss" not in final
    assert QD.main(["--data", str(work["folder"]), "--steps", "1", "no_such_field=1"]) == 2
    assert "no_such_field" in capsys.readouterr().err


def test_ablation_refuses_to_replace_an_unfinished_synth_folder(tmp_path, capsys):
    """Files without the generator's manifest are not the driver's to delete."""
    from training import ablation as A

    work = tmp_path / "work"
    (work / "synth").mkdir(parents=True)
    keep = work / "synth" / "synth_0000.npz"
    keep.write_bytes(b"someone's data")
    assert A.main(["--work", str(work), "--minutes", "1"]) == 2
    err = capsys.readouterr().err
    assert "no manifest.json" in err and "delete that folder" in err
    assert keep.read_bytes() == b"someone's data"


def test_study_drivers_refuse_a_work_folder_inside_the_repository(capsys):
    from training import ablation as A
    from training import default_model as DM

    inside = REPO / "runs_should_not_exist"
    assert A.main(["--work", str(inside)]) == 2
    assert "outside the repository" in capsys.readouterr().err
    assert DM.main(["--work", str(inside)]) == 2
    assert "outside the repository" in capsys.readouterr().err
    assert not inside.exists()
