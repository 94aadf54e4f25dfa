"""``python -m training.train --data DIR --out RUN_DIR``: train EGGesture.

The objective is :meth:`EGGesture.losses` (paper eqs. 2-11; the model's docstring says how
eq. 11 is read). Optimiser: Adam, lr 3e-4, multiplied by 0.1 at epoch 100 of 120 (the decay
epoch scales with ``--epochs``: ``round(epochs * 100 / 120)``).

A run folder holds::

    run.json              arguments, model config, data report (written once)
    model.safetensors     the model (+ model.json sidecar), egg_core.checkpoint format,
                          rewritten atomically every --save-every steps and at the end
    train_state.pt        everything --resume needs to continue exactly: model, optimizer,
                          scheduler and grad-scaler state, RNG states, epoch and position in
                          that epoch's data order (written atomically with the model)
    log.csv, tb/          per-step losses, codebook usage/entropy/perplexity, lr (CSV and
                          TensorBoard)
    mean_vel.npy          mean FK joint speed (55,) of the training motion at 30 fps: the
                          beat-consistency normaliser training.evaluate uses for this model

Data order: epoch ``e`` visits the windows in the permutation drawn by
``numpy.random.default_rng([seed, e])``, so the order is a pure function of seed and epoch
and a resumed run replays it from the saved position. Ctrl-C (SIGINT) or SIGTERM finishes
the current step, saves, and exits with status 130.

Multi-process data parallel: ``torchrun --nproc_per_node N -m training.train ...`` (gloo
on CPU, NCCL on CUDA; PyTorch's DistributedDataParallel). ``--batch-size`` is the global
batch; every step each rank takes its share of the same global batch, gradients and the
quantizer's moving-average buffers are averaged across ranks, so results match one process
up to batch-split noise (each rank draws its own Gumbel noise). Rank 0 alone writes files;
the logged losses and batch statistics (usage, perplexity) are the mean of the per-rank
values.

From Python: ``train_run(TrainSettings(data=..., out=...))`` runs the same trainer in this
process (the study drivers do that); :class:`TrainSettings` has one field per option.

Ablations (paper Tables 3-5): ``--ablation`` picks a preset of config switches
(:data:`ABLATIONS`); ``--codebook-size`` sets K (512 / 2048 / 10240 in the paper).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import inspect
import json
import logging
import math
import os
import random
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from egg_core.atomic import atomic_path
from egg_core.checkpoint import resolve_device, save_checkpoint
from egg_core.cli import run_cli
from egg_core.errors import EggError
from egg_core.model.audio import WHISPER_FEATURE_DIM
from egg_core.model.eggesture import EGGesture, EGGestureConfig
from egg_core.model.hip import HIPConfig, HIPGesture
from training.data import (
    DataSettings,
    add_dataset_arguments,
    load_dataset,
    mean_posture,
    mean_velocity,
)
from training.whole_body import PAE_STEPS, feature_statistics, prepare_whole_body

#: ``--ablation`` presets: overrides applied to the model config.
ABLATIONS: dict[str, dict[str, Any]] = {
    "full": {},
    # vanilla two-stage VQ-VAE: VQ-VAE first (no entropy term), then the classifier on frozen codes
    "vanilla": {"entropy": False, "reweight": "none", "joint_training": False},
    # vanilla clustering, only the classification loss reweighted (paper Table 3)
    **{f"reweight-{m}": {"entropy": False, "reweight": m, "joint_training": False}
       for m in ("log", "sqrt", "linear", "square", "exp")},
    "eg-no-reweight": {"reweight": "none"},  # Table 4
    "eg-softmax": {"gumbel": False},  # Table 5
    "eg-no-joint": {"joint_training": False},  # Table 5
}
#: ``--model``: the single-part EGGesture, or the whole-body model (egg_core.model.hip) with part
#: codebooks only, with the cascade, or with the cascade and phase guidance (HIP).
MODELS: dict[str, dict[str, bool] | None] = {
    "eg": None,
    "parts": {"cascade": False, "phase": False},
    "cascade": {"cascade": True, "phase": False},
    "hip": {"cascade": True, "phase": True},
}
LOG_KEYS = ("total", "rec", "commit", "entropy", "cls", "usage", "perplexity", "entropy_norm",
            "cls_acc", "w_cls")
log = logging.getLogger("training.train")
RUN_FILE = "run.json"
STATE_FILE = "train_state.pt"
MODEL_FILE = "model.safetensors"
LOG_FILE = "log.csv"
MEAN_VEL_FILE = "mean_vel.npy"
DEFAULT_EPOCHS = 120
#: DDP must not copy rank 0's buffers over the others' before each forward (the quantizer's
#: usage averages are averaged instead, :func:`average_across_ranks`); newer PyTorch names
#: that switch ``forward_sync_buffers`` and deprecates ``broadcast_buffers``. Both still
#: broadcast once at construction, which is wanted: rank 0's initial or resumed state.
_NO_BUFFER_BROADCAST = ({"forward_sync_buffers": False}
                        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                        else {"broadcast_buffers": False})


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class TrainSettings:
    """Every option of ``python -m training.train``, one field per flag (same names as the
    argparse destinations, same defaults), so a run can be started from Python without
    building a command line, and so ``run.json`` ``args`` (written from these fields) stays
    readable by older and newer versions alike."""

    data: str
    out: str
    format: str = "auto"
    split: str = "train"
    speakers: list[str] | None = None
    config: str = "default"
    model: str = "eg"
    ablation: str = "full"
    codebook_size: int | None = None
    vq_epochs: int | None = None
    gamma: float | None = None
    text_dropout: float | None = None
    phase_steps: int = PAE_STEPS
    codebook_init: str | None = None
    text_encoder: str | None = None
    audio_features: str = "mel"
    epochs: int | None = None  # None: DEFAULT_EPOCHS, or the run's own on --resume
    batch_size: int = 128
    lr: float = 3e-4
    stride: int | None = None
    no_mirror: bool = False
    grad_clip: float = 0.0
    seed: int = 0
    max_steps: int | None = None
    save_every: int = 500
    device: str = "auto"
    no_amp: bool = False
    threads: int | None = None
    cache_dir: str | None = None
    resume: bool = False
    overwrite: bool = False
    no_tensorboard: bool = False
    quiet: bool = False

    def resumed(self, saved: Mapping[str, Any]) -> TrainSettings:
        """These settings with the run-defining ones replaced by the run's (``run.json`` ``args``).

        A resumed run must keep its model, data and optimiser whatever this command line says;
        only how this session runs (steps, saving, device, threads, logging) is taken from it.
        """
        over = {k: saved[k] for k in RESUMED_FIELDS if k in saved}
        if self.epochs is None:
            over["epochs"] = saved.get("epochs")
        return dataclasses.replace(self, **over)

    def command(self) -> str:
        """The equivalent shell command, for logs and records."""
        return shlex.join(["python", "-m", "training.train", *self.to_argv()])

    def to_argv(self) -> list[str]:
        """Command-line arguments that give these settings (defaults left out), for records
        such as a model card: ``python -m training.train`` + these reproduces the run."""
        argv: list[str] = []
        for action in build_parser()._actions:
            if not action.option_strings or action.dest == "help":
                continue
            value = getattr(self, action.dest)
            if value == action.default and not action.required:
                continue
            flag = max(action.option_strings, key=len)
            if action.nargs == 0:
                argv.append(flag)
            elif action.nargs == "*":
                argv += [flag, *map(str, value)]
            else:
                argv += [flag, str(value)]
        return argv


#: what ``--resume`` takes from ``run.json`` instead of the command line (with ``epochs`` when
#: it is not given); the keys are the ``args`` keys every run.json so far has written.
RESUMED_FIELDS = ("config", "ablation", "codebook_size", "seed", "format", "split", "stride",
                  "batch_size", "speakers", "no_mirror", "vq_epochs", "gamma", "lr", "text_encoder",
                  "audio_features", "text_dropout", "model")


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    """The one conversion from parsed options to settings; refuses options it does not know
    so the parser and the dataclass cannot drift apart."""
    names = {f.name for f in dataclasses.fields(TrainSettings)}
    extra = set(vars(args)) - names
    if extra:
        raise TypeError(f"options without a TrainSettings field: {sorted(extra)}")
    return TrainSettings(**{k: v for k, v in vars(args).items() if k in names})


# --------------------------------------------------------------------------- setup helpers


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> DistInfo:
    """Join the torchrun process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def build_config(preset: str, ablation: str, codebook_size: int | None, epochs: int,
                 vq_epochs: int | None, gamma: float | None, codebook_init: str | None = None,
                 audio_features: str = "mel", text_dropout: float | None = None,
                 model: str = "eg") -> EGGestureConfig:
    """Model config for a preset (tiny/small/default) with an ablation and overrides applied.

    ``codebook_init``: ``"random"`` or ``"data"`` (codes set from the first batch's latents);
    None keeps the preset's choice (random on the unit sphere, data for the tiny preset's raw
    latents; :mod:`egg_core.model.quantizer` explains and measures both).
    ``audio_features``: ``"mel"`` (built-in) or ``"whisper"`` (frozen Whisper tiny.en encoder,
    384 channels; :func:`egg_core.model.audio.compute_whisper_features`).
    """
    if ablation not in ABLATIONS:
        raise EggError(f"unknown --ablation {ablation!r}; choose one of {', '.join(ABLATIONS)}")
    if model not in MODELS:
        raise EggError(f"unknown --model {model!r}; choose one of {', '.join(MODELS)}")
    overrides = dict(ABLATIONS[ablation])
    whole_body = MODELS[model]
    config_cls = EGGestureConfig if whole_body is None else HIPConfig
    overrides.update(whole_body or {})
    if codebook_size is not None:
        if codebook_size < 2:
            raise EggError("--codebook-size must be at least 2")
        overrides["codebook_size"] = codebook_size
    if not overrides.get("joint_training", True):
        overrides["vq_epochs"] = vq_epochs if vq_epochs is not None else max(1, math.ceil(epochs / 2))
    if gamma is not None:
        overrides["gamma"] = gamma
    if text_dropout is not None:
        if not 0.0 <= text_dropout < 1.0:
            raise EggError(f"--text-dropout must be in [0, 1), got {text_dropout}")
        overrides["text_dropout"] = text_dropout
    if codebook_init is not None:
        if codebook_init not in ("random", "data"):
            raise EggError(f"--codebook-init must be random or data, got {codebook_init!r}")
        overrides["codebook_data_init"] = codebook_init == "data"
    if audio_features not in ("mel", "whisper"):
        raise EggError(f"--audio-features must be mel or whisper, got {audio_features!r}")
    if audio_features == "whisper":
        overrides.update(audio_features="whisper", audio_feature_dim=WHISPER_FEATURE_DIM)
    try:
        if preset == "tiny":
            return config_cls.tiny(**overrides)
        if preset == "small":
            return config_cls.small(**overrides)
        if preset == "default":
            return config_cls(**overrides)
    except ValueError as exc:
        raise EggError(f"invalid model configuration: {exc}") from exc
    raise EggError(f"unknown --config {preset!r}; use tiny, small or default")


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The data order of one epoch: a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Global batches of one epoch; the last partial batch is dropped unless it is the only one."""
    order = epoch_order(n, seed, epoch)
    full = n // batch_size
    if full == 0:
        return [order]
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(full)]


def collate(dataset: Any, indices: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    items = [dataset[int(i)] for i in indices]
    return {k: torch.stack([it[k] for it in items]).to(device, non_blocking=True) for k in items[0]}


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _vq_params(model: EGGesture | HIPGesture) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    vq_ids = {id(p) for m in model.vq_modules() for p in m.parameters()}
    vq = [p for p in model.parameters() if id(p) in vq_ids]
    rest = [p for p in model.parameters() if id(p) not in vq_ids]
    return vq, rest


def average_across_ranks(tensors: Sequence[torch.Tensor], world: int) -> None:
    """Replace each tensor (in place) by its mean over the ranks.

    For the quantizer's moving averages: every rank advances them from its own share of the
    batch, and the mean of the shares' averages is what one process would hold up to
    batch-split noise. DDP's ``broadcast_buffers`` would instead copy rank 0's and drop the
    other ranks' data from the usage estimate.
    """
    if world <= 1:
        return
    for t in tensors:
        dist.all_reduce(t)
        t /= world


class _Losses(nn.Module):
    """``EGGesture.losses`` as a forward pass: DistributedDataParallel synchronises gradients
    only for computations that go through the forward of the module it wraps."""

    def __init__(self, model: EGGesture) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> dict[str, torch.Tensor]:
        return self.model.losses(batch, epoch)


class _StopRequested(Exception):
    """Internal: every rank agreed to stop before the next step."""


class _StopFlag:
    """Turns SIGINT/SIGTERM into a request to stop after the current step (twice: abort)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("stopping after this step and saving (press Ctrl-C again to abort without saving)")

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


# --------------------------------------------------------------------------- logging


class RunLogger:
    """Where the per-step numbers go: ``log.csv``, TensorBoard and the progress bar.

    One object so the training loop says what happened in a step and nothing about files;
    ``enabled=False`` (ranks other than 0) turns every call into nothing. The CSV is
    line-buffered: a killed run loses at most the row being written.
    """

    HEADER = ("step", "epoch", "lr", *LOG_KEYS, "samples_per_s")

    def __init__(self, run_dir: Path, *, enabled: bool = True, tensorboard: bool = True,
                 progress: bool = True, total_steps: int = 0, start_step: int = 0) -> None:
        self._fh = self._csv = self._tb = self._bar = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / LOG_FILE
        new = not path.is_file() or path.stat().st_size == 0
        self._fh = path.open("a", newline="", encoding="utf-8", buffering=1)
        self._csv = csv.writer(self._fh)
        if new:
            self._csv.writerow(self.HEADER)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # optional: tensorboard is heavy

            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step or None)
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=min(start_step, total_steps), unit="step",
                             desc="training", dynamic_ncols=True)

    def log(self, step: int, epoch: int, lr: float, stats: Mapping[str, float], samples_per_s: float) -> None:
        if self._csv is not None:
            self._csv.writerow([step, epoch, lr, *[f"{stats[k]:.6g}" for k in LOG_KEYS], f"{samples_per_s:.2f}"])
        if self._tb is not None:
            for k in LOG_KEYS:
                self._tb.add_scalar(f"train/{k}", stats[k], step)
            self._tb.add_scalar("train/lr", lr, step)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(epoch=epoch, loss=f"{stats['total']:.3f}", usage=f"{stats['usage']:.2f}")

    def close(self) -> None:
        for thing in (self._bar, self._fh, self._tb):
            if thing is not None:
                thing.close()
        self._fh = self._csv = self._tb = self._bar = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @classmethod
    def truncate(cls, run_dir: Path, step: int) -> None:
        """Drop rows after ``step``: the interrupted run may have logged steps it never saved."""
        path = run_dir / LOG_FILE
        if not path.is_file():
            return
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        header = list(cls.HEADER)
        keep = [header] + [r for r in rows[1:] if len(r) == len(header) and r[0].isdigit() and int(r[0]) <= step]
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(keep)


# --------------------------------------------------------------------------- the trainer


class Trainer:
    """One training run in one run folder (see the module docstring for its files)."""

    def __init__(self, settings: TrainSettings) -> None:
        self.settings = settings
        self.run_dir = Path(settings.out)
        self.device = resolve_device(settings.device)
        self.dist = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.dist.world > 1:
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        self.start_epoch = 0
        self.start_batch = 0
        self.global_step = 0
        self._resumed_windows: int | None = None
        self._prepare_run_dir()

    # --- run folder -------------------------------------------------------------------------
    def _prepare_run_dir(self) -> None:
        s = self.settings
        state_path = self.run_dir / STATE_FILE
        if s.resume:
            if not state_path.is_file():
                raise EggError(f"--resume: {state_path} does not exist; nothing to resume in {self.run_dir}")
            try:
                run = json.loads((self.run_dir / RUN_FILE).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise EggError(f"--resume: cannot read {self.run_dir / RUN_FILE} ({exc}); "
                               "the run folder is damaged") from exc
            self.settings = s.resumed(run["args"])
            self._resumed_windows = run.get("dataset", {}).get("windows")
            return
        if self.run_dir.exists() and any(self.run_dir.iterdir()):
            if not s.overwrite:
                raise EggError(f"{self.run_dir} already exists and is not empty; pass --resume to continue "
                               "that run, --overwrite to start it again, or choose another --out")
            if not (self.run_dir / RUN_FILE).is_file():
                raise EggError(f"{self.run_dir} is not empty and does not look like a training run "
                               f"(no {RUN_FILE}); refusing to delete it, choose another --out")
            if self.dist.main:
                shutil.rmtree(self.run_dir)
        self._barrier()

    def _barrier(self) -> None:
        if self.dist.world > 1:
            dist.barrier()

    # --- building ---------------------------------------------------------------------------
    def build(self) -> None:
        if self.settings.epochs is None:
            self.settings = dataclasses.replace(self.settings, epochs=DEFAULT_EPOCHS)
        s = self.settings
        self.config = build_config(s.config, s.ablation, s.codebook_size, s.epochs, s.vq_epochs, s.gamma,
                                   s.codebook_init, s.audio_features, s.text_dropout, s.model)
        if s.text_encoder:
            self.config.text_encoder = s.text_encoder
        data_settings = DataSettings.from_config(self.config)
        stride = s.stride or max(1, self.config.window_frames // 4)
        kwargs = dict(fmt=s.format, split=None if s.split == "all" else s.split, speakers=s.speakers,
                      mirror=not s.no_mirror, cache_dir=s.cache_dir)
        whole_body = isinstance(self.config, HIPConfig)
        if whole_body:  # part features and phase targets (the phase autoencoder trains on rank 0)
            config = self.config
            kwargs["prepare"] = lambda clips: prepare_whole_body(clips, config, self.run_dir, s.seed,
                                                                 s.phase_steps)
        if self.dist.main:  # rank 0 fills the feature cache, the others then read it
            self.dataset, self.report = load_dataset(s.data, data_settings, self.config.window_frames, stride,
                                                     progress=not s.quiet, **kwargs)
        self._barrier()
        if not self.dist.main:
            self.dataset, self.report = load_dataset(s.data, data_settings, self.config.window_frames, stride,
                                                     progress=False, **kwargs)
        if self.dist.main and not s.quiet:
            log.info("%s", self.report.summary())
        if s.batch_size < self.dist.world:
            raise EggError(f"--batch-size {s.batch_size} is smaller than the {self.dist.world} processes")
        self.batches_per_epoch = len(epoch_batches(len(self.dataset), s.batch_size, s.seed, 0))

        torch.manual_seed(s.seed)  # identical initial weights on every rank
        self.model = (HIPGesture(self.config) if whole_body else EGGesture(self.config)).to(self.device)
        if whole_body:
            mean, std = feature_statistics(self.dataset.clips)
            self.model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=s.lr)
        decay_epoch = max(1, round(s.epochs * 100 / 120))
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, [decay_epoch], gamma=0.1)
        self.amp_dtype = None
        if self.device.type == "cuda" and not s.no_amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        seed_rank = s.seed * 1000 + self.dist.rank
        random.seed(seed_rank)
        np.random.seed(seed_rank % (2**32))
        torch.manual_seed(seed_rank)

        if s.resume:
            if self._resumed_windows not in (None, len(self.dataset)) and self.dist.main:
                log.warning("the data now gives %d windows, the run started with %s; the data order "
                            "will differ from the original run", len(self.dataset), self._resumed_windows)
            self._load_state()
        elif self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            run = {"args": dataclasses.asdict(s), "config": self.config.to_dict(), "world_size": self.dist.world,
                   "dataset": {"windows": len(self.dataset), "clips": self.report.used,
                               "problems": self.report.problems, "notes": self.report.notes,
                               "class_names": list(self.dataset.class_names)},
                   "decay_epoch": decay_epoch}
            (self.run_dir / RUN_FILE).write_text(json.dumps(run, indent=2, default=str), encoding="utf-8")
            np.save(self.run_dir / MEAN_VEL_FILE, mean_velocity(self.dataset.clips))
        self.posture = mean_posture(self.dataset.clips)
        self._wrap_for_ranks()

    def _wrap_for_ranks(self) -> None:
        """DistributedDataParallel across torchrun ranks (built after loading, so that its
        initial broadcast of rank 0's weights carries the resumed ones)."""
        # the quantizer's moving averages, which every rank advances from its own share
        self._rank_averaged = [b for q in self.model.quantizers() for b in q.buffers() if b.is_floating_point()]
        if self.dist.world == 1:
            self._losses: Any = self.model.losses
            return
        cuda = self.device.type == "cuda"
        self._losses = DistributedDataParallel(
            _Losses(self.model), device_ids=[self.device.index] if cuda else None,
            output_device=self.device.index if cuda else None, **_NO_BUFFER_BROADCAST,
            # the two-stage recipe leaves the decoder (stage 2) or the classifier (stage 1) unused
            find_unused_parameters=not self.config.joint_training)

    def _load_state(self) -> None:
        state = torch.load(self.run_dir / STATE_FILE, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.start_epoch, self.start_batch = state["epoch"], state["batch"]
        self.global_step = state["global_step"]
        rng = state["rng"].get(self.dist.rank)
        if rng is not None:
            _set_rng_state(rng)
        if state.get("world", 1) != self.dist.world and self.dist.main:
            log.info("note: resuming a %d-process run with %d processes; the data order is kept, "
                     "the Gumbel noise differs", state.get("world", 1), self.dist.world)
        if self.dist.main:
            RunLogger.truncate(self.run_dir, self.global_step)

    # --- saving -----------------------------------------------------------------------------
    def save(self, epoch: int, batch: int, rng: dict[str, Any]) -> None:
        """Write model + training state atomically (rank 0). ``rng``: states at that position."""
        s = self.settings
        rngs = self._gather_rng(rng)
        if not self.dist.main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                 "epoch": epoch, "batch": batch, "global_step": self.global_step, "rng": rngs,
                 "world": self.dist.world, "seed": s.seed}
        _atomic_torch_save(state, self.run_dir / STATE_FILE)
        meta = {"training_data": str(s.data), "training": {
            "epoch": epoch, "batch_in_epoch": batch, "global_step": self.global_step,
            "ablation": s.ablation, "seed": s.seed, "epochs": s.epochs,
            "batch_size": s.batch_size, "world_size": self.dist.world,
            "clips": len(self.report.used), "windows": len(self.dataset)},
            "class_names": list(self.dataset.class_names),
            # the pose of the joints the model does not generate (egg_core.inference uses it)
            "posture": self.posture.round(6).tolist()}
        save_checkpoint(self.model, self.run_dir / MODEL_FILE, meta, overwrite=True)

    def _gather_rng(self, rng: dict[str, Any]) -> dict[int, Any]:
        if self.dist.world == 1:
            return {0: rng}
        out: list[Any] = [None] * self.dist.world
        dist.all_gather_object(out, rng)
        return dict(enumerate(out))

    # --- one step ---------------------------------------------------------------------------
    def step(self, batch: dict[str, torch.Tensor], epoch: int) -> dict[str, float]:
        """One optimiser step on this rank's share of a global batch; the mean statistics."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            out = self._losses(batch, epoch)
        total = out["total"]
        if not torch.isfinite(total):
            raise EggError(f"the loss became {float(total)} at step {self.global_step}; lower --lr "
                           "or check the data (NaN features?)")
        if total.requires_grad:
            self.scaler.scale(total).backward()  # DDP averages the gradients here
        if self.settings.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            for group in _vq_params(self.model):  # never one norm across both groups
                torch.nn.utils.clip_grad_norm_(group, self.settings.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        average_across_ranks(self._rank_averaged, self.dist.world)
        values = torch.stack([out[k].detach().float().reshape(()) for k in LOG_KEYS])
        average_across_ranks([values], self.dist.world)
        return dict(zip(LOG_KEYS, values.tolist(), strict=True))

    def _stop_everywhere(self, local: bool) -> bool:
        if self.dist.world == 1:
            return local
        flag = torch.tensor([1.0 if local else 0.0])
        dist.all_reduce(flag)
        return bool(flag.item() > 0)

    # --- the loop ---------------------------------------------------------------------------
    def train(self) -> int:
        """Train to ``epochs`` / ``max_steps``; 0 when done, 130 when a signal stopped it (saved)."""
        s = self.settings
        total_steps = s.epochs * self.batches_per_epoch
        if s.max_steps:
            total_steps = min(total_steps, s.max_steps)
        status = 0
        epoch, b = self.start_epoch, self.start_batch
        last_saved = self.global_step if s.resume else -1
        rng_at = _rng_state()
        logger = RunLogger(self.run_dir, enabled=self.dist.main, tensorboard=not s.no_tensorboard,
                           progress=not s.quiet, total_steps=total_steps, start_step=self.global_step)
        batches, batches_of = [], -1  # the batches of epoch ``batches_of``
        with logger, _StopFlag() as stop:
            try:
                while epoch < s.epochs and self.global_step < total_steps:
                    # the order of *this* epoch, whether it began in this session or a resumed one
                    if batches_of != epoch:
                        batches, batches_of = epoch_batches(len(self.dataset), s.batch_size, s.seed, epoch), epoch
                    if b >= len(batches):  # resumed on data that now gives fewer batches: epoch over
                        b, epoch = 0, epoch + 1
                        self.scheduler.step()
                        continue
                    rng_at = _rng_state()
                    if self._stop_everywhere(stop.requested):
                        raise _StopRequested
                    t0 = time.perf_counter()
                    shard = batches[b][self.dist.rank :: self.dist.world]
                    stats = self.step(collate(self.dataset, shard, self.device), epoch)
                    self.global_step += 1
                    b += 1
                    rate = len(batches[b - 1]) / max(time.perf_counter() - t0, 1e-9)
                    logger.log(self.global_step, epoch, self.optimizer.param_groups[0]["lr"], stats, rate)
                    if b == len(batches):
                        b = 0
                        epoch += 1
                        self.scheduler.step()
                    if s.save_every and self.global_step % s.save_every == 0:
                        self.save(epoch, b, _rng_state())
                        last_saved = self.global_step
            except _StopRequested:
                status = 130
                # save the position of the step that did not run, with the RNG state it would have used
                if self.dist.main:
                    log.warning("interrupted at step %d; saving to %s", self.global_step, self.run_dir)
                self.save(epoch, b, rng_at)
                last_saved = self.global_step
        if status == 0 and last_saved != self.global_step:
            self.save(epoch, b, _rng_state())
        if self.dist.main and not s.quiet:
            done = "stopped" if status else "finished"
            log.info("%s at step %d (epoch %d); model: %s", done, self.global_step, epoch,
                     self.run_dir / MODEL_FILE)
        return status


def train_run(settings: TrainSettings) -> int:
    """Train (or resume) one run in this process; 0 when finished, 130 when stopped by a signal.

    The function the CLI and the study drivers share, so that they cannot differ; errors a
    user can cause raise :class:`EggError`. Under torchrun it joins and leaves the process
    group itself.
    """
    if settings.resume and settings.overwrite:
        raise EggError("--resume and --overwrite exclude each other")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        trainer = Trainer(settings)
        trainer.build()
        return trainer.train()
    finally:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_initialized():
            dist.destroy_process_group()


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """The CLI; every destination is a :class:`TrainSettings` field of the same name and default."""
    ap = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(ap, split="train")
    ap.add_argument("--out", required=True, help="run folder (created; see module docs)")
    ap.add_argument("--config", default="default", choices=["tiny", "small", "default"],
                    help="model size: tiny (tests), small (CPU, the bundled model), default (paper-like)")
    ap.add_argument("--model", default="eg", choices=list(MODELS),
                    help="eg: the single-part model (upper body + hands); parts: whole body with a "
                         "codebook per part; cascade: + face->body->hands guidance; hip: + phase guidance")
    ap.add_argument("--ablation", default="full", choices=list(ABLATIONS))
    ap.add_argument("--codebook-size", type=int, default=None)
    ap.add_argument("--vq-epochs", type=int, default=None,
                    help="two-stage ablations: epochs of VQ-VAE before the classifier (default half)")
    ap.add_argument("--gamma", type=float, default=None, help="eq. 11 schedule constant (paper 500)")
    ap.add_argument("--text-dropout", type=float, default=None,
                    help="chance that a training window's words are withheld, so the model also "
                         "works from audio alone (default 0)")
    ap.add_argument("--phase-steps", type=int, default=PAE_STEPS,
                    help="--model hip: steps of the periodic autoencoder trained first (default %(default)s)")
    ap.add_argument("--codebook-init", default=None, choices=["random", "data"],
                    help="codebook initialisation (default: the preset's; see egg_core/model/quantizer.py)")
    ap.add_argument("--text-encoder", default=None, choices=["auto", "minilm", "hashed"])
    ap.add_argument("--audio-features", default="mel", choices=["mel", "whisper"],
                    help="speech features: mel (built-in log-mel, default) or whisper (frozen Whisper "
                         "tiny.en encoder; needs the asr extra)")
    ap.add_argument("--epochs", type=int, default=None, help="default 120 (lr x0.1 at 100/120 of it)")
    ap.add_argument("--batch-size", type=int, default=128, help="global batch (split over processes)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--stride", type=int, default=None, help="window stride in frames (default window/4)")
    ap.add_argument("--no-mirror", action="store_true", help="no left/right mirrored copies")
    ap.add_argument("--grad-clip", type=float, default=0.0,
                    help="clip gradient norm of VQ-VAE and classifier groups separately (0: off)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=None, help="stop (and save) after this many steps")
    ap.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps (0: only at the end)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads per process (default: torch's choice; use 1 per process on a busy machine)")
    ap.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/eggesture/features)")
    ap.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    ap.add_argument("--overwrite", action="store_true", help="delete the run in --out and start again")
    ap.add_argument("--no-tensorboard", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bar or summaries")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: train_run(settings_from_args(args)), quiet=args.quiet,
                   interrupted="aborted without saving (the last checkpoint in the run folder is intact)")


if __name__ == "__main__":
    sys.exit(main())
