"""The project's own FGD feature extractor: a convolutional motion autoencoder.

FGD compares the distribution of latent features of generated and real motion. The public
BEAT2 evaluator uses an autoencoder over rot6d of all 55 SMPL-X joints (330 channels),
32-frame windows at 30 fps, four stride-2 convolutions and 240-d latents; its weights are
not available here. This module builds an autoencoder of that shape, trains it on the
user's own data (``python -m training.train_evaluator``) and uses its bottleneck as the
feature. **FGD values computed with it are NOT comparable to published FGD/FID numbers**
(different weights, different training data, the project's own skeleton); they are only
comparable between models evaluated with the same evaluator file.

Architecture: input = rot6d minus the identity rotation's rot6d, (B, 32, 330) ->
Conv1d k3 -> 4 x [Conv1d k4 s2] (32 -> 2 frames) -> flatten -> Linear -> 240-d latent;
the decoder mirrors it with transposed convolutions. Features are taken from windows
every ``feature_stride`` frames (default 8) so that a one-minute clip gives a few hundred
feature vectors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from egg_core.atomic import atomic_path
from egg_core.errors import CheckpointError, EggError
from egg_core.rotations import axis_angle_to_rot6d
from training.metrics import frechet_distance

NOT_COMPARABLE = (
    "FGD from the project's own evaluator autoencoder: NOT comparable to published FGD/FID "
    "numbers; compare only models scored with the same evaluator file."
)
FORMAT = "eggesture-fgd-evaluator/1"


@dataclass
class EvaluatorConfig:
    """Shape of the autoencoder and of the windows it reads (stored in the checkpoint)."""

    num_joints: int = 55
    window: int = 32
    fps: float = 30.0
    hidden: int = 256
    latent_dim: int = 240
    stages: int = 4
    feature_stride: int = 8

    @property
    def input_dim(self) -> int:
        return self.num_joints * 6


class MotionAutoencoder(nn.Module):
    """Conv encoder/decoder over ``(B, window, J*6)`` rot6d windows; ``encode`` -> ``(B, latent)``."""

    def __init__(self, config: EvaluatorConfig | None = None) -> None:
        super().__init__()
        cfg = config or EvaluatorConfig()
        if cfg.window % (2**cfg.stages):
            raise ValueError("window must be divisible by 2**stages")
        self.config = cfg
        h = cfg.hidden
        self.bottom = cfg.window // (2**cfg.stages)
        enc: list[nn.Module] = [nn.Conv1d(cfg.input_dim, h, 3, padding=1), nn.LeakyReLU(0.2)]
        for _ in range(cfg.stages):
            enc += [nn.Conv1d(h, h, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.enc = nn.Sequential(*enc)
        self.to_latent = nn.Linear(h * self.bottom, cfg.latent_dim)
        self.from_latent = nn.Linear(cfg.latent_dim, h * self.bottom)
        dec: list[nn.Module] = []
        for _ in range(cfg.stages):
            dec += [nn.LeakyReLU(0.2), nn.ConvTranspose1d(h, h, 4, stride=2, padding=1)]
        dec += [nn.LeakyReLU(0.2), nn.Conv1d(h, cfg.input_dim, 3, padding=1)]
        self.dec = nn.Sequential(*dec)
        rest = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(cfg.num_joints)
        self.register_buffer("rest6d", rest, persistent=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.enc((x - self.rest6d).transpose(1, 2))
        return self.to_latent(h.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z).reshape(z.shape[0], self.config.hidden, self.bottom)
        return self.dec(h).transpose(1, 2) + self.rest6d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def poses_to_rot6d(poses_aa: np.ndarray) -> np.ndarray:
    """Axis-angle ``(T, J, 3)`` / ``(T, J*3)`` -> rot6d ``(T, J*6)`` float32."""

    p = np.asarray(poses_aa, dtype=np.float32).reshape(len(poses_aa), -1, 3)
    return np.asarray(axis_angle_to_rot6d(p), dtype=np.float32).reshape(len(p), -1)


def cut_windows(seq: np.ndarray, window: int, stride: int) -> np.ndarray:
    """``(T, D)`` -> ``(N, window, D)`` windows every ``stride`` frames (empty if T < window)."""
    if len(seq) < window:
        return np.zeros((0, window, seq.shape[1]), dtype=seq.dtype)
    starts = range(0, len(seq) - window + 1, stride)
    return np.stack([seq[s : s + window] for s in starts])


def save_evaluator(model: MotionAutoencoder, path: str | Path, info: dict | None = None,
                   overwrite: bool = False) -> Path:
    """Write weights + config to one safetensors file, atomically; refuse to overwrite by default."""

    path = Path(path)
    if path.exists() and not overwrite:
        raise EggError(f"{path} already exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "config": json.dumps(asdict(model.config)),
            "info": json.dumps(info or {}), "note": NOT_COMPARABLE}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path


class FGDEvaluator:
    """Turns SMPL-X motion into evaluator features and scores FGD between two sets."""

    def __init__(self, model: MotionAutoencoder, device: str | torch.device = "cpu",
                 info: dict | None = None) -> None:
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.config = model.config
        self.info = info or {}

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> FGDEvaluator:

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(
                f"evaluator file {path} not found; train one with "
                "`python -m training.train_evaluator --data DIR --out evaluator.safetensors`"
            )
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not an EGGesture FGD evaluator (format {meta.get('format')!r})")
            config = EvaluatorConfig(**json.loads(meta["config"]))
            model = MotionAutoencoder(config)
            model.load_state_dict(load_file(str(path)))
        except CheckpointError:
            raise
        except Exception as exc:  # corrupt file, wrong tensors
            raise CheckpointError(f"cannot load the evaluator {path}: {exc}") from exc
        return cls(model, device, json.loads(meta.get("info", "{}")))

    @torch.no_grad()
    def features(self, poses_aa: np.ndarray, batch: int = 256) -> np.ndarray:
        """Features ``(N, latent_dim)`` of one clip of SMPL-X poses ``(T, 55, 3)`` at 30 fps."""
        cfg = self.config
        wins = cut_windows(poses_to_rot6d(poses_aa), cfg.window, cfg.feature_stride)
        out = [
            self.model.encode(torch.from_numpy(wins[i : i + batch]).to(self.device)).cpu().numpy()
            for i in range(0, len(wins), batch)
        ]
        return np.concatenate(out, axis=0) if out else np.zeros((0, cfg.latent_dim), np.float32)

    def fgd(self, real: Sequence[np.ndarray], generated: Sequence[np.ndarray]) -> float:
        """FGD between pooled features of real and generated clips (poses at 30 fps)."""

        fr = np.concatenate([self.features(p) for p in real], axis=0)
        fg = np.concatenate([self.features(p) for p in generated], axis=0)
        return frechet_distance(fr, fg)


def train_autoencoder(
    clips: Sequence[np.ndarray],
    config: EvaluatorConfig | None = None,
    epochs: int = 40,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    stride: int = 4,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[MotionAutoencoder, dict]:
    """Train the autoencoder on SMPL-X pose clips ``(T, 55, 3)`` at 30 fps.

    Loss: L1 on rot6d plus L1 on frame-to-frame differences (keeps it from smoothing the
    motion away, which would blind FGD to jitter). Returns the model and a summary.
    """

    cfg = config or EvaluatorConfig()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    wins = [cut_windows(poses_to_rot6d(c), cfg.window, stride) for c in clips]
    data = np.concatenate([w for w in wins if len(w)], axis=0) if any(len(w) for w in wins) else None
    if data is None:
        raise EggError(f"no clip is long enough for one {cfg.window}-frame window at {cfg.fps:g} fps")
    x_all = torch.from_numpy(data)
    model = MotionAutoencoder(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    last = float("nan")
    bar = tqdm(range(epochs), desc="evaluator", unit="epoch", disable=not progress)
    for _ in bar:
        order = rng.permutation(len(x_all))
        tot, n = 0.0, 0
        for i in range(0, len(order), batch_size):
            x = x_all[order[i : i + batch_size]].to(device)
            y = model(x)
            loss = (y - x).abs().mean() + (y.diff(dim=1) - x.diff(dim=1)).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item() * len(x)
            n += len(x)
        sched.step()
        last = tot / n
        bar.set_postfix(loss=f"{last:.4f}")
    model.eval()
    return model, {"windows": int(len(x_all)), "epochs": epochs, "final_loss": last, "seed": seed}
