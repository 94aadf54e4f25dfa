"""The working folder and the step runner of the study drivers (:mod:`training.ablation`,
:mod:`training.default_model`).

Why one place: both write data derived from the shared recordings, which must never land in
the repository (and so never be committed); the rule is checked here once. And both run the
same kind of steps (generate data, train, evaluate), which must run the same way in both.

How a step runs: :func:`start_step` calls a Python function (``training.train.train_run``
with its settings, or a module's ``main(argv)``) in a fresh process of its own, with its
output in a log file. A process, not a call in the driver, because a step changes
process-wide state that the next step must not inherit (torch's thread count, the global
RNGs the trainer seeds, signal handlers, a torchrun process group), because the ablation
trains rows side by side, and because a crashing step must leave the driver able to say
which step failed and where its log is.

Threads: every step gets exactly ``threads`` CPU threads (``OMP_NUM_THREADS`` for the
libraries that read it when they load, and ``torch.set_num_threads`` for torch), default 1.
The drivers pass one number for all their steps, so evaluation and training of one study use
the same count; that count is also what exact reproduction of a run needs (float reductions
depend on it).
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from egg_core.cli import run_cli
from egg_core.errors import EggError

REPO = Path(__file__).resolve().parents[1]
_ENV_LOCK = threading.Lock()


def prepare_work_dir(path: str | Path) -> Path:
    """``path`` resolved and created; an :class:`EggError` when it is inside the repository."""
    work = Path(path).resolve()
    if work == REPO or REPO in work.parents:
        raise EggError("--work must be outside the repository (the data must never be committed)")
    work.mkdir(parents=True, exist_ok=True)
    return work


def link(src: Path, dst: Path) -> None:
    """``dst`` becomes a symlink to ``src`` (replacing an older link): data folders hold links only."""
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    dst.symlink_to(Path(src).resolve())


def link_takes(folder: Path, takes: list[Path]) -> Path:
    """``folder`` with each take's motion (.npz), speech (.wav) and TextGrid (if any), as symlinks."""
    folder.mkdir(parents=True, exist_ok=True)
    for take in takes:
        for ext in (".npz", ".wav", ".TextGrid"):
            src = Path(take).with_suffix(ext)
            if src.is_file():
                link(src, folder / src.name)
            elif ext != ".TextGrid":
                raise EggError(f"{src} is missing: a take needs its motion (.npz) and speech (.wav)")
    return folder


def run_finished(run: Path, epochs: int) -> bool:
    """True when the run folder holds a model saved after all ``epochs`` (not an interrupted run)."""
    if not (run / "model.json").is_file() or not (run / "model.safetensors").is_file():
        return False
    meta = json.loads((run / "model.json").read_text(encoding="utf-8")).get("metadata", {})
    return int(meta.get("training", {}).get("epoch", -1)) >= epochs


def _step_main(target: Callable[..., int | None], args: tuple[Any, ...], log: str | None, append: bool,
               threads: int) -> None:
    """Entry point of a step's process: output to the log, thread count, exit status."""
    if log is not None:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), 0o644)
        for stream in (1, 2):  # the descriptors, so that native libraries' output lands there too
            os.dup2(fd, stream)
        os.close(fd)
    torch.set_num_threads(threads)
    code = run_cli(lambda: target(*args))
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(int(code or 0))


@contextmanager
def _env(**values: str) -> Iterator[None]:
    """Environment variables set while a child process starts (it copies the environment)."""
    with _ENV_LOCK:
        old = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@dataclass
class Step:
    """A running step; :meth:`wait` raises when it failed."""

    label: str
    process: multiprocessing.process.BaseProcess
    log: Path | None
    started: float = field(default_factory=time.time)

    def done(self) -> bool:
        """Ended (its process closed its end; :meth:`wait` then returns at once)."""
        return bool(multiprocessing.connection.wait([self.process.sentinel], timeout=0))

    def wait(self) -> float:
        """Block until the step ends; its wall seconds, or an :class:`EggError` naming its log.

        On Ctrl-C the step's process got the signal too (one process group): the trainer then
        saves and exits, so it is waited for before the interrupt goes on.
        """
        try:
            self.process.join()
        except KeyboardInterrupt:
            self.process.join()  # a second Ctrl-C aborts both
            raise
        code = self.process.exitcode
        if code != 0:
            raise EggError(f"step failed (exit {code}): {self.label}" + (f"; see {self.log}" if self.log else ""))
        return time.time() - self.started

    def stop(self) -> None:
        """End the step early: SIGTERM, which the trainer answers by saving after its current
        step (so the run resumes later), and wait for it."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()


def start_step(target: Callable[..., int | None], *args: Any, label: str, log: Path | None = None,
               append: bool = False, threads: int = 1) -> Step:
    """Start ``target(*args)`` in its own process (see the module docstring for why and how).

    ``target`` must be importable by name (a module-level function) and ``args`` picklable;
    its return value is the exit status (None: 0) and an :class:`EggError` it raises is
    printed as ``error: ...`` with status 2, as the CLIs do. ``label`` is what is printed and
    named in errors (the equivalent command line). ``log``: stdout and stderr go there
    (``append`` to continue one), else to the driver's own.
    """
    if threads < 1:
        raise EggError(f"threads must be at least 1, got {threads}")
    print(f"$ {label}", flush=True)
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited torch state
    proc = ctx.Process(target=_step_main, args=(target, args, None if log is None else str(log), append, threads),
                       name=label[:60])
    with _env(OMP_NUM_THREADS=str(threads)):
        proc.start()
    return Step(label, proc, log)


def wait_any(steps: Iterable[Step]) -> list[Step]:
    """Block until at least one of ``steps`` has ended; the ended ones."""
    steps = list(steps)
    ready = set(multiprocessing.connection.wait([s.process.sentinel for s in steps]))
    return [s for s in steps if s.process.sentinel in ready]


def run_step(target: Callable[..., int | None], *args: Any, label: str, log: Path | None = None,
             append: bool = False, threads: int = 1) -> float:
    """:func:`start_step` and wait for it; the step's wall seconds."""
    return start_step(target, *args, label=label, log=log, append=append, threads=threads).wait()


def module_step(module: Any, argv: list[str], *, log: Path | None = None, threads: int = 1) -> float:
    """Run ``module.main(argv)`` as a step, labelled with its ``python -m`` command line."""
    label = shlex.join(["python", "-m", module.__name__, *argv])
    return run_step(module.main, argv, label=label, log=log, threads=threads)
