"""``python -m training.phase``: train the periodic autoencoder on body joint velocities and plot it.

::

    python -m training.phase --motion TAKE.npz [TAKE2.npz ...] --out pae.safetensors \\
        [--steps 3000] [--channels 5] [--lr 1e-4] [--plot phase.png] [--overwrite]

Why: HIP's periodic part starts from a DeepPhase phase manifold of the body (see
:mod:`egg_core.model.phase`). The input is the velocity of the upper-body joints (FK positions in
the heading frame of :func:`training.realism.body_positions`, 30 fps, each channel scaled by its
standard deviation over the data), cut into every window of ``--window`` frames; mirrored copies
are added. ``--plot`` draws, for the first take, each channel's phase-manifold coordinate
``a sin 2 pi p`` and its frequency over time, so a person can see what was learned.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file

from egg_core.atomic import atomic_path, check_target
from egg_core.cli import run_cli
from egg_core.errors import EggError
from egg_core.formats.beat2 import read_beat2_npz
from egg_core.model.phase import DEFAULT_CHANNELS, DEFAULT_WINDOW, PeriodicAutoencoder
from egg_core.motion import Motion
from egg_core.skeleton import SMPLX, mirror_poses
from training.realism import body_positions

log = logging.getLogger("training.phase")
FPS = 30.0
#: Spine, neck, head, collars, shoulders, elbows, wrists: the body whose rhythm HIP phases.
JOINTS = tuple(SMPLX.joint_names.index(n) for n in (
    "spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"))
_COLOURS = ((214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def joint_velocities(motion: Motion) -> np.ndarray:
    """``(T-1, 3 J)`` velocities (m/s) of :data:`JOINTS` in the heading frame at 30 fps."""
    pos = body_positions(motion)[:, JOINTS]
    return (np.diff(pos, axis=0) * FPS).reshape(len(pos) - 1, -1).astype(np.float32)


def windows(velocities: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """``(N, channels, window)`` windows of ``(T, channels)`` velocities."""
    if len(velocities) < window:
        return np.zeros((0, velocities.shape[1], window), np.float32)
    starts = range(0, len(velocities) - window + 1, stride)
    return np.stack([velocities[s:s + window].T for s in starts]).astype(np.float32)


def train_pae(takes: list[Motion], steps: int, channels: int = DEFAULT_CHANNELS, window: int = DEFAULT_WINDOW,
              lr: float = 1e-4, batch_size: int = 32, seed: int = 0) -> tuple[PeriodicAutoencoder, np.ndarray, list[float]]:
    """Train on every window of the takes (and their mirror images); returns model, scale, losses."""
    torch.manual_seed(seed)
    vel = []
    for m in takes:
        vel.append(joint_velocities(m))
        mirrored, trans = mirror_poses(m.poses, m.trans)
        vel.append(joint_velocities(Motion(poses=np.asarray(mirrored, np.float32), trans=np.asarray(trans, np.float32), fps=m.fps)))
    scale = np.concatenate(vel).std(axis=0) + 1e-6
    data = torch.from_numpy(np.concatenate([windows(v / scale, window) for v in vel]))
    if len(data) == 0:
        raise EggError(f"the motion is shorter than one {window}-frame window")
    model = PeriodicAutoencoder(data.shape[1], channels, window, FPS)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        batch = data[torch.randint(0, len(data), (batch_size,), generator=gen)]
        loss = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return model.eval(), scale.astype(np.float32), losses


@torch.no_grad()
def phase_track(model: PeriodicAutoencoder, motion: Motion, scale: np.ndarray) -> dict[str, np.ndarray]:
    """Phase parameters ``(T', C)`` of the window centred on every frame of ``motion``."""
    w = windows(joint_velocities(motion) / scale, model.window)
    p = model.encode(torch.from_numpy(w))
    return {k: getattr(p, k).numpy() for k in ("frequency", "amplitude", "offset", "phase")}


@torch.no_grad()
def frame_manifold(model: PeriodicAutoencoder, scale: np.ndarray, motion: Motion) -> np.ndarray:
    """``(T, 2C)`` phase-manifold point of the window centred on each of ``motion``'s frames.

    The whole-body model's phase target. Velocities are taken at the autoencoder's 30 fps and
    padded at both ends with their edge values, so every frame, the first and the last too,
    has a full window; the 30 fps track is then read at ``motion``'s own frame times.
    """
    vel = joint_velocities(motion) / scale
    vel = np.concatenate([vel[:1], vel])  # one velocity per 30 fps frame
    half = model.window // 2
    padded = np.concatenate([np.repeat(vel[:1], half, 0), vel, np.repeat(vel[-1:], half, 0)])
    w = torch.from_numpy(windows(padded, model.window))
    track = torch.cat([model.encode(w[i:i + 1024]).manifold() for i in range(0, len(w), 1024)]).numpy()
    frames = np.minimum(np.round(np.arange(motion.num_frames) * FPS / motion.fps).astype(int), len(track) - 1)
    return track[frames].astype(np.float32)


def plot_phase(track: dict[str, np.ndarray], path: Path, title: str, seconds: float = 20.0) -> None:
    """PNG: per channel, ``a sin 2 pi p`` (the manifold coordinate) and its frequency over time."""
    n, c = track["phase"].shape
    n = min(n, int(seconds * FPS))
    row_h, left, width = 110, 70, 1100
    img = Image.new("RGB", (left + width + 20, 40 + c * row_h + 30), (252, 252, 250))
    draw = ImageDraw.Draw(img)
    draw.text((left, 10), title, fill=(20, 20, 20))
    x = left + np.arange(n) / max(n - 1, 1) * width
    for ch in range(c):
        top = 40 + ch * row_h
        mid = top + row_h * 0.45
        a, p, f = track["amplitude"][:n, ch], track["phase"][:n, ch], track["frequency"][:n, ch]
        y = a * np.sin(2 * math.pi * p)
        span = max(float(np.abs(y).max()), 1e-6)
        draw.line([(left, mid), (left + width, mid)], fill=(220, 220, 220))
        draw.line(list(zip(x, mid - y / span * row_h * 0.38, strict=True)), fill=_COLOURS[ch % 10], width=2)
        fy = top + row_h * 0.92 - f / max(float(f.max()), 1e-6) * row_h * 0.12
        draw.line(list(zip(x, fy, strict=True)), fill=(120, 120, 120), width=1)
        draw.text((6, top + 8), f"ch {ch}", fill=_COLOURS[ch % 10])
        draw.text((6, top + 24), f"{np.median(f):.2f} Hz", fill=(90, 90, 90))
    for s in range(0, int(n / FPS) + 1, 2):
        xs = left + s * FPS / max(n - 1, 1) * width
        draw.text((xs - 4, 40 + c * row_h + 6), f"{s}s", fill=(90, 90, 90))
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")


def _run(args: argparse.Namespace) -> None:
    out = check_target(args.out, args.overwrite)
    plot = check_target(args.plot, args.overwrite) if args.plot else None
    if out.suffix != ".safetensors":
        raise EggError(f"--out must end in .safetensors, got {out.name}")
    takes = [read_beat2_npz(p) for p in args.motion]
    model, scale, losses = train_pae(takes, args.steps, args.channels, args.window, args.lr, seed=args.seed)
    first, last = float(np.mean(losses[:20])), float(np.mean(losses[-20:]))
    log.info("trained %d steps: MSE %.4f -> %.4f", args.steps, first, last)
    meta = {"joints": [SMPLX.joint_names[j] for j in JOINTS], "window": args.window, "fps": FPS,
            "channels": args.channels, "steps": args.steps, "lr": args.lr, "mse_first": first,
            "mse_last": last, "motion": [str(p) for p in args.motion]}
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["velocity_scale"] = torch.from_numpy(scale)
    with atomic_path(out, suffix=".safetensors", overwrite=args.overwrite) as tmp:
        save_file(state, str(tmp), metadata={"eggesture_pae": json.dumps(meta)})
    print(f"wrote {out}: MSE {first:.4f} -> {last:.4f} over {args.steps} steps")
    if plot is not None:
        track = phase_track(model, takes[0], scale)
        plot_phase(track, plot, f"phase manifold of {Path(args.motion[0]).stem}: a sin 2pi p per channel "
                   "(colour) and frequency (grey), first 20 s")
        print(f"wrote {plot}")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.phase", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--motion", nargs="+", required=True, help="BEAT2 .npz takes")
    ap.add_argument("--out", required=True, help="the trained autoencoder (.safetensors)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--channels", type=int, default=DEFAULT_CHANNELS)
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="frames at 30 fps (odd)")
    ap.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (published 1e-4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="PNG of the phase channels of the first take")
    ap.add_argument("--overwrite", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


if __name__ == "__main__":
    raise SystemExit(main())
