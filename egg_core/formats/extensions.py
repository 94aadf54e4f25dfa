"""File extensions the readers accept, in one dependency-free module.

Why separate: the Blender add-on and the data loaders need to recognise audio and transcript
files without importing the readers themselves (the audio reader needs soundfile, which
Blender's own Python does not have).
"""

from __future__ import annotations

#: Audio read through libsndfile (MP3 needs libsndfile >= 1.1, else ffmpeg).
SOUNDFILE_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
#: Audio only ffmpeg can decode; accepted when ffmpeg is installed.
FFMPEG_ONLY_EXTENSIONS: tuple[str, ...] = (".m4a", ".aac", ".webm", ".mp4", ".wma")
#: Every audio extension :func:`egg_core.formats.audio.load_audio` accepts.
AUDIO_EXTENSIONS: tuple[str, ...] = SOUNDFILE_EXTENSIONS + FFMPEG_ONLY_EXTENSIONS

#: Transcript extensions :func:`egg_core.formats.transcripts.read_transcript` reads, in the
#: order a transcript beside an audio file is preferred (timed formats first). Lower case.
TRANSCRIPT_EXTENSIONS: tuple[str, ...] = (".textgrid", ".json", ".srt", ".vtt", ".txt")


def is_audio_file(name: str) -> bool:
    """True when ``name`` ends in an audio extension (any case)."""
    return any(name.lower().endswith(ext) for ext in AUDIO_EXTENSIONS)
