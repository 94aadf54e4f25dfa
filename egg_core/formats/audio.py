"""Audio loading: any file the user brings -> mono float32 at the rate the model wants.

Why this module exists: the gesture model, the aligner and the recogniser all want
mono 16 kHz float32, while users bring stereo 44.1 kHz WAV, FLAC, Ogg or MP3. Every
caller goes through :func:`load_audio` so conversion (channel averaging, exact
rational resampling) happens the same way everywhere, and every failure is an
:class:`~egg_core.errors.AudioError` that names the file and says what to do.

Decoding order: ``soundfile`` (libsndfile: WAV, FLAC, Ogg/Vorbis/Opus and, from
libsndfile 1.1, MP3); when libsndfile cannot open the file and ``ffmpeg`` is on
``PATH`` the file is decoded by an ``ffmpeg`` subprocess instead (this also covers
M4A/AAC/WebM). Long files can be read piece by piece with
:func:`load_audio_segment` / :func:`iter_audio_chunks` so memory stays flat.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from egg_core.errors import AudioError
from egg_core.formats.extensions import (  # noqa: F401 - re-exported for callers
    AUDIO_EXTENSIONS,
    FFMPEG_ONLY_EXTENSIONS,
    SOUNDFILE_EXTENSIONS,
)

DEFAULT_SAMPLE_RATE = 16000
#: Quieter than this (dBFS) is silence, however quiet the recording.
SILENCE_DBFS = -55.0
#: Speech is at most this many dB below the recording's loud level; quieter is a pause.
SPEECH_RANGE_DB = 35.0


def speech_floor(loud_db: float) -> float:
    """The level (dBFS) above which a stretch of a recording whose loud level is ``loud_db`` is speech."""
    return max(SILENCE_DBFS, loud_db - SPEECH_RANGE_DB)


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds before conversion: native rate, channels, length."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    backend: str  # "soundfile" or "ffmpeg"

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _supported_text() -> str:
    names = ", ".join(e.lstrip(".") for e in SOUNDFILE_EXTENSIONS)
    if _ffmpeg() is not None:
        names += ", and through ffmpeg " + ", ".join(e.lstrip(".") for e in FFMPEG_ONLY_EXTENSIONS)
    else:
        names += " (install ffmpeg for " + ", ".join(e.lstrip(".") for e in FFMPEG_ONLY_EXTENSIONS) + ")"
    return names


def _ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"Audio file not found: {path}. Check the path and try again.")
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not an audio file. Give the path of a sound file.")
    if path.stat().st_size == 0:
        raise AudioError(f"Audio file {path} is empty (0 bytes). Export the recording again.")


def _unreadable(path: Path, detail: str) -> AudioError:
    return AudioError(
        f"Cannot read audio file {path}: {detail}. Supported formats: {_supported_text()}. "
        "Convert the file to WAV or FLAC if it is in another format."
    )


def _ffprobe_info(path: Path) -> AudioInfo:
    """Native rate/channels/duration through ffprobe (only used for ffmpeg-decoded files)."""
    probe = shutil.which("ffprobe")
    if probe is None:
        raise _unreadable(path, "libsndfile cannot decode it and ffprobe is not installed")
    cmd = [probe, "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels:format=duration", "-of", "default=noprint_wrappers=1", str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    fields: dict[str, str] = {}
    for line in res.stdout.splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            fields.setdefault(key.strip(), value.strip())
    try:
        rate = int(fields["sample_rate"])
        channels = int(fields["channels"])
    except (KeyError, ValueError):
        raise _unreadable(path, "ffmpeg finds no audio stream in it") from None
    try:
        duration = float(fields.get("duration", "nan"))
    except ValueError:
        duration = float("nan")
    frames = int(round(duration * rate)) if math.isfinite(duration) else 0
    return AudioInfo(path, rate, channels, frames, "ffmpeg")


def audio_info(path: str | Path) -> AudioInfo:
    """Native sample rate, channel count and length of ``path`` without decoding it all."""
    path = Path(path)
    _check_exists(path)
    try:
        info = sf.info(str(path))
        return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames), "soundfile")
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        if _ffmpeg() is None:
            raise _unreadable(path, f"libsndfile says '{exc}' and ffmpeg is not installed") from None
        return _ffprobe_info(path)


def resample(wave: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample a 1-D signal by the exact rational ratio ``target/orig`` (polyphase filter)."""
    if orig_rate <= 0 or target_rate <= 0:
        raise AudioError(f"Sample rates must be positive, got {orig_rate} -> {target_rate}.")
    wave = np.asarray(wave, dtype=np.float32)
    if orig_rate == target_rate or wave.size == 0:
        return wave
    # Imported here, not at module top: scipy.signal pulls in scipy.stats/interpolate and
    # costs ~1-2 s of start-up, which 16 kHz input (the common case) never needs.
    from scipy.signal import resample_poly

    ratio = Fraction(int(target_rate), int(orig_rate))
    out = resample_poly(wave, ratio.numerator, ratio.denominator)
    return np.asarray(out, dtype=np.float32)


def _to_mono(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return np.ascontiguousarray(data, dtype=np.float32)


def _ffmpeg_decode(path: Path, sample_rate: int, offset: float = 0.0,
                   duration: float | None = None) -> np.ndarray:
    """Decode with ffmpeg straight to mono float32 at ``sample_rate`` (ffmpeg resamples)."""
    exe = _ffmpeg()
    if exe is None:
        raise _unreadable(path, "libsndfile cannot decode it and ffmpeg is not installed")
    cmd = [exe, "-nostdin", "-v", "error"]
    if offset > 0:
        cmd += ["-ss", f"{offset:.6f}"]
    cmd += ["-i", str(path)]
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    cmd += ["-vn", "-ac", "1", "-ar", str(int(sample_rate)), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    res = subprocess.run(cmd, capture_output=True, check=False)
    if res.returncode != 0:
        detail = res.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _unreadable(path, "ffmpeg failed: " + (detail[-1] if detail else f"exit {res.returncode}"))
    return np.frombuffer(res.stdout, dtype="<f4").astype(np.float32)


def _read_native(path: Path, start: int, frames: int) -> tuple[np.ndarray, int]:
    """Read ``frames`` native frames from ``start`` via soundfile (frames=-1: to the end)."""
    with sf.SoundFile(str(path)) as f:
        if start > 0:
            f.seek(min(start, f.frames) if f.frames > 0 else start)
        data = f.read(frames=frames, dtype="float32", always_2d=True)
        return data, int(f.samplerate)


def load_audio_segment(path: str | Path, offset: float = 0.0, duration: float | None = None,
                       sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples of ``path`` from ``offset`` seconds for ``duration`` seconds.

    Used for chunked processing of long recordings: only the requested piece is
    decoded. ``duration=None`` reads to the end. A segment past the end is empty
    (no error); use :func:`load_audio` for the whole-file checks.
    """
    path = Path(path)
    _check_exists(path)
    if offset < 0 or (duration is not None and duration < 0):
        raise AudioError(f"Offset and duration must be >= 0 (got offset={offset}, duration={duration}).")
    if sample_rate <= 0:
        raise AudioError(f"Requested sample rate must be positive, got {sample_rate}.")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        info = None
    if info is None:
        return _ffmpeg_decode(path, sample_rate, offset, duration)
    native = int(info.samplerate)
    start = int(round(offset * native))
    frames = -1 if duration is None else int(round(duration * native))
    # When resampling, read a margin either side and trim it afterwards so the filter
    # sees real neighbouring samples: consecutive segments then join seamlessly.
    pad = 0
    if native != sample_rate:
        step = native // math.gcd(native, sample_rate)  # native samples per whole output sample
        pad = step * max(1, math.ceil(native / 20 / step))  # >= 50 ms
    lead = pad if start >= pad else (start // step) * step if pad else 0
    try:
        data, native = _read_native(path, start - lead, -1 if frames < 0 else frames + lead + pad)
    except (sf.LibsndfileError, RuntimeError) as exc:
        if _ffmpeg() is not None:
            return _ffmpeg_decode(path, sample_rate, offset, duration)
        raise _unreadable(path, str(exc)) from None
    wave = resample(_to_mono(data), native, sample_rate)
    if pad:
        skip = lead * sample_rate // native  # exact: lead is a multiple of step
        want = (len(data) - lead) if frames < 0 else min(frames, max(0, len(data) - lead))
        wave = wave[skip: skip + int(round(want * sample_rate / native))]
    return wave


def load_audio(path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Whole file as mono float32 at ``sample_rate`` (channels averaged, exact resampling).

    Raises :class:`AudioError` when the file is missing, cannot be decoded (the
    message lists the supported formats) or holds no samples. Silence is *not* an
    error here (a user may want a still pose); check it with :func:`is_silent`.
    """
    path = Path(path)
    _check_exists(path)
    if sample_rate <= 0:
        raise AudioError(f"Requested sample rate must be positive, got {sample_rate}.")
    try:
        data, native = sf.read(str(path), dtype="float32", always_2d=True)
        wave = resample(_to_mono(data), int(native), sample_rate)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        if _ffmpeg() is None:
            raise _unreadable(path, f"libsndfile says '{exc}' and ffmpeg is not installed") from None
        wave = _ffmpeg_decode(path, sample_rate)
    if wave.size == 0:
        raise AudioError(f"Audio file {path} contains no samples. Record or export the speech again.")
    if not np.all(np.isfinite(wave)):
        raise AudioError(f"Audio file {path} contains NaN or infinite samples; re-export it as 16-bit PCM WAV.")
    return wave


def iter_audio_chunks(path: str | Path, chunk_seconds: float = 30.0, overlap_seconds: float = 0.0,
                      sample_rate: int = DEFAULT_SAMPLE_RATE) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(start_seconds, samples)`` pieces of ``path`` so long files use flat memory.

    Consecutive chunks start ``chunk_seconds`` apart and each extends
    ``overlap_seconds`` past the next start (so a word cut at a boundary is whole in
    one of them). Chunk starts are exact multiples of ``chunk_seconds``.
    """
    if chunk_seconds <= 0 or overlap_seconds < 0:
        raise AudioError(f"chunk_seconds must be > 0 and overlap_seconds >= 0 (got {chunk_seconds}, {overlap_seconds}).")
    total = audio_info(path).duration
    n_chunks = max(1, math.ceil(total / chunk_seconds - 1e-9))
    for i in range(n_chunks):
        start = i * chunk_seconds
        piece = load_audio_segment(path, start, chunk_seconds + overlap_seconds, sample_rate)
        if piece.size:
            yield start, piece


def rms_db(wave: np.ndarray) -> float:
    """Root-mean-square level in dB full scale (-inf for digital silence)."""
    wave = np.asarray(wave, dtype=np.float64)
    if wave.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(wave * wave)))
    return 20.0 * math.log10(rms) if rms > 0 else float("-inf")


def is_silent(wave: np.ndarray, threshold_db: float = SILENCE_DBFS) -> bool:
    """True when the signal never rises above ``threshold_db`` dBFS in any 50 ms window.

    Used to flag (not reject) silent input: generation still works, but word
    finding and gesture will have nothing to follow.
    """
    wave = np.asarray(wave, dtype=np.float64)
    if wave.size == 0:
        return True
    win = 800  # 50 ms at 16 kHz; fine for any rate as a level probe
    n = wave.size // win
    if n == 0:
        return rms_db(wave) < threshold_db
    frames = wave[: n * win].reshape(n, win)
    level = np.sqrt(np.mean(frames * frames, axis=1)).max()
    return bool(level <= 0 or 20.0 * math.log10(level) < threshold_db)
