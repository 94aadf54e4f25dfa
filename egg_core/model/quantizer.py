"""Entropy-guided vector quantizer (paper §3.1-3.3, eqs. 1-10).

Hard path (what the decoder sees): nearest code by L2 distance (eq. 1), straight-through
gradient (eq. 3) and the VQ-VAE codebook/commitment pair (eq. 4, in its standard form with
``beta`` on the encoder side).

Soft path (what the entropy regulariser sees): a differentiable estimate of how often each
code is used whose entropy is maximised, so gradients reach the encoder and the codebook and
push the latents to spread over the codebook: scaled cosine similarity as logits (eqs. 5-6,
``cosine_temperature``), Gumbel noise (eq. 7; ``gumbel=False`` gives the softmax ablation),
the batch mean in a stop-gradient moving average started at zero with bias correction
(eq. 8; buffers ``usage_ema`` and ``ema_steps``), and the loss ``1 - H(p_t) / log K`` (eq. 9).

Why latents and codes live on the unit sphere by default (``normalize=True`` from
:class:`~egg_core.model.eggesture.EGGestureConfig`): the entropy is computed from the soft
assignment but usage is decided by the hard one, and only on the sphere is the nearest code
also the most cosine-similar one, so raising the soft entropy raises hard usage. On the sphere
the codes start as random directions; raw latents (the tiny preset) start from data
(``data_init``). Nothing revives dead codes later: the vanilla baseline must show the low
usage the paper reports.

The readings of the paper where it is ambiguous or ill-defined (eq. 4's beta, eq. 6's
``log`` of a similarity, eq. 8's ``p_0``) and the measurements behind every default are in
``docs/QUANTIZER.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SIMILARITIES = ("cosine", "l2")
REWEIGHT_MODES = ("none", "log", "sqrt", "linear", "square", "exp")


@dataclass
class QuantizerOutput:
    """Everything one forward pass of :class:`EntropyGuidedQuantizer` produces."""

    quantized: torch.Tensor  # (..., D) codes with straight-through gradient to the latents
    indices: torch.Tensor  # (...,) int64 nearest-code indices
    codebook_loss: torch.Tensor  # ||sg(z) - e||^2
    commitment_loss: torch.Tensor  # ||z - sg(e)||^2 (unweighted)
    commit: torch.Tensor  # codebook_loss + beta * commitment_loss (eq. 4 as read above)
    entropy: torch.Tensor  # H(p_t) in nats, to be maximised (eq. 9)
    entropy_loss: torch.Tensor  # 1 - H(p_t) / log K, in [0, 1]
    usage_probs: torch.Tensor  # (K,) p_t of eq. 8 (differentiable through p_batch)
    usage: torch.Tensor  # fraction of codes hit by the hard assignment in this batch
    perplexity: torch.Tensor  # exp(entropy of the hard-assignment histogram of this batch)


def gumbel_noise(shape: torch.Size, *, device: torch.device, dtype: torch.dtype,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """i.i.d. Gumbel(0, 1) samples by inverse transform, ``-log(-log u)`` (eq. 7)."""
    u = torch.rand(shape, device=device, dtype=dtype, generator=generator)
    tiny = torch.finfo(dtype).tiny
    return -torch.log((-torch.log(u.clamp_min(tiny))).clamp_min(tiny))


def entropy_of(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy in nats, with ``0 log 0 = 0``."""
    return -(p * torch.log(p.clamp_min(1e-12))).sum(dim)


def reweight_weights(usage: torch.Tensor, mode: str = "linear", clip: float = 10.0,
                     eps: float = 1e-8) -> torch.Tensor:
    """Per-class weights for the classification loss from code usage probabilities (eq. 10).

    With usage ``p_k`` (summing to 1) and ``n_eff = exp(H(p))`` (the perplexity, the effective
    number of codes in use), let ``r_k = 1 / (n_eff * max(p_k, eps))``: the inverse
    probability relative to a uniform use of the *effective* codebook (``r = 1`` for every
    class when usage is uniform). The variants of the paper's Table 3 are

    ======== =====================
    mode     weight f(r_k)
    ======== =====================
    none     1
    log      log(1 + 1/p_k) / log(1 + n_eff)  (log of the paper's x = 1/p_k; +1 keeps it positive)
    sqrt     sqrt(r_k)
    linear   r_k  (paper: w_k = 1/p_k)
    square   r_k ** 2
    exp      exp(r_k - 1)
    ======== =====================

    then clipped to ``[1/clip, clip]`` so a rare code cannot dominate the loss (``clip <= 1``
    disables clipping). Only ratios matter to the loss (``F.cross_entropy`` with weights is a
    weighted mean); the reference scale matters because of the clip. Returns ``(K,)`` float
    weights, detached from the graph (weights are statistics, not something to optimise).

    Why ``n_eff`` and not ``K``: with a collapsed codebook (say 10 % of the codes in use) each
    used code is ~10x more frequent than ``1/K``, so a ``1/K`` reference (the earlier version
    normalised the weights to mean 1 over all K classes, which is the same) pushed every *used*
    code to the lower clip ``1/clip``; the weighted cross-entropy then equalled the unweighted
    one and the "reweight-only" ablation trained exactly like vanilla (measured: identical
    codebook, FGD, BC and recall to 3 digits; docs/ABLATION.md). Relative to ``n_eff`` the
    used codes sit around 1 and keep their ratios; unused codes get the upper clip, which
    is harmless because they are never targets.
    """
    if mode not in REWEIGHT_MODES:
        raise ValueError(f"reweight mode must be one of {REWEIGHT_MODES}, got {mode!r}")
    p = usage.detach().float()
    if mode == "none":
        return torch.ones_like(p)
    p = p.clamp_min(eps) / p.clamp_min(eps).sum()
    n_eff = torch.exp(entropy_of(p))
    log_r = -torch.log(n_eff * p)
    if mode == "log":
        log_w = torch.log(torch.log1p(1.0 / p)) - torch.log(torch.log1p(n_eff))
    elif mode == "sqrt":
        log_w = 0.5 * log_r
    elif mode == "linear":
        log_w = log_r
    elif mode == "square":
        log_w = 2.0 * log_r
    else:  # exp
        log_w = torch.exp(log_r.clamp_max(80.0)) - 1.0
    if clip > 1.0:
        log_w = log_w.clamp(-math.log(clip), math.log(clip))
    return torch.exp(log_w)


class EntropyGuidedQuantizer(nn.Module):
    """Codebook of ``num_codes`` vectors of width ``code_dim`` with the entropy-guided usage estimate.

    Buffers: ``usage_ema`` (K,) bias-corrected soft usage ``p_t`` of eq. 8 (uniform before the
    first training step), ``hard_usage_ema`` (K,) the same average of the hard assignment
    histogram (statistic only), ``ema_steps`` how many updates both averages have seen,
    ``code_hits`` (K,) accumulated hard hit counts (reset with :meth:`reset_hits`, for
    "% codes used" reports).
    """

    def __init__(self, num_codes: int, code_dim: int, *, beta: float = 0.1, tau: float = 1.0,
                 gumbel: bool = True, ema_alpha: float = 0.95,
                 cosine_temperature: float = 0.03, data_init: bool = True,
                 similarity: str = "cosine", l2_temperature: float = 1.0,
                 normalize: bool = False) -> None:
        super().__init__()
        if num_codes < 2:
            raise ValueError("a codebook needs at least 2 codes")
        if not 0.0 <= ema_alpha < 1.0:
            raise ValueError(f"ema_alpha must be in [0, 1), got {ema_alpha}")
        self.num_codes = num_codes
        self.code_dim = code_dim
        self.beta = beta
        self.tau = tau
        self.gumbel = gumbel
        self.ema_alpha = ema_alpha
        self.cosine_temperature = cosine_temperature
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}")
        self.similarity = similarity
        self.l2_temperature = l2_temperature
        self.normalize = normalize
        self.codebook = nn.Embedding(num_codes, code_dim)
        nn.init.uniform_(self.codebook.weight, -1.0 / num_codes, 1.0 / num_codes)
        self.register_buffer("usage_ema", torch.full((num_codes,), 1.0 / num_codes))
        self.register_buffer("hard_usage_ema", torch.full((num_codes,), 1.0 / num_codes))
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("code_hits", torch.zeros(num_codes))
        self.register_buffer("initialised", torch.tensor(not data_init))

    # --- hard path -------------------------------------------------------------------------
    def codes(self) -> torch.Tensor:
        """The code vectors ``(K, D)`` as the decoder sees them (unit length with ``normalize``)."""
        e = self.codebook.weight
        return F.normalize(e, dim=1) if self.normalize else e

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """Latents as they are quantised (unit length with ``normalize``, else unchanged)."""
        return F.normalize(z, dim=-1) if self.normalize else z

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Indices of the nearest codes (squared L2, eq. 1) for latents ``(..., D)``."""
        flat = self.project(z).reshape(-1, self.code_dim)
        e = self.codes()
        d = (flat.pow(2).sum(1, keepdim=True) - 2.0 * flat @ e.t() + e.pow(2).sum(1)[None, :])
        return d.argmin(1).reshape(z.shape[:-1])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors ``(..., D)`` for integer indices ``(...)``."""
        return F.embedding(indices, self.codes())

    # --- soft path -------------------------------------------------------------------------
    def soft_assignment(self, z: torch.Tensor,
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """Differentiable assignment probabilities ``(M, K)`` for latents ``(..., D)`` (eqs. 5-7)."""
        flat = self.project(z).reshape(-1, self.code_dim)
        e = self.codes()
        if self.similarity == "cosine":
            logits = F.normalize(flat, dim=1) @ F.normalize(e, dim=1).t()
            logits = logits / self.cosine_temperature
        else:
            d = (flat.pow(2).sum(1, keepdim=True) - 2.0 * flat @ e.t() + e.pow(2).sum(1)[None, :])
            scale = d.min(1).values.mean().detach().clamp_min(1e-12)
            logits = -d / (scale * self.l2_temperature)
        if self.gumbel:
            logits = logits + gumbel_noise(logits.shape, device=logits.device,
                                           dtype=logits.dtype, generator=generator)
        return torch.softmax(logits / self.tau, dim=1)

    @torch.no_grad()
    def init_from_latents(self, z: torch.Tensor) -> None:
        """Set every code to a random latent of ``z`` (with replacement when too few) plus noise."""
        flat = z.detach().reshape(-1, self.code_dim)
        pick = torch.randint(0, flat.shape[0], (self.num_codes,), device=flat.device)
        if flat.shape[0] >= self.num_codes:
            pick = torch.randperm(flat.shape[0], device=flat.device)[: self.num_codes]
        noise = torch.randn_like(self.codebook.weight) * (0.01 * flat.std().clamp_min(1e-6))
        self.codebook.weight.copy_(flat[pick] + noise)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # every rank initialises at its first batch; keep rank 0's codes so the replicas agree
            torch.distributed.broadcast(self.codebook.weight.data, src=0)
        self.initialised.fill_(True)

    def usage_probabilities(self) -> torch.Tensor:
        """Current moving-average usage ``p_t`` (K,) of eq. 8, for classifier reweighting."""
        return self.usage_ema.clone()

    def ema_weights(self) -> tuple[float, float]:
        """``(w_prev, w_batch)`` of the next bias-corrected moving-average update (sum 1).

        With ``n`` updates done, ``p_{n+1} = w_prev * p_n + w_batch * x`` where
        ``w_batch = (1 - alpha) / (1 - alpha^(n+1))``: 1 at the first update, ``1 - alpha`` in
        the long run. Derived from ``raw_t = alpha raw_{t-1} + (1 - alpha) x``, ``raw_0 = 0``,
        ``p_t = raw_t / (1 - alpha^t)``.
        """
        alpha = self.ema_alpha
        n = int(self.ema_steps)
        w_batch = (1.0 - alpha) / (1.0 - alpha ** (n + 1)) if alpha > 0 else 1.0
        return 1.0 - w_batch, w_batch

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        # checkpoints from before the bias correction: their averages are long-running
        key = prefix + "ema_steps"
        if key not in state_dict and prefix + "usage_ema" in state_dict:
            state_dict[key] = torch.tensor(1_000_000, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def reset_hits(self) -> None:
        """Zero the accumulated hit counter (e.g. at the start of an evaluation pass)."""
        self.code_hits.zero_()

    def accumulated_usage(self) -> float:
        """Fraction of codes hit at least once since the last :meth:`reset_hits`."""
        return float((self.code_hits > 0).float().mean())

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> QuantizerOutput:
        """Quantise latents ``(..., D)``; see the module docstring for every term."""
        if z.shape[-1] != self.code_dim:
            raise ValueError(f"latent width {z.shape[-1]} != code_dim {self.code_dim}")
        if self.training and not bool(self.initialised):
            self.init_from_latents(z)
        z = self.project(z)
        indices = self.nearest(z.detach())
        e = self.lookup(indices)
        codebook_loss = F.mse_loss(e, z.detach())
        commitment_loss = F.mse_loss(z, e.detach())
        commit = codebook_loss + self.beta * commitment_loss
        quantized = z + (e - z).detach()  # eq. 3, straight-through

        soft = self.soft_assignment(z, generator)
        p_batch = soft.mean(0)
        w_prev, w_batch = self.ema_weights()
        p_t = w_prev * self.usage_ema + w_batch * p_batch  # the buffer is sg(p_{t-1})
        entropy = entropy_of(p_t)
        entropy_loss = 1.0 - entropy / math.log(self.num_codes)

        with torch.no_grad():
            counts = torch.bincount(indices.reshape(-1), minlength=self.num_codes).float()
            hist = counts / counts.sum().clamp_min(1.0)
            usage = (counts > 0).float().mean()
            perplexity = torch.exp(entropy_of(hist))
            if self.training:
                self.usage_ema.copy_(p_t.detach())
                self.hard_usage_ema.mul_(w_prev).add_(w_batch * hist)
                self.ema_steps.add_(1)
                self.code_hits.add_(counts)

        return QuantizerOutput(quantized=quantized, indices=indices, codebook_loss=codebook_loss,
                               commitment_loss=commitment_loss, commit=commit, entropy=entropy,
                               entropy_loss=entropy_loss, usage_probs=p_t, usage=usage,
                               perplexity=perplexity)
