"""Speech -> SMPL-X motion with a trained EGGesture model, for audio of any length.

Chained windows (paper §4.3): the clip is cut into windows of ``window_frames`` frames
(20 s at 15 fps by default) that overlap by ``seed_tokens * downsample`` frames. Window ``k``
is seeded with the last ``seed_tokens`` indices window ``k-1`` produced; those tokens cover
exactly the overlap, so the classifier continues the previous window instead of starting
afresh. Each window is decoded on its own, a few windows per batch (``BATCH_WINDOWS``), so
memory stays flat in the audio length: only the per-frame features and the output, a few MB
for an hour, grow with it. The overlap is
cross-faded linearly in rot6d. Since both windows hold the same tokens there, the cross-fade
only hides the decoder's edge effects, so no seam is visible.

The model's joints (default the 43 upper-body + hand joints) are converted to axis-angle;
every other joint holds :attr:`GestureGenerator.posture` (the training data's mean posture recorded
in the checkpoint, else :func:`egg_core.skeleton.relaxed_pose`), the
root translation is a person standing (BEAT2 convention), and the 15 fps result is
resampled to the requested frame rate with exactly ``round(duration * fps)`` frames.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from egg_core.checkpoint import default_checkpoint_path, load_checkpoint, resolve_device
from egg_core.errors import CheckpointError, EggError
from egg_core.model.audio import (
    compute_audio_features,
    compute_pretrained_audio_features,
    compute_whisper_features,
    silence_audio_features,
)
from egg_core.model.parts import features_to_whole_body
from egg_core.model.representation import features_to_poses
from egg_core.model.text import compute_text_features
from egg_core.motion import Motion, resample_motion
from egg_core.skeleton import SMPLX, STANDING_TRANS_Y, relaxed_pose

if TYPE_CHECKING:
    from egg_core.formats.transcripts import Word
    from egg_core.model.eggesture import EGGesture
    from egg_core.motion import Motion

ProgressFn = Callable[[float, str], None]

#: Windows whose speech conditioning / VQ decoding run as one batch. Only the index classifier
#: is sequential (each window is seeded by the previous one's indices); the audio/text encoders
#: and the decoder are not, and batching them saves ~20% (1 thread) to ~40% (2 threads) of
#: their time on CPU. Small enough that memory stays flat in the audio length.
BATCH_WINDOWS = 8

#: Sampling temperature of the classifier when none is given. Chosen on the cross-take protocol
#: (docs/QUALITY.md): 0.4 scored best on the feature Fréchet distance, wrist height and L1div
#: among 0 / 0.4 / 0.7 / 1.0 / 1.3 and top-k 3 / 10, while seeds still vary the motion.
DEFAULT_TEMPERATURE = 0.4

#: Shoulders, elbows, wrists and fingers: what hangs relaxed in :attr:`GestureGenerator.rest_pose`.
_ARMS = [SMPLX.joint_names.index(f"{side}_{j}") for side in ("left", "right")
         for j in ("shoulder", "elbow", "wrist")] + list(SMPLX.subset_indices(["hands"]))


class Cancelled(EggError):
    """Generation was stopped through the ``cancel`` event."""


def plan_windows(n_frames: int, window: int, overlap: int) -> list[int]:
    """Start frames of the chained windows covering ``n_frames`` (each ``window`` long)."""
    if window <= overlap:
        raise ValueError("window must be longer than the overlap")
    stride = window - overlap
    starts = [0]
    while starts[-1] + window < n_frames:
        starts.append(starts[-1] + stride)
    return starts


def output_frame_count(num_samples: int, sample_rate: int, fps: float) -> int:
    """Frames of motion for audio of ``num_samples`` at ``sample_rate``: ``round(duration * fps)``."""
    return int(math.floor(num_samples / sample_rate * fps + 0.5))


class GestureGenerator:
    """A loaded model plus everything needed to turn speech into a :class:`Motion`."""

    def __init__(self, model: EGGesture, metadata: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.metadata = dict(metadata or {})

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "auto") -> GestureGenerator:
        """Load ``path`` (default: the bundled model, which may not exist)."""
        if path is None:
            path = default_checkpoint_path()
            if not path.exists():
                raise CheckpointError(
                    "no bundled EGGesture model is installed; pass --checkpoint PATH to a trained "
                    "model (.safetensors), or train one with `python -m training.train`")
        model, meta = load_checkpoint(path, device)
        return cls(model, meta, next(model.parameters()).device)

    @property
    def posture(self) -> np.ndarray:
        """Pose ``(55, 3)`` of the joints the model does not generate.

        The training data's mean posture when the checkpoint records one (its pelvis tilt is
        what the generated spine rotations are relative to), else the relaxed standing pose.
        """
        recorded = self.metadata.get("posture")
        if recorded is not None:
            pose = np.asarray(recorded, dtype=np.float32)
            if pose.shape == (55, 3) and np.all(np.isfinite(pose)):
                return pose
        return relaxed_pose().astype(np.float32)

    @property
    def rest_pose(self) -> np.ndarray:
        """Pose ``(55, 3)`` of a person at rest in this model's posture: arms and hands relaxed
        (hanging), every other joint (pelvis tilt, spine, head, legs) in :attr:`posture`."""
        pose = self.posture.copy()
        relaxed = relaxed_pose().astype(np.float32)
        pose[_ARMS] = relaxed[_ARMS]
        return pose

    @property
    def text_encoder(self) -> str:
        features = self.metadata.get("features") or {}
        return str(features.get("text_encoder") or self.config.text_encoder)

    # ------------------------------------------------------------------------------------
    def features(self, wave: np.ndarray, sample_rate: int,
                 words: list[Word] | None) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame audio and text features of the whole clip at the model's frame rate."""
        cfg = self.config
        if cfg.audio_features in ("pretrained", "whisper"):  # speech models trained on 16 kHz
            if cfg.audio_features == "pretrained" and not cfg.audio_model_path:
                raise CheckpointError("this checkpoint needs a pretrained audio model but names no folder")
            if sample_rate != 16000:
                from scipy.signal import resample_poly

                g = math.gcd(16000, sample_rate)
                wave = resample_poly(wave, 16000 // g, sample_rate // g).astype(np.float32)
                sample_rate = 16000
            if cfg.audio_features == "whisper":
                audio = compute_whisper_features(wave, sample_rate, cfg.fps)
            else:
                audio = compute_pretrained_audio_features(wave, sample_rate, cfg.fps, cfg.audio_model_path)
        else:
            audio = compute_audio_features(wave, sample_rate, cfg.fps)
        if audio.shape[1] != cfg.audio_feature_dim:
            raise CheckpointError(f"audio features have {audio.shape[1]} channels but the model "
                                  f"expects {cfg.audio_feature_dim}; the checkpoint does not match this egg_core")
        text = compute_text_features(words, len(audio), cfg.fps, encoder=self.text_encoder)
        if text.shape[1] != cfg.text_feature_dim:
            raise CheckpointError(f"text features have {text.shape[1]} channels but the model "
                                  f"expects {cfg.text_feature_dim}")
        return audio, text

    def generate(self, wave: np.ndarray, sample_rate: int, words: list[Word] | None = None,
                 fps: float = 30.0, seed: int = 0, temperature: float = DEFAULT_TEMPERATURE,
                 top_k: int | None = None, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> Motion:
        """Motion for ``wave`` (mono float samples at ``sample_rate``), 55 SMPL-X joints at ``fps``.

        ``temperature <= 0`` picks the most likely code everywhere (deterministic); otherwise
        codes are sampled with a ``torch.Generator`` seeded by ``seed`` (same seed, same
        motion). Raises :class:`Cancelled` when ``cancel`` is set between windows.
        """

        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 1:
            raise EggError(f"audio must be mono samples (1-D), got shape {wave.shape}")
        if sample_rate <= 0:
            raise EggError(f"sample rate must be positive, got {sample_rate}")
        if not np.all(np.isfinite(wave)):
            raise EggError("audio contains NaN or infinite samples")
        if not (math.isfinite(fps) and fps > 0):
            raise EggError(f"output frame rate must be a positive number, got {fps}")
        cfg = self.config
        n_out = output_frame_count(len(wave), sample_rate, fps)
        n_model = output_frame_count(len(wave), sample_rate, cfg.fps)
        if n_out < 1 or n_model < 1:
            raise EggError(f"audio is too short ({len(wave) / sample_rate:.3f} s); give at least "
                           f"{1.0 / min(fps, cfg.fps):.3f} s of speech")

        def report(fraction: float, message: str) -> None:
            if progress is not None:
                progress(min(max(fraction, 0.0), 1.0), message)

        report(0.0, "computing speech features")
        audio, text = self.features(wave, sample_rate, words)
        features = self._generate_features(audio, text, seed, temperature, top_k, report, cancel)

        report(0.97, "converting to SMPL-X")
        motion = self.features_to_motion(features)
        if fps != cfg.fps:
            motion = resample_motion(motion, fps)
        motion = _fit_length(motion, n_out)
        report(1.0, "done")
        return motion

    @property
    def whole_body(self) -> bool:
        """True for a whole-body (HIP) model: face, legs and root are generated too."""
        return getattr(self.model, "KIND", "eggesture") == "hip"

    def features_to_motion(self, features: np.ndarray) -> Motion:
        """Model features ``(T, D)`` at the model rate -> a 55-joint :class:`Motion` at that rate.

        A single-part model's joints are rot6d; every other joint holds :attr:`posture` and the
        root stands still. A whole-body model's features decode to every joint, the 100
        expressions and the root (:func:`egg_core.model.parts.features_to_whole_body`).
        """
        cfg = self.config
        if self.whole_body:
            body = features_to_whole_body(features, cfg.part_names, cfg.fps, self.posture)
            return Motion(poses=body.poses, trans=body.trans, fps=cfg.fps, expressions=body.expressions)
        poses = features_to_poses(features, cfg.joint_set, base_pose=self.posture)
        trans = np.tile(np.array([0.0, STANDING_TRANS_Y, 0.0], np.float32), (len(poses), 1))
        return Motion(poses=poses, trans=trans, fps=cfg.fps)

    def _generate_features(self, audio: np.ndarray, text: np.ndarray, seed: int, temperature: float,
                           top_k: int | None, report: ProgressFn,
                           cancel: threading.Event | None) -> np.ndarray:
        """Chained-window generation at the model rate -> model features ``(n_frames, D)``.

        Indices are ``(1, N)`` for the single-part model and ``(1, P, N)`` for the whole-body
        one; both seed a window with the last ``seed_tokens`` of the previous one."""
        cfg = self.config
        model = self.model
        n = len(audio)
        win, s = cfg.window_frames, cfg.seed_tokens
        overlap = s * cfg.downsample
        starts = plan_windows(n, win, overlap)
        out = np.zeros((n, cfg.motion_dim), np.float32)
        ramp = ((np.arange(overlap) + 0.5) / max(overlap, 1)).astype(np.float32)[:, None]
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed))
        mel = cfg.audio_features == "mel"
        prev: torch.Tensor | None = None
        cond: torch.Tensor | None = None
        detail: torch.Tensor | None = None  # the whole-body model's per-frame face detail
        pending: list[tuple[int, torch.Tensor]] = []  # (window number, indices) not yet decoded
        for k in range(len(starts)):
            if cancel is not None and cancel.is_set():
                raise Cancelled("generation cancelled")
            report(0.05 + 0.9 * k / len(starts), f"window {k + 1}/{len(starts)}")
            with torch.inference_mode():
                if k % BATCH_WINDOWS == 0:  # speech conditioning of the next batch of windows
                    batch = [_window(audio, text, b, win, mel) for b in starts[k:k + BATCH_WINDOWS]]
                    a_t = torch.from_numpy(np.stack([a for a, _ in batch])).to(self.device)
                    t_t = torch.from_numpy(np.stack([t for _, t in batch])).to(self.device)
                    cond = model.condition(a_t, t_t)
                    if self.whole_body:
                        detail = model.speech_detail(a_t, t_t)
                j = k % BATCH_WINDOWS
                seed_idx = prev[..., -s:] if (prev is not None and s > 0) else None
                idx = model.sample_window(cond[j:j + 1], seed_idx, temperature, top_k, gen)
            prev = idx
            pending.append((k, idx))
            if len(pending) == BATCH_WINDOWS or k == len(starts) - 1:
                with torch.inference_mode():
                    indices = torch.cat([i for _, i in pending])
                    ys = (model.decode_indices(indices, None if detail is None else detail[:len(pending)])
                          if self.whole_body else model.decode_indices(indices))
                    ys = ys.float().cpu().numpy()
                for (kk, _), y in zip(pending, ys, strict=True):
                    _blend_window(out, y, starts[kk], kk == 0, overlap, ramp)
                pending = []
        if cancel is not None and cancel.is_set():
            raise Cancelled("generation cancelled")
        return out


def _blend_window(out: np.ndarray, y: np.ndarray, start: int, first: bool, overlap: int,
                  ramp: np.ndarray) -> None:
    """Write window ``y`` at ``start`` into ``out``, cross-fading the overlap with the previous one."""
    end = min(len(out), start + len(y))
    if first or overlap == 0:
        out[start:end] = y[: end - start]
        return
    o_end = min(end, start + overlap)
    m = o_end - start
    out[start:o_end] = out[start:o_end] * (1.0 - ramp[:m]) + y[:m] * ramp[:m]
    out[o_end:end] = y[m: end - start]


def _window(audio: np.ndarray, text: np.ndarray, start: int, win: int,
            mel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Features of one window, padded at the end with silence to ``win`` frames."""
    a = audio[start:start + win]
    t = text[start:start + win]
    pad = win - len(a)
    if pad > 0:
        a_pad = silence_audio_features(pad) if mel else np.zeros((pad, a.shape[1]), np.float32)
        t_pad = np.zeros((pad, t.shape[1]), np.float32)
        t_pad[:, -1] = 1.0  # the silence flag channel
        a, t = np.concatenate([a, a_pad]), np.concatenate([t, t_pad])
    return np.ascontiguousarray(a, np.float32), np.ascontiguousarray(t, np.float32)


def _fit_length(motion: Motion, n: int) -> Motion:
    """Trim or extend (holding the last frame) to exactly ``n`` frames."""

    cur = motion.num_frames
    if cur == n:
        return motion
    take = np.minimum(np.arange(n), cur - 1)
    return Motion(poses=motion.poses[take], trans=motion.trans[take], fps=motion.fps,
                  betas=motion.betas, expressions=motion.expressions[take],
                  gender=motion.gender, model=motion.model)
