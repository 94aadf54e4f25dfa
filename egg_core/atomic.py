"""Safe file writing for every writer in the project: no silent overwrite, no half-written files.

A writer first calls :func:`check_target` (refuses an existing file unless asked to
overwrite), then :func:`atomic_write` (content written to a handle) or :func:`atomic_path`
(a library that wants a file name: safetensors, soundfile, ffmpeg, torch.save). Both write
a temporary file in the target's folder and rename it over the target only once the
content is complete, so a crash, Ctrl-C or a full disk never leaves a truncated motion file,
checkpoint or cache entry behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from egg_core.errors import EggError


class OutputExistsError(EggError, FileExistsError):
    """The output file exists and the caller did not ask to overwrite it."""


class DiskFullError(EggError, OSError):
    """The disk filled up while a file was written; nothing was replaced."""


#: Below this many free bytes a failed write is taken to be the disk filling up: libraries
#: report a full disk in their own words ("seek of closed file", "unexpected pos").
_NEARLY_FULL_BYTES = 1 << 20


def _exists_message(target: Path) -> str:
    return (f"{target} already exists; choose another name or allow overwriting "
            "(--overwrite on the command line, overwrite=True in Python).")


def check_target(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """``path`` as a Path, or an :class:`EggError` saying why it cannot be written.

    Refused: a folder, an existing file without ``overwrite``, a read-only file even with
    ``overwrite`` (the user protected it), a missing folder, a folder this process cannot
    write to. Called before any slow work, so a mistake costs nothing.
    """
    target = Path(path)
    if target.is_dir():
        raise EggError(f"Cannot write to {target}: it is a folder; give a file name.")
    if target.exists() and not overwrite:
        raise OutputExistsError(_exists_message(target))
    if target.exists() and not os.access(target, os.W_OK):
        raise EggError(f"{target} is read-only, so it is not replaced even with --overwrite; "
                       "make it writable or choose another name.")
    parent = target.parent
    if not parent.exists():
        raise EggError(f"Cannot write {target}: the folder {parent} does not exist.")
    if not parent.is_dir():
        raise EggError(f"Cannot write {target}: {parent} is a file, not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EggError(f"Cannot write {target}: the folder {parent} is not writable (permission "
                       "denied); choose another folder or change its permissions.")
    return target


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _is_disk_full(exc: BaseException, folder: Path) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        e = e.__cause__ or e.__context__
    free = _free_bytes(folder)
    return free is not None and free < _NEARLY_FULL_BYTES and isinstance(exc, Exception)


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """Move the finished ``tmp`` to ``target``; without ``overwrite`` never replace a file.

    Exclusive publication is a hard link, which fails if ``target`` appeared meanwhile (two
    runs writing the same output); where links are not supported, an exclusive create of
    the name reserves it first.
    """
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExistsError(_exists_message(target) + " (it was created while this one was "
                                "being written)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise OutputExistsError(_exists_message(target)) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp",
                overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary file name beside ``path``; on success move it to ``path``.

    ``suffix`` matters to writers that pick the format from the extension (e.g. ``.wav``,
    ``.gif``). With ``overwrite=False`` an existing ``path`` is never replaced, even one that
    appeared while writing (:class:`OutputExistsError`). On any exception the temporary file
    is removed and ``path`` is untouched; a full disk becomes :class:`DiskFullError`.
    """
    target = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    except PermissionError:
        raise EggError(f"Cannot write {target}: the folder {target.parent} is not writable "
                       "(permission denied).") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes 0o600; outputs are ordinary shareable files
        _publish(tmp, target, overwrite)
    except EggError:
        tmp.unlink(missing_ok=True)
        raise
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if _is_disk_full(exc, target.parent):
            raise DiskFullError(f"No space left on device writing {target}; free some space (or "
                                "write elsewhere) and run again. Nothing was overwritten.") from exc
        raise


def atomic_write(path: Path, write: Callable[[BinaryIO], None], overwrite: bool = True) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then move it to ``path``."""
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
