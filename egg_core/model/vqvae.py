"""Motion encoder and decoder of the VQ-VAE (paper §3.4, after TM2T).

The encoder is a 1D-CNN ResNet over time that halves the frame rate twice (stride-2
convolutions), so a 20 s window at 15 fps (300 frames) becomes 75 latent tokens. The decoder
mirrors it with nearest-neighbour up-sampling (x2 twice) followed by 1D convolutions, which
avoids the checkerboard artefacts of transposed convolutions. Input and output are rot6d
features ``(B, T, C)`` with ``C = joints * 6``; ``T`` must be a multiple of 4.
"""

from __future__ import annotations

import torch
from torch import nn


class ResBlock1d(nn.Module):
    """Pre-activation residual block: ReLU, dilated conv 3, ReLU, conv 1, plus identity."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _res_stack(channels: int, depth: int) -> nn.Sequential:
    """``depth`` residual blocks with dilations 1, 3, 9, ... (growing receptive field)."""
    return nn.Sequential(*[ResBlock1d(channels, 3 ** (i % 3)) for i in range(depth)])


class MotionEncoder(nn.Module):
    """rot6d ``(B, T, in_dim)`` -> latents ``(B, T/4, code_dim)``."""

    def __init__(self, in_dim: int, channels: int, code_dim: int, depth: int = 2,
                 down_stages: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(in_dim, channels, 3, padding=1), nn.ReLU()]
        for _ in range(down_stages):
            layers += [nn.Conv1d(channels, channels, 4, stride=2, padding=1), _res_stack(channels, depth)]
        layers += [nn.ReLU(), nn.Conv1d(channels, code_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)
        self.factor = 2 ** down_stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % self.factor:
            raise ValueError(f"motion length {x.shape[1]} is not a multiple of {self.factor}")
        return self.net(x.transpose(1, 2)).transpose(1, 2)


class MotionDecoder(nn.Module):
    """Latents ``(B, N, code_dim)`` -> rot6d ``(B, 4N, out_dim)``."""

    def __init__(self, out_dim: int, channels: int, code_dim: int, depth: int = 2,
                 up_stages: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(code_dim, channels, 3, padding=1), _res_stack(channels, depth)]
        for _ in range(up_stages):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv1d(channels, channels, 3, padding=1), _res_stack(channels, depth)]
        layers += [nn.ReLU(), nn.Conv1d(channels, out_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.transpose(1, 2)).transpose(1, 2)
