"""The periodic autoencoder's parameter extraction (DeepPhase) on sinusoids of known parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from egg_core.model.phase import PeriodicAutoencoder, PhaseParameters, fft_parameters, window_times

torch.set_num_threads(1)
FPS, WINDOW = 30.0, 61


def _sine(f: float, a: float, p: float, b: float) -> torch.Tensor:
    t = window_times(WINDOW, FPS)
    return a * torch.sin(2 * math.pi * (f * t + p)) + b


@pytest.mark.parametrize("cycles, a, p, b", [(3, 0.7, 0.1, 0.0), (5, 1.3, -0.35, 0.4), (1, 0.2, 0.45, -1.0)])
def test_fft_parameters_recover_frequency_amplitude_and_offset(cycles: int, a: float, p: float, b: float) -> None:
    f = cycles * FPS / WINDOW  # a whole number of cycles in the window
    freq, amp, off = fft_parameters(_sine(f, a, p, b)[None, None].double(), FPS)
    assert float(freq) == pytest.approx(f, rel=1e-6)
    assert float(amp) == pytest.approx(a, rel=1e-6)
    assert float(off) == pytest.approx(b, abs=1e-6)


def test_phase_layer_and_sinusoid_reconstruction_follow_the_published_form() -> None:
    """With the phase layer set to project on sin/cos of the curve's frequency, the extracted
    phase is the sine's, and the parameters rebuild the curve exactly."""
    cycles, a, p, b = 4, 0.9, 0.2, 0.3
    f = cycles * FPS / WINDOW
    pae = PeriodicAutoencoder(in_channels=9, phase_channels=1, window=WINDOW, fps=FPS).double()
    t = window_times(WINDOW, FPS).double()
    with torch.no_grad():
        pae.phase_weight[0, 0] = torch.sin(2 * math.pi * f * t)
        pae.phase_weight[0, 1] = torch.cos(2 * math.pi * f * t)
        pae.phase_bias.zero_()
    curve = _sine(f, a, p, b).double()[None, None]
    with torch.no_grad():
        params = pae.parameters_of(curve)
        rebuilt = pae.sinusoids(params)
    assert float(params.phase) == pytest.approx(p, abs=1e-6)
    np.testing.assert_allclose(rebuilt.numpy(), curve.numpy(), atol=1e-6)
    # manifold point of the channel: (a sin 2 pi p + b, a cos 2 pi p + b)
    point = params.manifold()[0].numpy()
    np.testing.assert_allclose(point, [a * math.sin(2 * math.pi * p) + b, a * math.cos(2 * math.pi * p) + b], atol=1e-6)


def test_shapes_and_window_checks() -> None:
    pae = PeriodicAutoencoder(in_channels=12, phase_channels=5, window=WINDOW, fps=FPS)
    x = torch.randn(3, 12, WINDOW)
    y, params = pae(x)
    assert y.shape == x.shape and isinstance(params, PhaseParameters)
    assert params.frequency.shape == params.phase.shape == (3, 5) and params.manifold().shape == (3, 10)
    assert float(params.phase.detach().abs().max()) <= 0.5
    pae.loss(x).backward()
    assert all(q.grad is not None for q in pae.parameters())
    with pytest.raises(ValueError, match="odd"):
        PeriodicAutoencoder(12, window=60)


@pytest.mark.shared
def test_training_on_a_real_take_lowers_the_error_and_plots_the_channels(beat2_take, tmp_path, capsys) -> None:
    """python -m training.phase on 12 s of a real take: MSE falls, the PNG shows every channel."""
    from PIL import Image

    from egg_core.formats.beat2 import read_beat2_npz, write_beat2_npz
    from egg_core.motion import Motion
    from training import phase as P

    real = read_beat2_npz(beat2_take)
    short = tmp_path / "short.npz"
    write_beat2_npz(Motion(poses=real.poses[:360], trans=real.trans[:360], fps=30.0), short)
    out, png = tmp_path / "pae.safetensors", tmp_path / "phase.png"
    argv = ["--motion", str(short), "--out", str(out), "--steps", "150", "--lr", "1e-3", "--plot", str(png)]
    assert P.main(argv) == 0
    text = capsys.readouterr().out
    first, last = (float(v) for v in text.split("MSE ")[1].split(" over")[0].split(" -> "))
    assert last < 0.9 * first
    assert Image.open(png).size[1] > 5 * 100  # one row per channel
    assert P.main(argv) == 2  # never overwrites without --overwrite
    assert "already exists" in capsys.readouterr().err
