"""Safe file writing shared by the motion writers: no silent overwrite, no half-written files.

A writer first calls :func:`check_target` (refuses an existing file unless asked to
overwrite), then :func:`atomic_write`, which writes into a temporary file in the
target's folder and renames it over the target only once the content is complete, so
a crash or a full disk never leaves a truncated motion file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from egg_core.errors import EggError


class OutputExistsError(EggError, FileExistsError):
    """The output file exists and the caller did not ask to overwrite it."""


def check_target(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Return ``path`` as a Path; raise OutputExistsError if it exists and ``overwrite`` is False."""
    target = Path(path)
    if target.is_dir():
        raise EggError(f"Cannot write to {target}: it is a folder; give a file name.")
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{target} already exists; choose another name or pass overwrite=True to replace it."
        )
    if not target.parent.exists():
        raise EggError(f"Cannot write {target}: the folder {target.parent} does not exist.")
    return target


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0o600; motion files are ordinary files
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise

