"""The working folder of the study drivers (:mod:`training.ablation`, :mod:`training.default_model`).

Why one place: both write data derived from the shared recordings, which must never land in
the repository (and so never be committed); the rule is checked here once.
"""

from __future__ import annotations

from pathlib import Path

from egg_core.errors import EggError

REPO = Path(__file__).resolve().parents[1]


def prepare_work_dir(path: str | Path) -> Path:
    """``path`` resolved and created; an :class:`EggError` when it is inside the repository."""
    work = Path(path).resolve()
    if work == REPO or REPO in work.parents:
        raise EggError("--work must be outside the repository (the data must never be committed)")
    work.mkdir(parents=True, exist_ok=True)
    return work
