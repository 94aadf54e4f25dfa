"""The bundled default model: it loads, it gestures, it is small, and its model card is honest.

The generation tests need only the repository. The tests that re-measure the model card's
figures need the reference recordings in ``../shared/data`` and skip without them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from egg_core.checkpoint import default_checkpoint_path, load_checkpoint
from egg_core.inference import GestureGenerator
from egg_core.model.representation import joint_indices
from egg_core.skeleton import SMPLX_JOINT_NAMES, relaxed_pose

torch.set_num_threads(1)
SR = 16000
MAX_BYTES = 50 * 1024 * 1024


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts with a syllable-like 4 Hz envelope and pauses (a cheap stand-in for speech)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    env = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    env *= (np.sin(2 * np.pi * 0.3 * t) > -0.5)  # pauses between "phrases"
    return (0.2 * env * rng.normal(0, 1, len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def bundled() -> tuple[object, dict]:
    path = default_checkpoint_path()
    assert path.is_file(), f"the bundled default model is missing at {path}"
    return load_checkpoint(path, "cpu")


def test_bundled_model_is_small_and_documented(bundled: tuple[object, dict]) -> None:
    path = default_checkpoint_path()
    size = path.stat().st_size + path.with_suffix(".json").stat().st_size
    assert size <= MAX_BYTES
    _, meta = bundled
    card = meta["default_model"]
    assert "training.train" in card["command"] and card["train_seconds"] > 0
    assert card["version"] == 3 and "BEAT2" in card["dataset_terms"]
    # the whole-body recipe docs/WHOLE_BODY.md chose: every part, the cascade, no phase guidance
    assert meta["model"] == "hip" and meta["config"]["cascade"] and not meta["config"]["phase"]
    # the cross-take estimate of its recipe: every figure of both directions, and their mean
    cross = card["metrics"]["cross_take"]
    for key in ("frechet", "wrist_height_mean", "l1div", "bc", "seam_ratio", "jaw_loudness",
                "expression_mse", "foot_skating"):
        assert len(cross[key]["per_direction"]) == 2 and math.isfinite(cross[key]["mean"])
    # its posture (the joints it does not generate) and its generation temperature are recorded
    assert np.asarray(meta["posture"]).shape == (55, 3)
    assert meta["generation"]["temperature"] == pytest.approx(0.4)
    card_text = (Path(__file__).resolve().parents[1] / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "BEAT2" in card_text and "terms" in card_text


def test_bundled_model_generates_moving_finite_motion(bundled: tuple[object, dict]) -> None:
    model, meta = bundled
    gen = GestureGenerator(model, meta, "cpu")
    motion = gen.generate(_speechlike(6.0), SR, fps=30.0, seed=0)
    assert motion.poses.shape == (180, 55, 3) and motion.fps == 30.0
    assert np.isfinite(motion.poses).all() and np.isfinite(motion.trans).all()
    idx = list(joint_indices(model.config.joint_set))
    arms = motion.poses[:, idx]
    # it moves: the gesture joints change over time by a visible amount (radians)
    assert float(np.abs(np.diff(arms, axis=0)).sum(axis=(1, 2)).mean()) > 1e-3
    assert float(arms.std(axis=0).max()) > 0.02
    # and stays a plausible pose: no joint rotated by more than ~pi from the relaxed pose
    assert float(np.linalg.norm(arms - relaxed_pose()[idx], axis=-1).max()) < math.pi + 1e-3
    # the whole body moves: the jaw opens and closes, the face changes, the legs and root move
    jaw = motion.poses[:, SMPLX_JOINT_NAMES.index("jaw")]
    assert float(np.linalg.norm(jaw - jaw.mean(axis=0), axis=-1).std()) > 1e-3
    assert motion.expressions is not None and float(motion.expressions.std(axis=0).max()) > 0.05
    legs = motion.poses[:, [SMPLX_JOINT_NAMES.index(n) for n in ("left_hip", "right_hip", "left_knee", "right_knee")]]
    assert float(legs.std(axis=0).max()) > 0.005
    assert float(np.ptp(motion.trans[:, [0, 2]], axis=0).max()) > 0.005
    # deterministic for a seed
    again = gen.generate(_speechlike(6.0), SR, fps=30.0, seed=0)
    assert np.array_equal(again.poses, motion.poses)


def test_evaluate_runs_on_bundled_model(tmp_path: Path, bundled: tuple[object, dict]) -> None:
    """training.evaluate on the bundled model with a tiny made-up clip (no reference data needed)."""
    from training.evaluate import evaluate, speech_metrics
    from training.minidata import write_folder_tree

    data = write_folder_tree(tmp_path / "data", n_clips=1, seconds=10.0, seed=3)
    res = evaluate(default_checkpoint_path(), data, split=None, fmt="folder", device="cpu",
                   cache_dir=tmp_path / "cache", progress=False)
    m = res["metrics"]
    assert math.isfinite(m["bc"]) and math.isfinite(m["l1div"]) and m["l1div"] > 0
    assert 0 < m["codebook_usage"] <= 1
    speech = tmp_path / "speech"
    speech.mkdir()
    import soundfile as sf

    sf.write(speech / "a.wav", _speechlike(5.0, seed=1), SR)
    sp = speech_metrics(default_checkpoint_path(), speech, mean_vel=None if
                        (default_checkpoint_path().parent / "mean_vel.npy").is_file() else _write_ones(tmp_path),
                        device="cpu", progress=False)
    assert math.isfinite(sp["bc"]) and sp["l1div"] > 0


def _write_ones(tmp_path: Path) -> Path:
    p = tmp_path / "mean_vel.npy"
    np.save(p, np.ones(55, np.float32))
    return p


@pytest.mark.timeout(300)
def test_model_card_figures_reproduce(tmp_path: Path, beat2_take: Path, beat2_mean_vel: Path,
                                      real_speech_files: list[Path]) -> None:
    """Re-measure BC on the real speech (reference data; skipped without ../shared).

    BC on ``../shared/data/real/speech`` needs no evaluator training, so it is cheap enough to
    re-measure here; the figure must match the card's within noise (the same seed gives the
    same motion, so the tolerance only covers floating-point differences across machines).
    """
    from training.evaluate import speech_metrics

    _, meta = load_checkpoint(default_checkpoint_path(), "cpu")
    card = meta["default_model"]["metrics"]["speech"]
    speech_dir = real_speech_files[0].parent
    sp = speech_metrics(default_checkpoint_path(), speech_dir, mean_vel=beat2_mean_vel, device="cpu",
                        seed=0, temperature=meta["generation"]["temperature"], progress=False)
    assert sp["files"] == card["files"]
    assert abs(sp["bc"] - card["bc"]) < 0.02
    assert abs(sp["l1div"] - card["l1div"]) / card["l1div"] < 0.05
    json.dumps(sp)  # JSON-serialisable, as the CLI writes it
