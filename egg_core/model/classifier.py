"""Index classifier: speech features -> codebook indices (paper §3.4).

A transformer decoder whose query sequence is one slot per motion token of the window:
``positional embedding + token embedding``, where the token embedding is the seed codebook
index for the first ``S`` slots (the previous window's last tokens, which cover the same time
span because consecutive windows overlap by ``S`` tokens) and a learned ``[MASK]`` embedding
for every other slot. Cross-attention attends over the channel-concatenated audio + text
encodings at token rate.

All slots are predicted in one parallel pass (non-autoregressive). Why: a 20 s window is 75
tokens; autoregressive decoding would cost 75 sequential passes per window, which cannot meet
the >= 100x real-time target on two CPU cores, while the conditioning (speech) already
determines most of the structure and the VQ decoder's convolutions smooth token to token.
"""

from __future__ import annotations

import torch
from torch import nn


class IndexClassifier(nn.Module):
    """Transformer decoder predicting logits ``(B, N, K)`` over the codebook for every token slot."""

    def __init__(self, num_codes: int, cond_dim: int, dim: int = 256, layers: int = 4,
                 heads: int = 4, max_tokens: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.mask_id = num_codes
        self.max_tokens = max_tokens
        self.tok = nn.Embedding(num_codes + 1, dim)
        self.pos = nn.Parameter(torch.zeros(max_tokens, dim))
        self.cond_pos = nn.Parameter(torch.zeros(max_tokens, dim))
        nn.init.normal_(self.pos, std=0.02)
        nn.init.normal_(self.cond_pos, std=0.02)
        self.cond_proj = nn.Linear(cond_dim, dim)
        layer = nn.TransformerDecoderLayer(dim, heads, dim * 2, dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_codes)

    def query_tokens(self, batch: int, n_tokens: int, seed: torch.Tensor | None,
                     device: torch.device) -> torch.Tensor:
        """Input index sequence ``(B, N)``: the seed as a prefix, ``[MASK]`` elsewhere."""
        tokens = torch.full((batch, n_tokens), self.mask_id, dtype=torch.long, device=device)
        if seed is not None and seed.shape[-1] > 0:
            s = seed.shape[-1]
            if s > n_tokens:
                raise ValueError(f"seed of {s} tokens is longer than the window ({n_tokens})")
            tokens[:, :s] = seed.to(device=device, dtype=torch.long)
        return tokens

    def forward(self, cond: torch.Tensor, seed: torch.Tensor | None = None) -> torch.Tensor:
        """``cond`` (B, N, cond_dim) at token rate, ``seed`` (B, S) int or None -> logits (B, N, K)."""
        b, n, _ = cond.shape
        if n > self.max_tokens:
            raise ValueError(f"window of {n} tokens exceeds max_tokens={self.max_tokens}")
        tokens = self.query_tokens(b, n, seed, cond.device)
        query = self.tok(tokens) + self.pos[:n]
        memory = self.cond_proj(cond) + self.cond_pos[:n]
        return self.head(self.norm(self.decoder(query, memory)))


def sample_indices(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw indices ``(...)`` from logits ``(..., K)``.

    ``temperature <= 0`` is argmax (deterministic); otherwise softmax(logits / temperature),
    restricted to the ``top_k`` most likely codes when given, sampled with ``generator``
    (a seeded ``torch.Generator`` makes the draw reproducible).
    """
    if temperature <= 0:
        return logits.argmax(-1)
    scaled = logits.float() / temperature
    if top_k is not None and 0 < top_k < scaled.shape[-1]:
        kth = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, -1).reshape(-1, scaled.shape[-1])
    drawn = torch.multinomial(probs, 1, generator=generator)
    return drawn.reshape(logits.shape[:-1])
