"""Training data for the whole-body model: part features, their statistics and the phase targets.

Why a module: the single-part model trains on the cached rot6d of its joint set, the whole-body
model on features made from the cached whole-body arrays (:mod:`egg_core.model.parts`), with
a per-frame phase-manifold target from a periodic autoencoder trained first on the same clips
(:mod:`training.phase`). The trainer calls :func:`prepare_whole_body` on the loaded clips
before cutting windows; everything else about training is shared.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from egg_core.atomic import atomic_path
from egg_core.errors import EggError
from egg_core.model.hip import HIPConfig
from egg_core.model.parts import whole_body_features
from egg_core.model.phase import PeriodicAutoencoder
from egg_core.motion import Motion
from training.data import PreparedClip
from training.phase import frame_manifold, train_pae

log = logging.getLogger("training.whole_body")
PAE_FILE = "pae.safetensors"
#: Optimiser steps of the periodic autoencoder trained at the start of a whole-body run.
PAE_STEPS = 1500
PAE_WINDOW_S = 2.0


def _require_arrays(clip: PreparedClip) -> None:
    if clip.poses is None or clip.trans is None or clip.poses_mirror is None:
        raise EggError(f"clip {clip.name} has no whole-body arrays in its feature cache; delete the cache "
                       "folder (EGG_CACHE_DIR or ~/.cache/eggesture/features) so it is rebuilt")


def clip_motion(clip: PreparedClip, fps: float, mirrored: bool = False) -> Motion:
    """The clip's whole-body motion (or its mirror image) at the cached frame rate."""
    _require_arrays(clip)
    if mirrored:
        return Motion(poses=clip.poses_mirror, trans=clip.trans_mirror, fps=fps, expressions=clip.expressions)
    return Motion(poses=clip.poses, trans=clip.trans, fps=fps, expressions=clip.expressions)


def set_part_features(clips: Sequence[PreparedClip], config: HIPConfig) -> None:
    """Replace each clip's ``motion``/``motion_mirror`` by the whole-body features (in place)."""
    for c in clips:
        _require_arrays(c)
        c.motion = whole_body_features(c.poses, c.trans, c.expressions, config.fps, config.part_names)
        c.motion_mirror = whole_body_features(c.poses_mirror, c.trans_mirror, c.expressions,
                                              config.fps, config.part_names)


def feature_statistics(clips: Sequence[PreparedClip]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over every frame of the clips and their mirrors."""
    data = np.concatenate([a for c in clips for a in (c.motion, c.motion_mirror)]).astype(np.float64)
    return data.mean(0).astype(np.float32), data.std(0).astype(np.float32)


def _save_pae(model: PeriodicAutoencoder, scale: np.ndarray, path: Path, meta: dict) -> None:
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["velocity_scale"] = torch.from_numpy(scale)
    with atomic_path(path, suffix=".safetensors", overwrite=True) as tmp:
        save_file(state, str(tmp), metadata={"eggesture_pae": json.dumps(meta)})


def load_pae(path: Path) -> tuple[PeriodicAutoencoder, np.ndarray]:
    """A periodic autoencoder written by :func:`prepare_phase` (or ``python -m training.phase``)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {})["eggesture_pae"])
    state = load_file(str(path))
    scale = state.pop("velocity_scale").numpy()
    model = PeriodicAutoencoder(len(scale), int(meta["channels"]), int(meta["window"]), float(meta["fps"]))
    model.load_state_dict(state)
    return model.eval(), scale


def prepare_phase(clips: Sequence[PreparedClip], config: HIPConfig, run_dir: Path | None,
                  steps: int = PAE_STEPS, seed: int = 0) -> None:
    """Attach the per-frame phase-manifold target ``extras["phase"]`` to every clip.

    The autoencoder is trained on the clips (and their mirrors) unless ``run_dir`` already
    holds one (a resumed run keeps its phase targets); it is saved there as :data:`PAE_FILE`.
    """
    path = None if run_dir is None else Path(run_dir) / PAE_FILE
    if path is not None and path.is_file():
        pae, scale = load_pae(path)
        if pae.phase_channels != config.phase_channels:
            raise EggError(f"{path} has {pae.phase_channels} phase channels, the model {config.phase_channels}")
    else:
        takes = [clip_motion(c, config.fps) for c in clips]
        window = int(round(PAE_WINDOW_S * 30.0)) | 1  # odd, at the autoencoder's 30 fps
        pae, scale, losses = train_pae(takes, steps, config.phase_channels, window, lr=1e-3, seed=seed)
        first, last = float(np.mean(losses[:20])), float(np.mean(losses[-20:]))
        log.info("periodic autoencoder: %d steps, MSE %.4f -> %.4f", steps, first, last)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _save_pae(pae, scale, path, {"window": window, "fps": 30.0, "channels": config.phase_channels,
                                         "steps": steps, "mse_first": first, "mse_last": last})
    for c in clips:
        c.extras["phase"] = (frame_manifold(pae, scale, clip_motion(c, config.fps)),
                             frame_manifold(pae, scale, clip_motion(c, config.fps, mirrored=True)))


def prepare_whole_body(clips: Sequence[PreparedClip], config: HIPConfig, run_dir: Path | None,
                       seed: int = 0, phase_steps: int = PAE_STEPS) -> None:
    """Everything :class:`training.data.WindowDataset` needs for a whole-body model (in place)."""
    set_part_features(clips, config)
    if config.phase:
        prepare_phase(clips, config, run_dir, steps=phase_steps, seed=seed)
