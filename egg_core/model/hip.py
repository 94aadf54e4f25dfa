"""Whole-body EGGesture as HIP builds it: part codebooks, a cascade and phase guidance.

Data flow for one window (``window_frames`` frames at ``fps``):

* whole-body features ``(B, T, D)`` (:mod:`egg_core.model.parts`: face, upper, lower, hands),
  standardised per channel with the training data's mean and spread (buffers saved with the
  weights), are cut into parts; every part has its own VQ-VAE with the entropy-guided
  quantizer of the single-part model (entropy term, Gumbel, moving-average usage, reweighted
  classification), so the face and the legs get codes of their own instead of sharing the
  arms' codebook;
* speech (audio + text encodings pooled to token rate, as in :class:`EGGesture`) conditions
  one index classifier per part. **Cascade** (HIP's "cascaded guidance during learning"): the
  classifiers run in the order face -> upper -> lower -> hands, and a part's classifier also
  sees the codebook latents of the part(s) guiding it (:data:`GUIDES`): the body is guided by
  the face, the legs and the hands by the upper body. Training feeds the latents of the true
  indices (teacher forcing, no gradient into the guide); generation feeds what was just drawn.
* **Phase** (HIP's periodic part): a periodic autoencoder (:mod:`egg_core.model.phase`, trained
  by ``training`` on the body's joint velocities) gives every frame a phase-manifold point;
  a small head predicts it from speech, and the body and hand classifiers are conditioned on
  it, so the rhythm comes from the phase while the non-periodic rest comes from the codes
  ("non-period ones from current latent states"). Training conditions them on the true
  manifold with probability ``phase_teacher`` and on the (detached) prediction otherwise, so
  generation, which only has the prediction, is not a different regime.

* **Face detail**: a token spans ``downsample`` frames (267 ms at 15 fps), longer than a
  syllable, so codes alone cannot open the jaw on each syllable (on a real take the face
  VQ-VAE's reconstruction kept a jaw-loudness correlation of 0.04 where the take has 0.29). A
  per-frame head on the speech encodings (before pooling) therefore gives the **jaw** itself --
  articulation follows the voice, so it is regressed from speech frame by frame, as EMAGE and
  TalkSHOW regress their faces -- and adds to the decoded **expressions** what the true codes'
  reconstruction misses. Both with a squared error: an L1 residual head learned the median,
  which for the jaw is almost zero (measured: output spread 0.015 of the jaw's, so the sampled
  codes' jaw, unrelated to the speech, dominated and the correlation stayed at -0.01).

The objective per part is the single-part one (L1 reconstruction + velocity, commitment,
entropy) and the bounded eq. 11 schedule of :class:`EGGesture`; the phase head's MSE joins the
classification group. Switching ``cascade`` and ``phase`` off gives the ablation's "parts
without cascade" model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from egg_core.model.classifier import IndexClassifier, sample_indices
from egg_core.model.eggesture import EGGesture, EGGestureConfig, speech_condition
from egg_core.model.parts import BODY_PARTS, LAYOUTS, check_parts, feature_dim, part_slices
from egg_core.model.quantizer import EntropyGuidedQuantizer, reweight_weights
from egg_core.model.vqvae import MotionDecoder, MotionEncoder

#: Which parts guide which in the cascade (HIP: face -> body -> hands).
GUIDES: dict[str, tuple[str, ...]] = {"face": (), "upper": ("face",), "lower": ("upper",),
                                      "hands": ("upper",)}
#: Parts whose classifiers see the phase manifold (HIP: body and hands).
PHASED = ("upper", "lower", "hands")
#: The face part's first channels: the jaw's rotation (rot6d); the expressions follow.
JAW_CHANNELS = 6
#: Standardisation floor: a channel that hardly moves in the data is not blown up to unit spread.
SCALE_FLOOR = 0.01


@dataclass
class HIPConfig(EGGestureConfig):
    """:class:`EGGestureConfig` plus the whole-body switches; the sizes apply to every part."""

    parts: str = ",".join(BODY_PARTS)
    cascade: bool = True
    phase: bool = True
    phase_channels: int = 5  # PAE channels; the manifold has 2 per channel
    phase_teacher: float = 0.5
    phase_weight: float = 1.0
    face_detail: bool = True  # the per-frame face residual from speech (module docstring)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_parts(self.part_names)
        if self.phase and self.phase_channels < 1:
            raise ValueError("phase_channels must be positive")
        if not 0.0 <= self.phase_teacher <= 1.0:
            raise ValueError("phase_teacher must be in [0, 1]")

    @property
    def part_names(self) -> tuple[str, ...]:
        return check_parts(tuple(p.strip() for p in self.parts.split(",") if p.strip()))

    @property
    def motion_dim(self) -> int:
        return feature_dim(self.part_names)

    @property
    def phase_dim(self) -> int:
        return 2 * self.phase_channels if self.phase else 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HIPConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        data = dict(data)
        data.setdefault("face_detail", False)  # written before the face head existed
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown}")
        return cls(**data)


def with_face_detail(face: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
    """Decoded face ``(..., 106)`` with the jaw taken from ``detail`` and its expression
    residual added (both standardised)."""
    return torch.cat([detail[..., :JAW_CHANNELS], face[..., JAW_CHANNELS:] + detail[..., JAW_CHANNELS:]], dim=-1)


class PartVQ(nn.Module):
    """One part's VQ-VAE: encoder, entropy-guided quantizer, decoder (standardised features)."""

    def __init__(self, dim: int, cfg: HIPConfig) -> None:
        super().__init__()
        stages = int(math.log2(cfg.downsample))
        self.encoder = MotionEncoder(dim, cfg.vq_channels, cfg.code_dim, cfg.vq_depth, stages)
        self.decoder = MotionDecoder(dim, cfg.vq_channels, cfg.code_dim, cfg.vq_depth, stages)
        self.quantizer = EntropyGuidedQuantizer(
            cfg.codebook_size, cfg.code_dim, beta=cfg.beta, tau=cfg.tau, gumbel=cfg.gumbel,
            ema_alpha=cfg.ema_alpha, cosine_temperature=cfg.cosine_temperature,
            data_init=cfg.codebook_data_init, similarity=cfg.similarity,
            l2_temperature=cfg.l2_temperature, normalize=cfg.normalize_latents)


class HIPGesture(nn.Module):
    """Whole-body model: part VQ-VAEs, shared speech encoders, cascaded classifiers, phase head."""

    KIND = "hip"

    def __init__(self, config: HIPConfig | None = None) -> None:
        super().__init__()
        cfg = config or HIPConfig()
        self.config = cfg
        self.parts = cfg.part_names
        self.slices = part_slices(self.parts)
        # the shared speech encoders, built exactly as the single-part model builds them
        speech = EGGesture.speech_encoders(cfg)
        self.audio_encoder, self.text_encoder = speech
        speech_dim = cfg.audio_dim + cfg.text_dim
        self.vq = nn.ModuleDict({p: PartVQ(LAYOUTS[p].dim, cfg) for p in self.parts})
        self.guides = {p: (tuple(g for g in GUIDES[p] if g in self.parts) if cfg.cascade else ())
                       for p in self.parts}
        self.phase_head = (nn.Sequential(nn.Linear(speech_dim, cfg.cls_dim), nn.GELU(),
                                         nn.Linear(cfg.cls_dim, cfg.phase_dim)) if cfg.phase else None)
        self.classifiers = nn.ModuleDict({
            p: IndexClassifier(cfg.codebook_size, speech_dim + cfg.code_dim * len(self.guides[p])
                               + (cfg.phase_dim if p in PHASED else 0), cfg.cls_dim, cfg.cls_layers,
                               cfg.cls_heads, cfg.window_tokens, cfg.dropout)
            for p in self.parts})
        self.face_head = (nn.Sequential(nn.Linear(speech_dim, cfg.cls_dim), nn.GELU(),
                                        nn.Linear(cfg.cls_dim, LAYOUTS["face"].dim))
                          if cfg.face_detail and "face" in self.parts else None)
        self.register_buffer("feature_mean", torch.zeros(cfg.motion_dim))
        self.register_buffer("feature_scale", torch.ones(cfg.motion_dim))

    # --- standardisation ---------------------------------------------------------------------
    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Record the training data's per-channel mean and spread (floored at :data:`SCALE_FLOOR`)."""
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_scale.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(SCALE_FLOOR))

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_scale

    def unstandardise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.feature_scale + self.feature_mean

    # --- VQ-VAE ------------------------------------------------------------------------------
    def vq_modules(self) -> list[nn.Module]:
        """The modules trained by the VQ group of the objective (gradient clipping groups)."""
        return list(self.vq.values())

    def quantizers(self) -> list[EntropyGuidedQuantizer]:
        return [v.quantizer for v in self.vq.values()]

    def encode_indices(self, features: torch.Tensor) -> torch.Tensor:
        """Whole-body features ``(B, T, D)`` -> indices ``(B, P, T/ds)``, parts in cascade order."""
        x = self.standardise(features)
        return torch.stack([self.vq[p].quantizer.nearest(self.vq[p].encoder(x[..., self.slices[p]]))
                            for p in self.parts], dim=1)

    def decode_indices(self, indices: torch.Tensor, detail: torch.Tensor | None = None) -> torch.Tensor:
        """Indices ``(B, P, N)`` -> whole-body features ``(B, N*ds, D)`` (in data units);
        ``detail`` (:meth:`speech_detail`) gives the standardised jaw and adds to the expressions."""
        ys = [self.vq[p].decoder(self.vq[p].quantizer.lookup(indices[:, k])) for k, p in enumerate(self.parts)]
        if detail is not None and "face" in self.parts:
            k = self.parts.index("face")
            ys[k] = with_face_detail(ys[k], detail)
        return self.unstandardise(torch.cat(ys, dim=-1))

    def speech_detail(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor | None:
        """Per frame ``(B, T, face dim)``, standardised: the jaw (its 6 channels) and the
        expressions' residual, from speech; None without the face head."""
        if self.face_head is None:
            return None
        return self.face_head(torch.cat([self.audio_encoder(audio), self.text_encoder(text)], dim=-1))

    # --- speech -> indices ------------------------------------------------------------------
    def condition(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Audio+text encodings at token rate ``(B, N, da+dt)`` (as :meth:`EGGesture.condition`)."""
        return speech_condition(self.audio_encoder, self.text_encoder, audio, text, self.config.downsample)

    def predict_phase(self, cond: torch.Tensor) -> torch.Tensor | None:
        """Phase-manifold points ``(B, N, 2C)`` predicted from the speech conditioning."""
        return None if self.phase_head is None else self.phase_head(cond)

    def _part_condition(self, part: str, cond: torch.Tensor, latents: dict[str, torch.Tensor],
                        phase: torch.Tensor | None) -> torch.Tensor:
        extra = [latents[g] for g in self.guides[part]]
        if phase is not None and part in PHASED:
            extra.append(phase)
        return torch.cat([cond, *extra], dim=-1) if extra else cond

    @torch.no_grad()
    def sample_window(self, cond: torch.Tensor, seed: torch.Tensor | None, temperature: float,
                      top_k: int | None, generator: torch.Generator | None) -> torch.Tensor:
        """Indices ``(B, P, N)`` for conditioning ``(B, N, C)``, part after part down the cascade;
        ``seed`` ``(B, P, S)`` (the previous window's last tokens) is kept as given."""
        phase = self.predict_phase(cond)
        latents: dict[str, torch.Tensor] = {}
        out = []
        for k, p in enumerate(self.parts):
            s = None if seed is None else seed[:, k]
            logits = self.classifiers[p](self._part_condition(p, cond, latents, phase), s)
            idx = sample_indices(logits, temperature, top_k, generator)
            if s is not None and s.shape[-1] > 0:
                idx[:, : s.shape[-1]] = s
            latents[p] = self.vq[p].quantizer.lookup(idx)
            out.append(idx)
        return torch.stack(out, dim=1)

    # --- objective ---------------------------------------------------------------------------
    def loss_weights(self, epoch: int) -> tuple[float, float]:
        cfg = self.config
        if not cfg.joint_training:
            return (1.0, 0.0) if epoch < cfg.vq_epochs else (0.0, 1.0)
        return 1.0, min((epoch + 1) / cfg.gamma, 1.0)

    def class_weights(self, part: str) -> torch.Tensor | None:
        cfg = self.config
        if cfg.reweight == "none":
            return None
        q = self.vq[part].quantizer
        usage = q.usage_probabilities() if cfg.reweight_source == "soft" else q.hard_usage_ema
        return reweight_weights(usage, cfg.reweight, cfg.reweight_clip)

    def losses(self, batch: dict[str, torch.Tensor], epoch: int) -> dict[str, torch.Tensor]:
        """Every term of every part (means over parts under the single-part names, plus
        ``rec_<part>`` and ``phase``). ``batch``: ``motion`` ``(B, T, D)`` whole-body features,
        ``audio``, ``text``, and ``phase`` ``(B, T, 2C)`` when the model uses phase."""
        cfg = self.config
        x = self.standardise(batch["motion"])
        audio, text = batch["audio"], batch["text"]
        w_vq, w_cls = self.loss_weights(epoch)
        zero = x.new_zeros(())
        out: dict[str, torch.Tensor] = {}
        recs, commits, ents, ent_norms, usages, perps, indices = [], [], [], [], [], [], {}
        face_recon = None
        for p in self.parts:
            part = self.vq[p]
            target = x[..., self.slices[p]]
            if w_vq > 0:
                q = part.quantizer(part.encoder(target))
                recon = part.decoder(q.quantized)
                rec = F.l1_loss(recon, target)
                if p == "face":
                    face_recon = recon.detach()
                if cfg.rec_velocity_weight > 0:
                    rec = rec + cfg.rec_velocity_weight * F.l1_loss(recon.diff(dim=1), target.diff(dim=1))
                commits.append(q.commit)
            else:
                with torch.no_grad():
                    q = part.quantizer(part.encoder(target))
                rec = zero
                commits.append(zero)
            out[f"rec_{p}"] = rec.detach()
            recs.append(rec)
            ents.append(q.entropy_loss)
            ent_norms.append((q.entropy / math.log(cfg.codebook_size)).detach())
            usages.append(q.usage)
            perps.append(q.perplexity)
            indices[p] = q.indices.detach()
        rec_t, commit_t, ent_t = torch.stack(recs).sum(), torch.stack(commits).sum(), torch.stack(ents).sum()
        vq_total = rec_t + commit_t + (cfg.entropy_weight if cfg.entropy else 0.0) * ent_t
        if w_vq == 0:
            vq_total = zero

        if w_cls > 0:
            cls, acc, phase_loss = self._classification(audio, text, batch.get("phase"), indices)
            detail_loss = self._detail_loss(audio, text, x, face_recon, indices)
        else:
            cls, acc, phase_loss, detail_loss = zero, zero, zero, zero
        total = w_vq * vq_total + w_cls * (cls + cfg.phase_weight * phase_loss + detail_loss)
        n = len(self.parts)
        out.update({
            "rec": rec_t / n, "commit": commit_t / n, "entropy": ent_t / n, "cls": cls, "total": total,
            "entropy_norm": torch.stack(ent_norms).mean(), "usage": torch.stack(usages).float().mean(),
            "perplexity": torch.stack(perps).float().mean(), "cls_acc": acc, "phase": phase_loss.detach(),
            "face_detail": detail_loss.detach(),
            "w_cls": x.new_tensor(w_cls),
        })
        return out

    def _detail_loss(self, audio: torch.Tensor, text: torch.Tensor, x: torch.Tensor,
                     face_recon: torch.Tensor | None, indices: dict[str, torch.Tensor]) -> torch.Tensor:
        """Squared error of the face head: the true jaw, and what the true codes' reconstruction
        of the expressions misses."""
        if self.face_head is None:
            return x.new_zeros(())
        target = x[..., self.slices["face"]]
        if face_recon is None:  # VQ frozen (two-stage recipe): decode the true codes here
            with torch.no_grad():
                face = self.vq["face"]
                face_recon = face.decoder(face.quantizer.lookup(indices["face"]))
        if self.training and self.config.text_dropout > 0:
            text = EGGesture._withhold_words(text, self.config.text_dropout)
        predicted = self.speech_detail(audio, text)
        jaw = JAW_CHANNELS
        return (F.mse_loss(predicted[..., :jaw], target[..., :jaw])
                + F.mse_loss(predicted[..., jaw:], target[..., jaw:] - face_recon[..., jaw:]))

    def _classification(self, audio: torch.Tensor, text: torch.Tensor, phase_frames: torch.Tensor | None,
                        indices: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean reweighted NLL over parts (eq. 10, teacher-forced cascade) and the phase MSE."""
        cfg = self.config
        if self.training and cfg.text_dropout > 0:
            text = EGGesture._withhold_words(text, cfg.text_dropout)
        cond = self.condition(audio, text)
        zero = cond.new_zeros(())
        phase, phase_loss = None, zero
        if self.phase_head is not None:
            if phase_frames is None:
                raise ValueError("this model is conditioned on phase: the batch needs 'phase' (B, T, 2C)")
            b, t, c = phase_frames.shape
            truth = phase_frames.reshape(b, t // cfg.downsample, cfg.downsample, c).mean(2)
            predicted = self.phase_head(cond)
            phase_loss = F.mse_loss(predicted, truth)
            teach = torch.rand(b, 1, 1, device=cond.device) < (cfg.phase_teacher if self.training else 0.0)
            phase = torch.where(teach, truth, predicted.detach())
        s = cfg.seed_tokens
        use_seed = s > 0 and (not self.training or float(torch.rand(())) >= cfg.seed_drop)
        start = s if use_seed else 0
        latents = {p: self.vq[p].quantizer.lookup(indices[p]).detach() for p in self.parts}
        losses, accs = [], []
        for p in self.parts:
            seed = indices[p][:, :s] if use_seed else None
            logits = self.classifiers[p](self._part_condition(p, cond, latents, phase), seed)[:, start:]
            target = indices[p][:, start:]
            weights = self.class_weights(p)
            losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                          weight=None if weights is None else weights.to(logits.device)))
            accs.append((logits.argmax(-1) == target).float().mean().detach())
        return torch.stack(losses).mean(), torch.stack(accs).mean(), phase_loss
