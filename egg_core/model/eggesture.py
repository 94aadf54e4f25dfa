"""The EGGesture model: configuration, networks and the training objective (paper §3).

Data flow for one window of ``window_frames`` frames at ``fps``:

* motion rot6d ``(B, T, J*6)`` -> :class:`MotionEncoder` -> latents ``(B, T/4, code_dim)`` ->
  :class:`EntropyGuidedQuantizer` -> codes -> :class:`MotionDecoder` -> rot6d (reconstruction);
* audio features ``(B, T, F_a)`` -> :class:`AudioEncoder`, text features ``(B, T, F_t)`` ->
  :class:`TextEncoder`; concatenated along channels and average-pooled to token rate ->
  :class:`IndexClassifier` (seeded by the first ``seed_tokens`` indices) -> logits over codes.

Reading of eq. 11 (``l = e/gamma * l_cls + gamma/e * (l_rec + l_entropy + l_commit)``): taken
literally it is unbounded at ``e = 0`` and grows the VQ weight without limit. We keep its
intent - the classifier term starts small while the code assignments are still random and
grows linearly with the epoch - in a bounded form::

    w_cls = min((epoch + 1) / gamma, 1),  w_vq = 1
    total = w_vq * (rec + commit + entropy_weight * entropy) + w_cls * cls

(``epoch`` counts from 0; ``gamma`` configurable, paper 500). The ratio of the two weights is
the paper's ``(e/gamma)^2`` up to the cap. Note that the classifier's targets are
stop-gradient indices, so the two groups of terms update disjoint parameters; with Adam a
constant loss scale on one group barely changes its updates - the ramp matters mainly through
gradient clipping and Adam's epsilon. The training loop should therefore not clip one global
norm across both groups.

Entropy weight: the paper gives none; the default ``entropy_weight = 0.1`` comes from a
synthetic check (tiny model, 300 steps): at 1.0 the reconstruction stalled at the mean pose,
because the entropy of the *batch-mean* assignment is also maximised by making every single
soft assignment uniform (uninformative latents); at 0.1 and 0.01 the VQ-VAE reconstructed well.
It was re-checked on the real BEAT2 take after the soft/hard consistency fix
(``normalize_latents``, see :mod:`egg_core.model.quantizer`): weight 0.1 / 0.3 / 1.0 gave
66 / 59 / 18 % codebook usage (K=256, 300 steps), so 0.1 stays.

Checkpoints written before ``normalize_latents`` existed have no such key; :meth:`EGGestureConfig.from_dict`
reads them with ``normalize_latents=False`` (what they were trained with).

Ablation switches (paper Tables 3-5): ``entropy`` (entropy term on/off; it is still
reported), ``gumbel`` (Gumbel-softmax vs plain softmax), ``reweight`` (none/log/sqrt/linear/
square/exp), ``joint_training`` (off: the first ``vq_epochs`` epochs train only the VQ-VAE,
later epochs only the classifier on frozen indices - the vanilla two-stage recipe), and
``codebook_size``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from egg_core.model.audio import AUDIO_FEATURE_DIM, WHISPER_FEATURE_DIM, AudioEncoder
from egg_core.model.classifier import IndexClassifier, sample_indices
from egg_core.model.quantizer import (
    REWEIGHT_MODES,
    SIMILARITIES,
    EntropyGuidedQuantizer,
    reweight_weights,
)
from egg_core.model.text import SILENCE_CHANNEL, TEXT_ENCODERS, TEXT_FEATURE_DIM, TextEncoder
from egg_core.model.vqvae import MotionDecoder, MotionEncoder

#: The audio feature kinds a model can be conditioned on (``EGGestureConfig.audio_features``).
AUDIO_FEATURE_KINDS = ("mel", "pretrained", "whisper")


@dataclass
class EGGestureConfig:
    """Every hyper-parameter of the model and its objective; JSON-serialisable."""

    # data representation
    joint_set: str = "gesture"
    num_joints: int = 43
    fps: float = 15.0
    window_frames: int = 300
    seed_tokens: int = 4
    # VQ-VAE
    codebook_size: int = 512
    code_dim: int = 256
    downsample: int = 4
    vq_channels: int = 256
    vq_depth: int = 2
    # quantizer / entropy guidance
    beta: float = 0.1
    tau: float = 1.0
    gumbel: bool = True
    ema_alpha: float = 0.95
    cosine_temperature: float = 0.03
    codebook_data_init: bool = False  # random directions on the sphere (quantizer docstring: why)
    similarity: str = "cosine"  # entropy-path similarity: "cosine" (paper) or "l2"
    l2_temperature: float = 1.0
    normalize_latents: bool = True  # unit-sphere latents and codes (quantizer docstring: why)
    entropy: bool = True
    entropy_weight: float = 0.1
    reweight: str = "linear"
    reweight_clip: float = 10.0
    reweight_source: str = "soft"  # "soft": eq. 8 usage; "hard": moving average of argmin hits
    # objective schedule
    joint_training: bool = True
    vq_epochs: int = 100  # only used when joint_training is False
    gamma: float = 500.0
    rec_velocity_weight: float = 1.0
    seed_drop: float = 0.2  # training: probability of showing the classifier no seed
    # conditioning features
    audio_feature_dim: int = AUDIO_FEATURE_DIM
    # "mel" (built-in), "pretrained" (wav2vec2/HuBERT at audio_model_path) or "whisper" (frozen
    # Whisper tiny.en encoder, audio_feature_dim WHISPER_FEATURE_DIM; egg_core.model.audio)
    audio_features: str = "mel"
    audio_model_path: str | None = None
    text_feature_dim: int = TEXT_FEATURE_DIM
    text_encoder: str = "auto"
    # layer sizes
    audio_dim: int = 128
    audio_layers: int = 6
    text_dim: int = 64
    text_layers: int = 1
    cls_dim: int = 256
    cls_layers: int = 4
    cls_heads: int = 4
    dropout: float = 0.1
    #: Training only: the chance that a window's words are withheld (text = silence), so that a
    #: model trained with transcripts still gestures well from audio alone (docs/QUALITY.md).
    text_dropout: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes, kept in checkpoints

    def __post_init__(self) -> None:
        if self.downsample < 1 or self.downsample & (self.downsample - 1):
            raise ValueError("downsample must be a power of two")
        if self.window_frames % self.downsample:
            raise ValueError("window_frames must be a multiple of downsample")
        if not 0 <= self.seed_tokens < self.window_tokens:
            raise ValueError("seed_tokens must be in [0, window tokens)")
        if self.reweight not in REWEIGHT_MODES:
            raise ValueError(f"reweight must be one of {REWEIGHT_MODES}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}")
        if self.reweight_source not in ("soft", "hard"):
            raise ValueError("reweight_source must be 'soft' or 'hard'")
        if self.text_encoder not in TEXT_ENCODERS:
            raise ValueError(f"text_encoder must be one of {TEXT_ENCODERS}")
        if self.audio_features not in AUDIO_FEATURE_KINDS:
            raise ValueError(f"audio_features must be one of {AUDIO_FEATURE_KINDS}")
        if self.audio_features == "whisper" and self.audio_feature_dim != WHISPER_FEATURE_DIM:
            raise ValueError(f"audio_features='whisper' gives {WHISPER_FEATURE_DIM} channels; set "
                             f"audio_feature_dim={WHISPER_FEATURE_DIM} (got {self.audio_feature_dim})")
        if self.gamma <= 0:
            raise ValueError("gamma must be positive")

    @property
    def motion_dim(self) -> int:
        return self.num_joints * 6

    @property
    def window_tokens(self) -> int:
        return self.window_frames // self.downsample

    @classmethod
    def tiny(cls, **overrides: Any) -> EGGestureConfig:
        """A very small model for tests and smoke runs (seconds to train on a CPU).

        It keeps raw latents, ``cosine_temperature=0.1`` and the codebook's data initialisation
        (the quantizer before the soft/hard consistency fix; raw latents need the data init, see
        :mod:`egg_core.model.quantizer`). At this size the unit sphere collapses within the
        ~100-step budgets of the tests (real take, 120 steps: 3 codes and static output at lr
        3e-3 with data-initialised codes; 2 of 32 codes at lr 3e-4 with random ones, against
        5 with raw latents). The small and default presets use the sphere.
        """
        base: dict[str, Any] = dict(
            window_frames=64, seed_tokens=2, codebook_size=32, code_dim=16, vq_channels=64,
            vq_depth=1, audio_dim=32, audio_layers=2, text_dim=16, text_layers=1, cls_dim=32,
            cls_layers=1, cls_heads=2, dropout=0.0, gamma=1.0, vq_epochs=1,
            normalize_latents=False, cosine_temperature=0.1, codebook_data_init=True,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def small(cls, **overrides: Any) -> EGGestureConfig:
        """A CPU-sized model (1.7 M parameters, 8.5 s windows): the bundled default model and the
        ablation study use it, because the full-size default does not train in minutes on a CPU."""
        base: dict[str, Any] = dict(
            window_frames=128, seed_tokens=4, codebook_size=256, code_dim=64, vq_channels=128,
            vq_depth=2, audio_dim=64, audio_layers=2, text_dim=32, text_layers=1, cls_dim=128,
            cls_layers=2, cls_heads=4, dropout=0.1, gamma=10.0, vq_epochs=10,
        )
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EGGestureConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` (a newer format).

        Keys added later get the value that reproduces older checkpoints (see module docs).
        """
        known = {f.name for f in dataclasses.fields(cls)}
        data = dict(data)
        data.setdefault("normalize_latents", False)  # older checkpoints: raw latents
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown}")
        return cls(**data)


def speech_condition(audio_encoder: nn.Module, text_encoder: nn.Module, audio: torch.Tensor,
                     text: torch.Tensor, downsample: int) -> torch.Tensor:
    """Channel-concatenated audio+text encodings pooled to token rate ``(B, T/ds, da+dt)``."""
    if audio.shape[1] != text.shape[1]:
        raise ValueError(f"audio ({audio.shape[1]}) and text ({text.shape[1]}) frame counts differ")
    both = torch.cat([audio_encoder(audio), text_encoder(text)], dim=-1)
    b, t, c = both.shape
    if t % downsample:
        raise ValueError(f"feature length {t} is not a multiple of {downsample}")
    return both.reshape(b, t // downsample, downsample, c).mean(2)


class EGGesture(nn.Module):
    """VQ-VAE + entropy-guided quantizer + audio/text encoders + index classifier."""

    KIND = "eggesture"

    def __init__(self, config: EGGestureConfig | None = None) -> None:
        super().__init__()
        cfg = config or EGGestureConfig()
        self.config = cfg
        stages = int(math.log2(cfg.downsample))
        self.encoder = MotionEncoder(cfg.motion_dim, cfg.vq_channels, cfg.code_dim, cfg.vq_depth, stages)
        self.decoder = MotionDecoder(cfg.motion_dim, cfg.vq_channels, cfg.code_dim, cfg.vq_depth, stages)
        self.quantizer = EntropyGuidedQuantizer(
            cfg.codebook_size, cfg.code_dim, beta=cfg.beta, tau=cfg.tau, gumbel=cfg.gumbel,
            ema_alpha=cfg.ema_alpha, cosine_temperature=cfg.cosine_temperature,
            data_init=cfg.codebook_data_init, similarity=cfg.similarity,
            l2_temperature=cfg.l2_temperature, normalize=cfg.normalize_latents)
        self.audio_encoder, self.text_encoder = self.speech_encoders(cfg)
        self.classifier = IndexClassifier(cfg.codebook_size, cfg.audio_dim + cfg.text_dim, cfg.cls_dim,
                                          cfg.cls_layers, cfg.cls_heads, cfg.window_tokens, cfg.dropout)
        rest = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(cfg.num_joints)
        self.register_buffer("rest6d", rest, persistent=False)

    @staticmethod
    def speech_encoders(cfg: EGGestureConfig) -> tuple[AudioEncoder, TextEncoder]:
        """The audio and text encoders of a config (the whole-body model shares this)."""
        audio = AudioEncoder(cfg.audio_feature_dim, cfg.audio_dim, cfg.audio_layers, cfg.dropout)
        text = TextEncoder(cfg.text_feature_dim, cfg.text_dim, cfg.text_layers,
                           heads=max(1, min(4, cfg.text_dim // 16)),
                           max_len=cfg.window_frames, dropout=cfg.dropout)
        return audio, text

    # --- VQ-VAE ------------------------------------------------------------------------------
    def vq_modules(self) -> list[nn.Module]:
        """The modules trained by the VQ group of the objective (gradient clipping groups)."""
        return [self.encoder, self.decoder, self.quantizer]

    def quantizers(self) -> list[EntropyGuidedQuantizer]:
        return [self.quantizer]

    def encode_latents(self, motion: torch.Tensor) -> torch.Tensor:
        """rot6d ``(B, T, J*6)`` -> continuous latents ``(B, T/ds, code_dim)``."""
        return self.encoder(motion - self.rest6d)

    def encode_indices(self, motion: torch.Tensor) -> torch.Tensor:
        """rot6d ``(B, T, J*6)`` -> nearest codebook indices ``(B, T/ds)``."""
        return self.quantizer.nearest(self.encode_latents(motion))

    def decode_latents(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(codes) + self.rest6d

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices ``(B, N)`` -> rot6d ``(B, N*ds, J*6)``."""
        return self.decode_latents(self.quantizer.lookup(indices))

    # --- speech -> indices ------------------------------------------------------------------
    @staticmethod
    def _withhold_words(text: torch.Tensor, p: float) -> torch.Tensor:
        """``text`` with each window's words replaced, with probability ``p``, by silence."""
        drop = torch.rand(text.shape[0], 1, 1, device=text.device) < p
        silence = torch.zeros_like(text)
        silence[..., min(SILENCE_CHANNEL, text.shape[-1] - 1)] = 1.0  # the silence flag
        return torch.where(drop, silence, text)

    def condition(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Channel-concatenated audio+text encodings pooled to token rate ``(B, T/ds, da+dt)``."""
        return speech_condition(self.audio_encoder, self.text_encoder, audio, text, self.config.downsample)

    def predict_logits(self, audio: torch.Tensor, text: torch.Tensor,
                       seed_indices: torch.Tensor | None = None) -> torch.Tensor:
        """Codebook logits ``(B, T/ds, K)`` for a window of features ``(B, T, F)``."""
        return self.classifier(self.condition(audio, text), seed_indices)

    @torch.no_grad()
    def generate_indices(self, audio: torch.Tensor, text: torch.Tensor,
                         seed_indices: torch.Tensor | None = None, temperature: float = 1.0,
                         top_k: int | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample indices ``(B, T/ds)``; the seed prefix is kept as given."""
        logits = self.predict_logits(audio, text, seed_indices)
        idx = sample_indices(logits, temperature, top_k, generator)
        if seed_indices is not None and seed_indices.shape[-1] > 0:
            idx[:, : seed_indices.shape[-1]] = seed_indices.to(idx.device)
        return idx

    @torch.no_grad()
    def sample_window(self, cond: torch.Tensor, seed: torch.Tensor | None, temperature: float,
                      top_k: int | None, generator: torch.Generator | None) -> torch.Tensor:
        """Indices ``(B, N)`` for precomputed conditioning ``(B, N, C)``; the seed prefix is kept."""
        idx = sample_indices(self.classifier(cond, seed), temperature, top_k, generator)
        if seed is not None and seed.shape[-1] > 0:
            idx[:, : seed.shape[-1]] = seed.to(idx.device)
        return idx

    # --- objective ---------------------------------------------------------------------------
    def class_weights(self) -> torch.Tensor | None:
        """Per-code weights of the reweighted classification loss (eq. 10), None for 'none'."""
        cfg = self.config
        if cfg.reweight == "none":
            return None
        q = self.quantizer
        usage = q.usage_probabilities() if cfg.reweight_source == "soft" else q.hard_usage_ema
        return reweight_weights(usage, cfg.reweight, cfg.reweight_clip)

    def loss_weights(self, epoch: int) -> tuple[float, float]:
        """``(w_vq, w_cls)`` for this epoch: the bounded reading of eq. 11 (module docstring)."""
        cfg = self.config
        if not cfg.joint_training:
            return (1.0, 0.0) if epoch < cfg.vq_epochs else (0.0, 1.0)
        return 1.0, min((epoch + 1) / cfg.gamma, 1.0)

    def losses(self, batch: dict[str, torch.Tensor], epoch: int) -> dict[str, torch.Tensor]:
        """All loss terms and statistics for one batch (paper eqs. 2-11).

        ``batch``: ``motion`` (B, T, J*6) rot6d, ``audio`` (B, T, F_a), ``text`` (B, T, F_t).
        Returns ``rec``, ``commit``, ``entropy`` (the loss form ``1 - H/log K``), ``cls``,
        ``total`` and statistics ``entropy_norm`` (H / log K), ``usage`` (fraction of codes hit
        in the batch), ``perplexity``, ``cls_acc``, ``w_cls``.
        """
        cfg = self.config
        motion, audio, text = batch["motion"], batch["audio"], batch["text"]
        w_vq, w_cls = self.loss_weights(epoch)
        zero = motion.new_zeros(())

        if w_vq > 0:
            q = self.quantizer(self.encode_latents(motion))
            recon = self.decode_latents(q.quantized)
            rec = F.l1_loss(recon, motion)
            if cfg.rec_velocity_weight > 0:
                rec = rec + cfg.rec_velocity_weight * F.l1_loss(recon.diff(dim=1), motion.diff(dim=1))
            commit = q.commit
            ent_w = cfg.entropy_weight if cfg.entropy else 0.0
            vq_total = rec + commit + ent_w * q.entropy_loss
        else:  # second stage of the two-stage recipe: frozen VQ-VAE, statistics only
            with torch.no_grad():
                q = self.quantizer(self.encode_latents(motion))
            rec, commit, vq_total = zero, zero, zero
        indices = q.indices.detach()

        if w_cls > 0:
            if self.training and cfg.text_dropout > 0:
                text = self._withhold_words(text, cfg.text_dropout)
            cls, acc = self._classification_loss(audio, text, indices)
        else:
            cls, acc = zero, zero
        total = w_vq * vq_total + w_cls * cls
        log_k = math.log(cfg.codebook_size)
        return {
            "rec": rec, "commit": commit, "entropy": q.entropy_loss, "cls": cls, "total": total,
            "entropy_norm": (q.entropy / log_k).detach(), "usage": q.usage,
            "perplexity": q.perplexity, "cls_acc": acc, "w_cls": motion.new_tensor(w_cls),
        }

    def _classification_loss(self, audio: torch.Tensor, text: torch.Tensor,
                             indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reweighted NLL of the true indices (eq. 10), on the slots not given as seed."""
        s = self.config.seed_tokens
        use_seed = s > 0 and (not self.training or float(torch.rand(())) >= self.config.seed_drop)
        seed = indices[:, :s] if use_seed else None
        logits = self.predict_logits(audio, text, seed)
        start = s if use_seed else 0
        logits, target = logits[:, start:], indices[:, start:]
        weights = self.class_weights()
        cls = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                              weight=None if weights is None else weights.to(logits.device))
        acc = (logits.argmax(-1) == target).float().mean().detach()
        return cls, acc

