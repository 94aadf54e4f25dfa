"""Checkpoint save/load: round trip, metadata, refusal to overwrite, corrupt and incompatible files, devices."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from egg_core.checkpoint import (
    FORMAT_VERSION,
    default_checkpoint_path,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)
from egg_core.errors import CheckpointError, DeviceError
from egg_core.model.eggesture import EGGesture, EGGestureConfig

torch.set_num_threads(1)


@pytest.fixture
def model() -> EGGesture:
    torch.manual_seed(0)
    m = EGGesture(EGGestureConfig.tiny(codebook_size=24, reweight="sqrt"))
    m.quantizer.usage_ema.copy_(torch.softmax(torch.randn(24), 0))  # a buffer worth keeping
    return m.eval()


def _probe(m: EGGesture) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    cfg = m.config
    audio = torch.randn(1, cfg.window_frames, cfg.audio_feature_dim, generator=g)
    text = torch.zeros(1, cfg.window_frames, cfg.text_feature_dim)
    text[..., -1] = 1
    with torch.no_grad():
        return m.decode_indices(m.generate_indices(audio, text, temperature=0.0))


def test_round_trip_weights_buffers_config_metadata(model: EGGesture, tmp_path: Path) -> None:
    meta = {"training_data": "BEAT2 speaker 2 (test)", "metrics": {"fgd": 1.5}, "features": {"note": "x"}}
    path = save_checkpoint(model, tmp_path / "m.safetensors", meta)
    assert path.exists() and path.with_suffix(".json").exists()
    loaded, info = load_checkpoint(path, device="cpu")
    assert loaded.config == model.config
    assert torch.equal(loaded.quantizer.usage_ema, model.quantizer.usage_ema)
    assert torch.equal(_probe(loaded), _probe(model))
    assert info["training_data"] == "BEAT2 speaker 2 (test)" and info["metrics"] == {"fgd": 1.5}
    assert info["format_version"] == FORMAT_VERSION and info["skeleton"] == "smplx"
    assert info["joint_set"] == "gesture" and info["fps"] == 15.0
    assert info["features"]["text_encoder"] in ("minilm", "hashed") and info["features"]["note"] == "x"
    assert not loaded.training
    doc = json.loads(path.with_suffix(".json").read_text())
    assert doc["format"] == "eggesture-checkpoint" and doc["config"]["codebook_size"] == 24
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_refuses_overwrite(model: EGGesture, tmp_path: Path) -> None:
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="already exists"):
        save_checkpoint(model, path)
    save_checkpoint(model, path, {"training_data": "again"}, overwrite=True)
    assert load_checkpoint(path, "cpu")[1]["training_data"] == "again"


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors", "cpu")


def test_corrupt_weights(model: EGGesture, tmp_path: Path) -> None:
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path, "cpu")
    path.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(path, "cpu")


def test_corrupt_or_foreign_sidecar(model: EGGesture, tmp_path: Path) -> None:
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    side = path.with_suffix(".json")
    good = json.loads(side.read_text())
    side.write_text("{ not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path, "cpu")
    side.write_text(json.dumps({**good, "format": "something-else"}))
    with pytest.raises(CheckpointError, match="not an EGGesture checkpoint"):
        load_checkpoint(path, "cpu")
    side.write_text(json.dumps({**good, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(CheckpointError, match="not supported"):
        load_checkpoint(path, "cpu")
    side.write_text(json.dumps({**good, "config": {**good["config"], "codebook_size": 99}}))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path, "cpu")
    side.write_text(json.dumps({**good, "config": {**good["config"], "future_knob": 1}}))
    with pytest.raises(CheckpointError, match="incompatible configuration"):
        load_checkpoint(path, "cpu")


def test_sidecar_missing_falls_back_to_header(model: EGGesture, tmp_path: Path) -> None:
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    os.remove(path.with_suffix(".json"))
    loaded, info = load_checkpoint(path, "cpu")
    assert loaded.config == model.config and info["skeleton"] == "smplx"


def test_foreign_safetensors_without_metadata(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(CheckpointError, match="not an EGGesture checkpoint"):
        load_checkpoint(path, "cpu")


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA was requested"):
            resolve_device("cuda")


def test_default_checkpoint_path_is_in_package_assets() -> None:
    p = default_checkpoint_path()
    assert p.parent.name == "assets" and p.parent.parent.name == "egg_core" and p.suffix == ".safetensors"
