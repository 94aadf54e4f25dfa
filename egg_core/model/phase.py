"""Periodic autoencoder (DeepPhase, Starke et al. 2022): the phase manifold HIP builds on.

Why: HIP (hierarchical implicit periodicity) separates the periodic part of gesture motion
(beats, repeated strokes) from the rest by describing each window of joint velocities with a
few sinusoids. The encoder turns a window into ``C`` latent curves; every curve is reduced to
four numbers, its **frequency**, **amplitude**, **offset** and **phase**, and the decoder must
rebuild the window from the pure sinusoids those numbers define. What the network learns to
put in those numbers is the phase manifold; generation predicts it from speech.

Layers and parameter extraction follow the published network:

* encoder ``Conv1d(in -> in/3, kernel = window, same padding) -> LayerNorm -> ELU ->
  Conv1d(in/3 -> C)``; decoder the mirror image ``Conv1d(C -> in/3) -> LayerNorm -> ELU ->
  Conv1d(in/3 -> in)``;
* per curve, from the FFT over the window with the DC bin dropped (``power = |X|^2``):
  frequency = the power-weighted mean frequency, amplitude = ``2 sqrt(sum power) / T``,
  offset = ``DC / T``; phase from a per-channel linear layer to ``(s_x, s_y)`` and
  ``atan2(s_y, s_x) / 2 pi``;
* reconstruction of each curve ``a sin(2 pi (f t + p)) + b`` over ``t`` in ``[-W/2, W/2]``
  seconds (the window centred on 0), and MSE against the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

#: Default window: 2 s at the 30 fps of BEAT2 (odd, so that frame 0 is the centre).
DEFAULT_WINDOW = 61
DEFAULT_CHANNELS = 5


@dataclass
class PhaseParameters:
    """Per window and channel ``(B, C)``: frequency (Hz), amplitude, offset, phase (cycles)."""

    frequency: torch.Tensor
    amplitude: torch.Tensor
    offset: torch.Tensor
    phase: torch.Tensor

    def manifold(self) -> torch.Tensor:
        """``(B, 2 C)`` phase-manifold points ``(a sin 2 pi p + b, a cos 2 pi p + b)`` per channel."""
        angle = 2 * math.pi * self.phase
        return torch.cat([self.amplitude * torch.sin(angle) + self.offset,
                          self.amplitude * torch.cos(angle) + self.offset], dim=-1)


def window_times(window: int, fps: float) -> torch.Tensor:
    """Sample times ``(window,)`` in seconds, centred on 0 (``[-W/2, W/2]`` for an odd window)."""
    return (torch.arange(window, dtype=torch.float32) - (window - 1) / 2) / fps


def fft_parameters(curves: torch.Tensor, fps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frequency, amplitude and offset ``(B, C)`` of latent curves ``(B, C, T)`` (published form)."""
    t = curves.shape[-1]
    spectrum = torch.fft.rfft(curves, dim=-1)
    power = spectrum[..., 1:].abs().square()
    freqs = torch.fft.rfftfreq(t, d=1.0 / fps).to(curves)[1:]
    total = power.sum(-1)
    frequency = (power * freqs).sum(-1) / total.clamp_min(1e-12)
    amplitude = 2.0 * total.sqrt() / t
    offset = spectrum[..., 0].real / t
    return frequency, amplitude, offset


class PeriodicAutoencoder(nn.Module):
    """Joint velocities ``(B, in_channels, window)`` -> phase parameters -> reconstruction."""

    def __init__(self, in_channels: int, phase_channels: int = DEFAULT_CHANNELS,
                 window: int = DEFAULT_WINDOW, fps: float = 30.0) -> None:
        super().__init__()
        if window < 3 or window % 2 == 0:
            raise ValueError(f"window must be an odd number of frames >= 3, got {window}")
        hidden = max(1, in_channels // 3)
        self.in_channels, self.phase_channels, self.window, self.fps = in_channels, phase_channels, window, fps
        self.encoder = nn.Sequential(
            nn.Conv1d(in_channels, hidden, window, padding="same"), nn.LayerNorm(window), nn.ELU(),
            nn.Conv1d(hidden, phase_channels, window, padding="same"))
        # per channel: the window of its curve -> (s_x, s_y)
        self.phase_weight = nn.Parameter(torch.randn(phase_channels, 2, window) / math.sqrt(window))
        self.phase_bias = nn.Parameter(torch.zeros(phase_channels, 2))
        self.decoder = nn.Sequential(
            nn.Conv1d(phase_channels, hidden, window, padding="same"), nn.LayerNorm(window), nn.ELU(),
            nn.Conv1d(hidden, in_channels, window, padding="same"))
        self.register_buffer("times", window_times(window, fps), persistent=False)

    def parameters_of(self, curves: torch.Tensor) -> PhaseParameters:
        """The four parameters of latent curves ``(B, C, T)``."""
        frequency, amplitude, offset = fft_parameters(curves, self.fps)
        s = torch.einsum("bct,cdt->bcd", curves, self.phase_weight) + self.phase_bias
        phase = torch.atan2(s[..., 1], s[..., 0]) / (2 * math.pi)
        return PhaseParameters(frequency, amplitude, offset, phase)

    def sinusoids(self, p: PhaseParameters) -> torch.Tensor:
        """Curves ``(B, C, T)`` ``a sin(2 pi (f t + p)) + b`` over the window's times."""
        arg = 2 * math.pi * (p.frequency[..., None] * self.times + p.phase[..., None])
        return p.amplitude[..., None] * torch.sin(arg) + p.offset[..., None]

    def encode(self, x: torch.Tensor) -> PhaseParameters:
        """Phase parameters of windows ``(B, in_channels, window)``."""
        return self.parameters_of(self.encoder(x))

    def decode(self, p: PhaseParameters) -> torch.Tensor:
        """Windows ``(B, in_channels, window)`` rebuilt from the phase parameters alone."""
        return self.decoder(self.sinusoids(p))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, PhaseParameters]:
        params = self.encode(x)
        return self.decode(params), params

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The published objective: MSE of the reconstruction."""
        return nn.functional.mse_loss(self(x)[0], x)
