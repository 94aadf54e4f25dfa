"""What every command-line tool of the project shares: exit codes, messages, error handling.

Why: a user mistake must end as one ``error: ...`` line and exit status 2 in every tool,
progress and notes go to stderr so stdout stays clean for results, and ``--quiet`` must
silence the same things everywhere. Each CLI's ``main`` is therefore
``return run_cli(lambda: work(args), quiet=args.quiet)`` and reports through
``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable

from egg_core.errors import EggError

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

_HANDLER_NAME = "eggesture-cli"


class _CliFormatter(logging.Formatter):
    """Plain message for information; ``warning:`` / ``error:`` prefixes otherwise."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        return message


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it once; the property ignores it
        pass


def configure_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Send the project's log records to stderr (once per process, level set each call).

    ``quiet`` keeps warnings and errors only; ``verbose`` adds debug records. Libraries
    used by the project (transformers, faster-whisper) keep their own loggers' levels,
    except that ``quiet`` lowers theirs to errors too, so no loading bars or notes appear.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(_CliFormatter("%(message)s"))
        root.addHandler(handler)
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    for name in ("egg_core", "training", "eggesture_blender", "__main__"):
        logging.getLogger(name).setLevel(level)
    root.setLevel(logging.WARNING)
    if quiet:
        for name in ("transformers", "faster_whisper", "huggingface_hub"):
            logging.getLogger(name).setLevel(logging.ERROR)
        _silence_library_progress_bars()


def _silence_library_progress_bars() -> None:
    """No "Loading weights" bars from transformers / huggingface_hub under ``--quiet``.

    Both read the switch when they are imported, which is usually later (the text model
    loads lazily); if they are already loaded they are switched off directly.
    """
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        importlib.import_module("huggingface_hub.utils").disable_progress_bars()


def run_cli(work: Callable[[], int | None], quiet: bool = False, verbose: bool = False,
            user_errors: tuple[type[BaseException], ...] = (),
            interrupted: str = "interrupted") -> int:
    """Run ``work`` with logging configured; map user errors and Ctrl-C to exit codes.

    Returns ``work``'s own status (None means success), 2 after an
    :class:`~egg_core.errors.EggError` (its message printed as one ``error:`` line) and 130
    after Ctrl-C. ``user_errors`` names further exception types that are the user's to fix
    (e.g. the add-on's); ``interrupted`` is the line shown after Ctrl-C (what was kept).
    Any other exception is a bug and propagates with its traceback.
    """
    configure_logging(quiet, verbose)
    log = logging.getLogger("egg_core")
    try:
        status = work()
    except (EggError, *user_errors) as exc:
        log.error("%s", exc)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        log.error("%s", interrupted)
        return EXIT_INTERRUPTED
    return EXIT_OK if status is None else int(status)
