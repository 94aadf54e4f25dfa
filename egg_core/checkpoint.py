"""Model checkpoints: safetensors weights plus a versioned JSON sidecar.

A checkpoint ``NAME.safetensors`` has its metadata in ``NAME.json``::

    {"format": "eggesture-checkpoint", "format_version": 1,
     "config": {...EGGestureConfig...},
     "metadata": {"skeleton": "smplx", "joint_set": "gesture", "fps": 15.0,
                  "features": {"audio": "...", "text_encoder": "minilm", ...},
                  "training_data": "...", "metrics": {...}, ...anything the trainer adds}}

The same JSON is also stored in the safetensors header (key ``eggesture``), so a weights
file that lost its sidecar still loads. Both files are written to temporary names in the
target folder and renamed into place (weights first, sidecar last), so a crash never leaves
a half-written checkpoint under the final name. Existing files are never overwritten unless
``overwrite=True``.

``"model"`` names the network: ``"eggesture"`` (the single-part model; absent in older files)
or ``"hip"`` (the whole-body model of :mod:`egg_core.model.hip`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from egg_core.atomic import atomic_path
from egg_core.errors import CheckpointError, DeviceError
from egg_core.model.eggesture import EGGesture, EGGestureConfig
from egg_core.model.hip import HIPConfig, HIPGesture
from egg_core.model.text import resolve_text_encoder

FORMAT_NAME = "eggesture-checkpoint"
FORMAT_VERSION = 1
#: The networks a checkpoint can hold, by the ``"model"`` key of its JSON.
MODELS: dict[str, tuple[type, type]] = {"eggesture": (EGGesture, EGGestureConfig), "hip": (HIPGesture, HIPConfig)}
_HEADER_KEY = "eggesture"


def default_checkpoint_path() -> Path:
    """Where the bundled model would live (``egg_core/assets/eggesture_default.safetensors``)."""
    return Path(__file__).resolve().parent / "assets" / "eggesture_default.safetensors"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cuda"`` without CUDA -> :class:`DeviceError`."""
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but this PyTorch has no usable CUDA device "
                              f"(torch {torch.__version__}); use --device cpu or --device auto, or "
                              "install a CUDA build of torch")
        return torch.device(name)
    raise DeviceError(f"unknown device {device!r}; use auto, cpu or cuda")


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix == ".json":
        p = p.with_suffix(".safetensors")
    elif p.suffix != ".safetensors":
        p = p.with_name(p.name + ".safetensors")
    return p, p.with_suffix(".json")


def _atomic_write(target: Path, write: Any, overwrite: bool) -> None:
    with atomic_path(target, overwrite=overwrite) as tmp:
        write(str(tmp))


def _jsonable(obj: Any) -> Any:
    """Metadata made JSON-safe: numpy/torch scalars to numbers, paths and others to strings."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool | int | float | str) or obj is None:
        return obj
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except (ValueError, RuntimeError):
            pass
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def default_metadata(model: torch.nn.Module) -> dict[str, Any]:
    """Metadata every checkpoint carries; the caller's dict is merged over it."""

    cfg = model.config
    try:
        text_encoder = resolve_text_encoder(cfg.text_encoder)
    except Exception:  # the recorded name matters, not whether it is installed here
        text_encoder = cfg.text_encoder
    return {
        "skeleton": "smplx",
        "joint_set": cfg.joint_set,
        "fps": cfg.fps,
        "features": {
            "audio": cfg.audio_features if cfg.audio_features != "mel"
            else "log-mel 64 + onset mean/max + log RMS (egg_core.model.audio)",
            "audio_feature_dim": cfg.audio_feature_dim,
            "audio_model_path": cfg.audio_model_path,
            "text_encoder": text_encoder,
            "text_feature_dim": cfg.text_feature_dim,
        },
        "training_data": "unspecified",
        "metrics": {},
    }


def save_checkpoint(model: torch.nn.Module, path: str | Path, metadata: dict[str, Any] | None = None,
                    overwrite: bool = False) -> Path:
    """Write ``model`` (an :class:`EGGesture`) to ``path`` (+ ``.json`` sidecar); returns the weights path."""

    weights, sidecar = _paths(path)
    if not overwrite:
        for p in (weights, sidecar):
            if p.exists():
                raise CheckpointError(f"{p} already exists; choose another name or pass overwrite=True (--overwrite)")
    weights.parent.mkdir(parents=True, exist_ok=True)
    meta = default_metadata(model)
    for key, value in (metadata or {}).items():
        if key == "features" and isinstance(value, dict):
            meta["features"].update(value)
        else:
            meta[key] = value
    doc = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
           "model": getattr(model, "KIND", "eggesture"), "config": model.config.to_dict(), "metadata": _jsonable(meta)}
    text = json.dumps(doc, indent=2, sort_keys=True)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    _atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={_HEADER_KEY: text}), overwrite)
    _atomic_write(sidecar, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), overwrite)
    return weights


def _read_doc(weights: Path, sidecar: Path) -> dict[str, Any]:
    if sidecar.exists():
        try:
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"checkpoint metadata {sidecar} is not valid JSON ({exc}); "
                                  "the file is corrupt, re-save or re-download the checkpoint") from exc
    else:

        try:
            with safe_open(str(weights), framework="pt") as f:
                header = (f.metadata() or {}).get(_HEADER_KEY)
        except Exception as exc:
            raise CheckpointError(f"{weights} is not a readable safetensors file ({exc}); "
                                  "the file is corrupt or not an EGGesture checkpoint") from exc
        if header is None:
            raise CheckpointError(f"{weights} has no metadata: {sidecar.name} is missing and the "
                                  "weights carry none; this is not an EGGesture checkpoint")
        doc = json.loads(header)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{sidecar} is not an EGGesture checkpoint (format field missing or wrong)")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(f"checkpoint format version {version!r} is not supported by this "
                              f"egg_core (reads up to {FORMAT_VERSION}); update eggesture")
    return doc


#: What a training run folder calls its model (training.train writes it there).
RUN_MODEL_FILE = "model.safetensors"
_TRAINING_STATE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


def resolve_checkpoint_path(path: str | Path) -> Path:
    """The model file meant by ``path``: a ``.safetensors`` file, or a training run folder.

    Why: users pass what they see in a run folder (the folder itself, ``train_state.pt``)
    or a PyTorch ``.pt`` from elsewhere; each gets a message saying what a model file is.
    """
    p = Path(path)
    if p.is_dir():
        inside = p / RUN_MODEL_FILE
        if inside.is_file():
            return inside
        raise CheckpointError(f"{p} is a folder without {RUN_MODEL_FILE}; give the model file itself "
                              f"(.safetensors). A training run keeps its model as RUN_DIR/{RUN_MODEL_FILE}.")
    if p.suffix.lower() in _TRAINING_STATE_SUFFIXES:
        beside = p.parent / RUN_MODEL_FILE
        hint = f" Did you mean {beside}?" if beside.is_file() else ""
        raise CheckpointError(
            f"{p} is a PyTorch {p.suffix} file, not an EGGesture model. Models are .safetensors "
            f"files (with a .json beside them); a training run keeps its model as RUN_DIR/{RUN_MODEL_FILE} "
            f"(train_state.pt there only holds what --resume needs).{hint}")
    return p


def load_checkpoint(path: str | Path, device: str | torch.device = "auto") -> tuple[Any, dict[str, Any]]:
    """Load a checkpoint -> ``(EGGesture in eval mode on device, metadata dict)``.

    The metadata dict is the sidecar's ``metadata`` plus ``config`` and ``format_version``.
    Missing, corrupt or incompatible files raise :class:`CheckpointError`.
    """


    weights, sidecar = _paths(resolve_checkpoint_path(path))
    if not weights.exists():
        raise CheckpointError(f"checkpoint not found: {weights}. Pass --checkpoint PATH to a "
                              "trained model (.safetensors) or train one with `python -m training.train`")
    dev = resolve_device(device)
    doc = _read_doc(weights, sidecar)
    kind = doc.get("model", "eggesture")
    if kind not in MODELS:
        raise CheckpointError(f"checkpoint {weights} holds a {kind!r} model, which this egg_core does not "
                              f"know ({', '.join(MODELS)}); update eggesture")
    model_cls, config_cls = MODELS[kind]
    try:
        config = config_cls.from_dict(doc["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {weights} has an incompatible configuration ({exc}); "
                              "it was made by a different version of eggesture") from exc
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights} is corrupt or not a safetensors file ({exc}); "
                              "re-save or re-download the checkpoint") from exc
    model = model_cls(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(line.strip() for line in str(exc).splitlines()[1:3])[:300]
        raise CheckpointError(f"weights in {weights} do not match its configuration ({first}); "
                              "the checkpoint is incompatible or damaged") from exc
    model.to(dev).eval()
    meta = dict(doc.get("metadata") or {})
    meta["config"] = config.to_dict()
    meta["format_version"] = doc["format_version"]
    meta["model"] = kind
    return model, meta
