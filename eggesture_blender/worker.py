"""Generation job: audio (+ transcript) -> SMPL-X motion, in a thread or a separate Python.

This file never imports bpy, so it serves two roles:

* **in-process**: the add-on imports :func:`run_job` and runs it on a worker thread when
  torch imports inside Blender's Python;
* **external worker**: otherwise the add-on starts ``<python> worker.py --core-path DIR
  --request REQ.json`` with a Python that has torch. The worker puts DIR (the folder
  holding the add-on's own egg_core copy) first on ``sys.path``, streams JSON lines
  on stdout and writes the result (motion npz, transcript JSON for the "transcribe"
  task, mouth npz for the "lipsync" task) to the file named in the request::

      {"event": "progress", "fraction": 0.4, "message": "window 2/5"}
      {"event": "done", "result": "/tmp/.../motion.npz", "task": "generate"}
      {"event": "error", "message": "...", "user_error": true}

  Closing its stdin cancels it (so it also stops when Blender quits). Exit status:
  0 done, 2 user error (EggError), 3 cancelled, 1 bug.

``--check`` prints one JSON object describing the interpreter (Python, torch, CUDA,
missing packages) for the add-on's "Check Setup" button.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

Progress = Callable[[float, str], None]
CoreImport = Callable[[str], ModuleType]

#: Packages the model path needs besides numpy (checked by "Check Setup").
REQUIRED_PACKAGES = ("torch", "scipy", "soundfile", "safetensors")
#: Packages lip sync alone needs besides numpy (pocketsphinx is optional: it aligns phones).
LIPSYNC_PACKAGES = ("soundfile", "tqdm")


class JobCancelled(Exception):
    """The user cancelled the job."""


@dataclass
class GenerationRequest:
    """Everything a generation job needs; JSON-serialisable so it can cross a process boundary."""

    audio_path: str
    fps: float
    output_path: str = ""
    transcript_path: str | None = None
    transcript_text: str | None = None
    seed: int = 0
    temperature: float = 0.4  # egg_core.inference.DEFAULT_TEMPERATURE
    device: str = "auto"
    checkpoint: str | None = None
    task: str = "generate"  # or "transcribe" (speech -> text, for the Transcribe button), "lipsync"
    lipsync: bool = False  # "generate": also find the mouth motion (egg_core.lipsync)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> GenerationRequest:
        return cls(**json.loads(text))


@dataclass
class MouthResult:
    """Mouth motion of one clip: an ``egg_core.lipsync.MouthTrack`` as plain arrays.

    Plain arrays so that the add-on can load it without importing egg_core's audio code.
    """

    weights: np.ndarray  # (T, 15) canonical viseme weights (egg_core.lipsync.VISEMES)
    jaw: np.ndarray  # (T,) opening 0..1
    fps: float
    source: str  # egg_core.lipsync.sources.SOURCES
    message: str
    fallback: bool = False  # a poorer route than phones: the user is told how to do better

    @classmethod
    def from_track(cls, track: Any, fallback: bool) -> MouthResult:
        return cls(np.asarray(track.weights, np.float32), np.asarray(track.jaw, np.float32),
                   float(track.fps), str(track.source), str(track.message), bool(fallback))

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {f"{prefix}weights": self.weights, f"{prefix}jaw": self.jaw,
                f"{prefix}fps": np.float64(self.fps), f"{prefix}source": np.array(self.source),
                f"{prefix}message": np.array(self.message), f"{prefix}fallback": np.bool_(self.fallback)}

    @classmethod
    def from_arrays(cls, data: Any, prefix: str = "") -> MouthResult | None:
        if f"{prefix}weights" not in data:
            return None
        return cls(data[f"{prefix}weights"], data[f"{prefix}jaw"], float(data[f"{prefix}fps"]),
                   str(data[f"{prefix}source"]), str(data[f"{prefix}message"]),
                   bool(data[f"{prefix}fallback"]))

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, **self.arrays())

    @classmethod
    def load(cls, path: str | Path) -> MouthResult:
        with np.load(path, allow_pickle=False) as data:
            return cls.from_arrays(data)


@dataclass
class GenerationResult:
    """SMPL-X motion at the requested fps plus a note on how the words were found."""

    poses: np.ndarray  # (T, 55, 3) axis-angle
    trans: np.ndarray  # (T, 3) metres, Y-up
    fps: float
    words_note: str = ""
    warnings: list[str] = field(default_factory=list)  # shown to the user as warnings
    expressions: np.ndarray | None = None  # (T, 100) FLAME coefficients; None: a still face
    mouth: MouthResult | None = None  # with GenerationRequest.lipsync

    def save(self, path: str | Path) -> None:
        extra = {} if self.expressions is None else {"expressions": self.expressions}
        extra.update(self.mouth.arrays("mouth_") if self.mouth is not None else {})
        with open(path, "wb") as fh:
            np.savez(fh, poses=self.poses, trans=self.trans, fps=np.float64(self.fps),
                     words_note=np.array(self.words_note), warnings=np.array(self.warnings, dtype=str),
                     **extra)

    @classmethod
    def load(cls, path: str | Path) -> GenerationResult:
        with np.load(path, allow_pickle=False) as data:
            warnings = [str(w) for w in data["warnings"]] if "warnings" in data else []
            expressions = data["expressions"] if "expressions" in data else None
            return cls(data["poses"], data["trans"], float(data["fps"]), str(data["words_note"]), warnings,
                       expressions, MouthResult.from_arrays(data, "mouth_"))


@dataclass
class TranscriptionResult:
    """Recognised text of the audio and how it was found (egg_core.words method + message)."""

    text: str
    method: str
    message: str

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TranscriptionResult:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


RESULT_TYPES = {"generate": GenerationResult, "transcribe": TranscriptionResult, "lipsync": MouthResult}


_GENERATORS: dict[tuple[str | None, str], Any] = {}
_GENERATORS_LOCK = threading.Lock()


def _generator(core: CoreImport, checkpoint: str | None, device: str) -> Any:
    """The GestureGenerator for (checkpoint, device), loaded once per process."""
    key = (checkpoint or None, device)
    with _GENERATORS_LOCK:
        if key not in _GENERATORS:
            inference = core("inference")
            _GENERATORS[key] = inference.GestureGenerator.from_checkpoint(checkpoint or None, device=device)
        return _GENERATORS[key]


def run_job(
    request: GenerationRequest,
    core: CoreImport,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> GenerationResult:
    """Generate motion for ``request`` (synchronous). Raises :class:`JobCancelled` on cancel.

    The work is ``egg_core.pipeline.speech_to_motion``, the same pipeline as the CLI's; a
    given transcript is aligned, never replaced by a transcription.
    """
    pipeline = core("pipeline")
    speech = pipeline.SpeechRequest(
        audio=request.audio_path, transcript=request.transcript_path or None,
        transcript_text=request.transcript_text, fps=request.fps, seed=request.seed,
        temperature=request.temperature)
    try:
        result = pipeline.speech_to_motion(
            lambda: _generator(core, request.checkpoint, request.device), speech, progress, cancel)
    except core("inference").Cancelled as exc:
        raise JobCancelled("cancelled") from exc
    if progress is not None:
        progress(1.0, "Done")
    motion = result.motion
    expressions = np.asarray(motion.expressions, dtype=np.float32)
    mouth, warnings = None, list(result.warnings)
    if request.lipsync:  # the same words and the generated jaw: no second word search
        mouth = _mouth(request, core, words=result.words.words, words_note=result.words.message,
                       find_missing_words=False, motion=motion)
        if mouth.fallback:
            warnings.append(f"lip sync: {mouth.message}")
    return GenerationResult(np.asarray(motion.poses, dtype=np.float32),
                            np.asarray(motion.trans, dtype=np.float32), float(motion.fps),
                            result.words.note, warnings,
                            expressions if np.any(expressions) else None, mouth)


def _mouth(request: GenerationRequest, core: CoreImport, progress: Progress | None = None,
           **known: Any) -> MouthResult:
    """The mouth track of the request's audio by egg_core.lipsync.sources.mouth_for_speech."""
    sources = core("lipsync.sources")
    motion = known.get("motion")
    track = sources.mouth_for_speech(
        request.audio_path, request.fps, transcript=request.transcript_path or None,
        transcript_text=request.transcript_text, progress=progress,
        num_frames=motion.num_frames if motion is not None else None, **known)
    return MouthResult.from_track(track, track.source in sources.FALLBACKS)


def run_lipsync(
    request: GenerationRequest,
    core: CoreImport,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> MouthResult:
    """Mouth motion alone (no gesture model): phones of the transcript, else the loudness."""
    progress = progress or (lambda fraction, message: None)
    result = _mouth(request, core, progress)
    if cancel is not None and cancel.is_set():
        raise JobCancelled("cancelled")
    progress(1.0, "Done")
    return result


def run_transcribe(
    request: GenerationRequest,
    core: CoreImport,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> TranscriptionResult:
    """Transcribe the audio with word timestamps (faster-whisper through egg_core.words)."""
    progress = progress or (lambda fraction, message: None)
    progress(0.0, "Transcribing")
    result = core("words").find_words(request.audio_path, None, progress=progress)
    if cancel is not None and cancel.is_set():
        raise JobCancelled("cancelled")
    text = " ".join(w.text for w in result.words)
    progress(1.0, "Done")
    return TranscriptionResult(text, result.method, result.message)


def run_task(request: GenerationRequest, core: CoreImport, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> GenerationResult | TranscriptionResult | MouthResult:
    """Dispatch on ``request.task``."""
    if request.task == "transcribe":
        return run_transcribe(request, core, progress, cancel)
    if request.task == "lipsync":
        return run_lipsync(request, core, progress, cancel)
    if request.task == "generate":
        return run_job(request, core, progress, cancel)
    raise ValueError(f"unknown task {request.task!r}")


# --------------------------------------------------------------------------- setup check


def describe_environment(core: CoreImport | None = None) -> dict[str, Any]:
    """Python, torch, device and CUDA facts of *this* interpreter, and what is missing."""
    info: dict[str, Any] = {
        "python": sys.executable,
        "python_version": platform.python_version(),
        "missing": [],
    }
    for name in REQUIRED_PACKAGES:
        try:
            module = importlib.import_module(name)
            info[f"{name}_version"] = getattr(module, "__version__", "?")
        except Exception as exc:  # noqa: BLE001 - any import failure means "missing"
            info["missing"].append(f"{name} ({type(exc).__name__}: {exc})")
    if "torch_version" in info:
        import torch

        info["cuda"] = bool(torch.cuda.is_available())
        info["device"] = "cuda" if info["cuda"] else "cpu"
        info["cuda_name"] = torch.cuda.get_device_name(0) if info["cuda"] else None
    if core is not None:
        try:
            info["egg_core"] = str(Path(core("").__file__).parent)
            info["checkpoint"] = str(core("checkpoint").default_checkpoint_path())
            info["checkpoint_exists"] = Path(info["checkpoint"]).exists()
        except Exception as exc:  # noqa: BLE001
            info["missing"].append(f"egg_core ({type(exc).__name__}: {exc})")
    return info


# --------------------------------------------------------------------------- subprocess entry


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _watch_stdin(cancel: threading.Event) -> None:
    """Cancel when the parent closes our stdin (Cancel button, or Blender quitting)."""
    try:
        while sys.stdin.readline():
            pass
    except (OSError, ValueError):
        pass
    cancel.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="EGGesture generation worker (started by the Blender add-on)")
    parser.add_argument("--core-path", required=True, help="folder that contains the egg_core package")
    parser.add_argument("--request", help="JSON file with the GenerationRequest")
    parser.add_argument("--check", action="store_true", help="print the environment as JSON and exit")
    args = parser.parse_args(argv)

    # This is a separate process, so editing its sys.path is fine: drop the add-on folder
    # Python added for the script (its module names, e.g. "build", could shadow packages)
    # and put the add-on's own egg_core copy first.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != here]
    sys.path.insert(0, str(Path(args.core_path).resolve()))

    def core(name: str) -> ModuleType:
        return importlib.import_module(f"egg_core.{name}" if name else "egg_core")

    if args.check:
        _emit(event="check", **describe_environment(core))
        return 0
    if not args.request:
        parser.error("--request is required unless --check is given")
    request = GenerationRequest.from_json(Path(args.request).read_text(encoding="utf-8"))
    cancel = threading.Event()
    threading.Thread(target=_watch_stdin, args=(cancel,), daemon=True).start()
    try:
        result = run_task(request, core, lambda f, m: _emit(event="progress", fraction=f, message=m), cancel)
        result.save(request.output_path)
    except JobCancelled:
        _emit(event="cancelled")
        return 3
    except Exception as exc:  # noqa: BLE001 - reported to the add-on, which shows it
        user = isinstance(exc, core("errors").EggError)
        _emit(event="error", message=str(exc) if user else f"{type(exc).__name__}: {exc}",
              user_error=user)
        return 2 if user else 1
    _emit(event="done", result=request.output_path, task=request.task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
