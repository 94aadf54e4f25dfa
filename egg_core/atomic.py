"""Safe file writing for every writer in the project: no silent overwrite, no half-written files.

A writer first calls :func:`check_target` (refuses an existing file unless asked to
overwrite), then :func:`atomic_write` (content written to a handle) or :func:`atomic_path`
(a library that wants a file name: safetensors, soundfile, ffmpeg, torch.save). Both write
a temporary file in the target's folder and rename it over the target only once the
content is complete, so a crash, Ctrl-C or a full disk never leaves a truncated motion file,
checkpoint or cache entry behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
            f"{target} already exists; choose another name or allow overwriting "
            "(--overwrite on the command line, overwrite=True in Python)."
        )
    if not target.parent.exists():
        raise EggError(f"Cannot write {target}: the folder {target.parent} does not exist.")
    return target


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary file name beside ``path``; on success rename it to ``path``.

    ``suffix`` matters to writers that pick the format from the extension (e.g. ``.wav``,
    ``.gif``). On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp_name)
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0o600; outputs are ordinary shareable files
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
