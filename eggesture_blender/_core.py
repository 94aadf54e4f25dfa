"""Where the add-on finds egg_core: the vendored copy in the extension, else the checkout.

The built extension (see build.py) carries its own copy of egg_core at
``eggesture_blender/vendor/egg_core`` with every ``egg_core`` import rewritten to a
relative one, so it is imported relatively and never collides with another copy on
``sys.path``. In a source checkout (tests, ``python eggesture_blender/batch.py``)
there is no vendor folder and the installed ``egg_core`` package is used instead.

Only numpy-level modules (rotations, skeleton, motion) are imported on Blender's main
thread; the model code (torch) is only imported by the generation backend.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import ModuleType

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"


@functools.lru_cache(maxsize=1)
def has_vendored_core() -> bool:
    """True inside a built extension that carries its own egg_core."""
    return (VENDOR_DIR / "egg_core" / "__init__.py").is_file()


def core(module: str = "") -> ModuleType:
    """Import ``egg_core.<module>`` (``core("skeleton")``) from the vendored copy if present."""
    suffix = f".{module}" if module else ""
    if has_vendored_core():
        return importlib.import_module(f".vendor.egg_core{suffix}", __package__)
    return importlib.import_module(f"egg_core{suffix}")


def core_root() -> Path:
    """The folder that *contains* the egg_core package used by this add-on.

    The external worker puts this folder first on its ``sys.path`` so it runs exactly
    the egg_core the add-on was built with.
    """
    if has_vendored_core():
        return VENDOR_DIR
    return Path(importlib.import_module("egg_core").__file__).resolve().parent.parent
