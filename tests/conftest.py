"""Shared test fixtures: where the reference recordings live, and skips when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
BEAT2_TAKE = SHARED_DATA / "real" / "beat2" / "2_scott_0_1_1.npz"
BEAT2_WAV = SHARED_DATA / "real" / "beat2" / "2_scott_0_1_1.wav"
BEAT2_MEAN_VEL = SHARED_DATA / "real" / "beat2" / "mean_vel_smplxflame_30.npy"
SPEECH_DIR = SHARED_DATA / "real" / "speech"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (clone with ../shared beside the repo to run this test)")
    return path


@pytest.fixture
def beat2_take() -> Path:
    return _require(BEAT2_TAKE)


@pytest.fixture
def beat2_wav() -> Path:
    return _require(BEAT2_WAV)


@pytest.fixture
def beat2_mean_vel() -> Path:
    return _require(BEAT2_MEAN_VEL)


@pytest.fixture
def real_speech_files() -> list[Path]:
    _require(SPEECH_DIR)
    return sorted(SPEECH_DIR.glob("*.wav")) + [_require(BEAT2_WAV)]
