"""Fixtures shared by the tests that run the add-on on the bpy wheel.

A module of its own (not conftest.py) because it needs bpy and torch, which the Blender 4.2
test environment or a plain install may lack; test modules import it after their skips.
"""

from __future__ import annotations

from pathlib import Path

import addon_utils
import bpy
import pytest
import torch

from egg_core.checkpoint import save_checkpoint
from egg_core.model.eggesture import EGGesture, EGGestureConfig


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny model: the add-on tests check plumbing, not gesture quality."""
    torch.set_num_threads(1)  # the tiny model gains nothing from threads; the CPU is shared
    torch.manual_seed(0)
    return save_checkpoint(EGGesture(EGGestureConfig.tiny(text_encoder="hashed")),
                           tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def addon(tiny_checkpoint: Path):
    """The add-on enabled as Blender enables it, its preferences pointing at the tiny model."""
    addon_utils.enable("eggesture_blender", default_set=True)
    prefs = bpy.context.preferences.addons["eggesture_blender"].preferences
    prefs.checkpoint_path = str(tiny_checkpoint)
    yield prefs
    addon_utils.disable("eggesture_blender", default_set=True)
