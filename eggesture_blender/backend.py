"""Runs a generation job off Blender's main thread and reports back through a queue.

Two backends, one interface (:class:`Job`):

* ``thread`` -- :func:`worker.run_job` on a ``threading.Thread`` inside Blender, used
  when torch (and the other model packages) import in Blender's Python;
* ``process`` -- ``<python> worker.py`` as a subprocess of an external interpreter that
  has torch; its JSON-lines progress is read by a small reader thread.

The main thread calls :meth:`Job.poll` (from a modal operator's TIMER event or a
``bpy.app.timers`` callback); it never blocks and never touches Blender data, so
nothing here imports bpy. Applying the result is the caller's job.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from . import worker
from ._core import core, core_root
from .worker import GenerationRequest, GenerationResult, JobCancelled, TranscriptionResult

WORKER_SCRIPT = Path(worker.__file__).resolve()

RUNNING, DONE, FAILED, CANCELLED = "RUNNING", "DONE", "FAILED", "CANCELLED"


class GenerationFailed(Exception):
    """A job ended without a result; the message says why (shown to the user as is)."""


def in_process_available() -> bool:
    """True when the model packages are importable here (checked without importing torch)."""
    return all(importlib.util.find_spec(name) is not None for name in worker.REQUIRED_PACKAGES)


def _is_blender_binary(path: str) -> bool:
    return Path(path).name.lower().startswith("blender")


def python_candidates(configured: str = "") -> list[str]:
    """Interpreters to try for the external worker, best first (existing files only)."""
    names = [configured, os.environ.get("EGGESTURE_PYTHON", "")]
    if not _is_blender_binary(sys.executable):
        names.append(sys.executable)
    names += [shutil.which(n) or "" for n in ("python3", "python")]
    seen: list[str] = []
    for name in names:
        if name and Path(name).is_file() and name not in seen:
            seen.append(name)
    return seen


def check_interpreter(python: str, timeout: float = 60.0) -> dict:
    """Run ``worker.py --check`` with ``python`` and return its JSON report."""
    proc = subprocess.run(
        [python, str(WORKER_SCRIPT), "--core-path", str(core_root()), "--check"],
        capture_output=True, text=True, timeout=timeout,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{python} did not answer the setup check: {proc.stderr.strip()[-400:]}")


def find_worker_python(configured: str = "") -> str | None:
    """The first candidate interpreter whose setup check reports nothing missing."""
    for python in python_candidates(configured):
        try:
            if not check_interpreter(python)["missing"]:
                return python
        except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError):
            continue
    return None


class Job:
    """One generation run. ``state`` is RUNNING until :meth:`poll` sees it end."""

    def __init__(self, request: GenerationRequest, mode: str = "thread", python: str | None = None):
        if mode not in ("thread", "process"):
            raise ValueError(f"unknown backend {mode!r}")
        if mode == "process" and not python:
            raise ValueError("the process backend needs a Python interpreter path")
        self.request = request
        self.mode = mode
        self.python = python
        self.state = RUNNING
        self.progress = 0.0
        self.message = "Starting"
        self.error: str | None = None
        self.result: GenerationResult | TranscriptionResult | None = None
        self._events: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._tmp = tempfile.TemporaryDirectory(prefix="eggesture_")
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Job:
        if self.mode == "thread":
            self._thread = threading.Thread(target=self._run_thread, name="eggesture-job", daemon=True)
        else:
            self.request.output_path = str(Path(self._tmp.name) / f"{self.request.task}.result")
            req = Path(self._tmp.name) / "request.json"
            req.write_text(self.request.to_json(), encoding="utf-8")
            self._proc = subprocess.Popen(
                [self.python, str(WORKER_SCRIPT), "--core-path", str(core_root()), "--request", str(req)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                # Blender keeps the CPU busy while the worker runs: spin-waiting OpenMP threads
                # would slow torch many times over (see egg_core.generate).
                env={**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")},
            )
            self._thread = threading.Thread(target=self._read_process, name="eggesture-reader", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop; :meth:`poll` reports CANCELLED once it has."""
        self._cancel.set()
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.terminate()
            except OSError:
                pass

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends (headless use) and return its final state."""
        if self._thread is not None:
            self._thread.join(timeout)
        self.poll()
        return self.state

    @property
    def finished(self) -> bool:
        return self.state != RUNNING

    def poll(self) -> str:
        """Drain pending events (non-blocking) and return the current state."""
        while True:
            try:
                kind, a, b = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                self.progress, self.message = float(a), str(b)
            elif kind == "done":
                self.result, self.state, self.progress, self.message = a, DONE, 1.0, "Done"
            elif kind == "error":
                self.error, self.state, self.message = str(a), FAILED, "Failed"
            elif kind == "cancelled":
                self.state, self.message = CANCELLED, "Cancelled"
        if self.finished:
            self._tmp.cleanup()
        return self.state

    # -- producers (run on the background thread) --------------------------------------

    def _run_thread(self) -> None:
        try:
            result = worker.run_task(self.request, core, self._report, self._cancel)
        except JobCancelled:
            self._events.put(("cancelled", None, None))
        except Exception as exc:  # noqa: BLE001 - shown to the user by the operator
            self._events.put(("error", _describe(exc), None))
        else:
            if self._cancel.is_set():
                self._events.put(("cancelled", None, None))
            else:
                self._events.put(("done", result, None))

    def _report(self, fraction: float, message: str) -> None:
        self._events.put(("progress", fraction, message))

    def _read_process(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        final = None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            if kind == "progress":
                self._report(event.get("fraction", 0.0), event.get("message", ""))
            elif kind in ("done", "error", "cancelled"):
                final = event
        proc.wait()
        stderr = proc.stderr.read() if proc.stderr else ""
        if self._cancel.is_set():
            self._events.put(("cancelled", None, None))
        elif final is not None and final["event"] == "done":
            try:
                result_type = worker.RESULT_TYPES[self.request.task]
                self._events.put(("done", result_type.load(final["result"]), None))
            except (OSError, ValueError, KeyError) as exc:
                self._events.put(("error", f"the worker's motion file is unreadable: {exc}", None))
        elif final is not None and final["event"] == "error":
            self._events.put(("error", final.get("message", "unknown error"), None))
        else:
            tail = stderr.strip().splitlines()[-3:]
            self._events.put(("error", f"the worker ({self.python}) exited with status "
                                       f"{proc.returncode}: {' | '.join(tail) or 'no output'}", None))


def _describe(exc: BaseException) -> str:
    """User errors as their message; anything else with its type so bugs stay recognisable."""
    try:
        egg_error = core("errors").EggError
    except ImportError:
        egg_error = ()
    if egg_error and isinstance(exc, egg_error):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_sync(request: GenerationRequest, mode: str = "thread", python: str | None = None,
             progress=None) -> GenerationResult | TranscriptionResult:
    """Run a job to completion on the calling thread's behalf (headless / batch use)."""
    if mode == "thread":
        return worker.run_task(request, core, progress)
    job = Job(request, mode, python).start()
    state = job.wait()
    if state != DONE:
        raise GenerationFailed(job.error or f"generation {state.lower()}")
    return job.result
