"""User-facing errors.

Everything a user can cause (a missing file, an unreadable format, a wrong option)
raises a subclass of :class:`EggError`. Command-line entry points and the Blender
add-on catch this one type and show its message instead of a traceback, so the
message must say what was wrong and what to do about it.
"""

from __future__ import annotations


class EggError(Exception):
    """An error caused by input the user can fix; the message is shown as is."""


class AudioError(EggError):
    """An audio file is missing, unreadable, or empty."""


class TranscriptError(EggError):
    """A transcript file is missing, malformed, or of an unknown format."""


class MotionFormatError(EggError):
    """A motion file (npz, BVH) is missing, malformed, or inconsistent."""


class CheckpointError(EggError):
    """A model checkpoint is missing, corrupt, or incompatible."""


class DeviceError(EggError):
    """The requested compute device is not available."""
