"""Does the entropy term raise *hard* codebook usage? A small, fast VQ-VAE-only experiment.

``python -m training.quantizer_diag --data DIR [--steps 300] [--report-every N] [key=value ...]``

Why: a short run on the real take showed hard usage stuck at 11-19 % while the entropy loss
was already ~0.001, i.e. the soft usage estimate (eqs. 5-8) was near-uniform although few
codes were hit. This script trains only the motion encoder, quantizer and decoder (rec +
commit + weighted entropy; no classifier) on the windows of ``DIR`` for ``--steps`` Adam
steps on one thread, then reports over all windows: hard usage and perplexity, the
reconstruction L1 of the quantised motion, the normalised entropy of the mean *soft*
assignment, and the geometry behind any mismatch (latent vs code norms; nearest, second,
tenth and median squared distance from a latent to the codes; how tightly codes and latents
are bunched, as mean pairwise cosine; the mean normalised entropy of a single latent's soft
assignment). ``--report-every N`` also prints these every N steps, with the training step's
entropy loss, as JSON lines: the trajectory behind the initialisation and moving-average
choices of the quantizer.

``key=value`` pairs override :class:`EGGestureConfig` fields of the base configuration
(K=256, D=64, 128 channels, depth 1, 64-frame windows), e.g. ``normalize_latents=True
cosine_temperature=0.03`` or ``entropy=False``. The measurements behind the quantizer's
defaults (docs/QUANTIZER.md) and docs/ABLATION.md were made with it.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F

from egg_core.cli import run_cli
from egg_core.errors import EggError
from egg_core.model.eggesture import EGGesture, EGGestureConfig
from training.data import DataSettings, load_dataset

BASE: dict[str, Any] = dict(
    window_frames=64, seed_tokens=2, codebook_size=256, code_dim=64, vq_channels=128, vq_depth=1,
    audio_dim=32, audio_layers=1, text_dim=16, text_layers=1, cls_dim=32, cls_layers=1, cls_heads=2,
    dropout=0.0, gamma=1.0, vq_epochs=1, text_encoder="hashed",
)


def _mean_pairwise_cosine(x: torch.Tensor, limit: int = 2048) -> float:
    """Mean cosine over distinct pairs of rows (the first ``limit`` rows): 1 = one direction."""
    x = F.normalize(x[:limit], dim=1)
    n = x.shape[0]
    return float(((x @ x.t()).sum() - n) / max(n * (n - 1), 1))


@torch.no_grad()
def statistics(model: Any, x_all: torch.Tensor) -> dict[str, float]:
    """Usage, reconstruction and geometry of the quantiser over every window (module docs)."""
    was_training = model.training
    model.eval()
    q = model.quantizer
    k = q.num_codes
    z = model.encode_latents(x_all)
    idx = q.nearest(z)
    counts = torch.bincount(idx.reshape(-1), minlength=k).float()
    hist = counts / counts.sum()
    nz = hist[hist > 0]
    soft = q.soft_assignment(z)
    soft_mean = soft.mean(0)
    per_sample = -(soft * soft.clamp_min(1e-12).log()).sum(1).mean()
    flat = q.project(z).reshape(-1, q.code_dim)
    codes = q.codes()
    d = torch.cdist(flat, codes).pow(2).sort(1).values
    model.train(was_training)
    return {
        "usage": float((counts > 0).float().mean()), "perplexity": math.exp(float(-(nz * nz.log()).sum())),
        "rec_l1": float(F.l1_loss(model.decode_indices(idx), x_all)),
        "soft_entropy_norm": float(-(soft_mean * soft_mean.clamp_min(1e-12).log()).sum()) / math.log(k),
        "soft_sample_entropy_norm": float(per_sample) / math.log(k),
        "code_cosine": _mean_pairwise_cosine(codes), "latent_cosine": _mean_pairwise_cosine(flat),
        "latent_norm": float(flat.norm(dim=1).mean()), "code_norm": float(codes.norm(dim=1).mean()),
        "sqdist_nearest": float(d[:, 0].mean()), "sqdist_2nd": float(d[:, 1].mean()),
        "sqdist_10th": float(d[:, 9].mean()), "sqdist_median": float(d[:, d.shape[1] // 2].mean()),
    }


def run(data: str, steps: int = 300, batch_size: int = 32, seed: int = 0, report_every: int = 0,
        **overrides: Any) -> dict[str, Any]:
    """Train the VQ-VAE part for ``steps`` and return the statistics described in the module docs.

    With ``report_every > 0`` the statistics after step 1 and every ``report_every`` steps are
    printed as JSON lines while training.
    """

    torch.manual_seed(seed)
    cfg = EGGestureConfig(**{**BASE, **overrides})
    ds, _ = load_dataset(data, DataSettings.from_config(cfg), cfg.window_frames, 8, fmt="folder", split=None,
                         progress=False)
    x_all = torch.stack([ds[i]["motion"] for i in range(len(ds))])
    model = EGGesture(cfg)
    params = [p for m in (model.encoder, model.decoder, model.quantizer) for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=3e-4)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    ent_w = cfg.entropy_weight if cfg.entropy else 0.0
    for step in range(1, steps + 1):
        x = x_all[torch.randint(0, len(x_all), (batch_size,), generator=gen)]
        q = model.quantizer(model.encode_latents(x))
        rec_x = model.decode_latents(q.quantized)
        rec = F.l1_loss(rec_x, x) + F.l1_loss(rec_x.diff(dim=1), x.diff(dim=1))
        loss = rec + q.commit + ent_w * q.entropy_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if report_every > 0 and (step == 1 or step % report_every == 0) and step < steps:
            print(json.dumps({"step": step, "entropy_loss": q.entropy_loss.item(), "commit": q.commit.item(),
                              **statistics(model, x_all)}), flush=True)
    stats = statistics(model, x_all)
    return {"overrides": overrides, "steps": steps, "windows": len(x_all), "tokens": int(x_all.shape[0] *
            cfg.window_tokens), **stats, "seconds": round(time.time() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.quantizer_diag", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="new-speaker folder (e.g. the real take's training part)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report-every", type=int, default=0, help="also print the statistics every N steps")
    ap.add_argument("overrides", nargs="*", help="EGGestureConfig field=value (Python literals)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    over = {}
    for item in args.overrides:
        key, _, value = item.partition("=")
        try:
            over[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            over[key] = value

    def work() -> None:
        try:
            cfg_check = EGGestureConfig(**{**BASE, **over})
        except (TypeError, ValueError) as exc:  # a misspelt or invalid override
            raise EggError(f"bad configuration override: {exc}") from exc
        del cfg_check
        print(json.dumps(run(args.data, args.steps, seed=args.seed, report_every=args.report_every, **over)))

    return run_cli(work)


if __name__ == "__main__":
    sys.exit(main())
