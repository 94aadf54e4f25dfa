"""Readers and writers on real files made by other tools (BEAT2, Mixamo/bvhio BVH, real speech).

Every other test builds its fixtures in code; these read the reference recordings in
``../shared/data`` (see its README.md and rigs/README.md), check facts counted from the
files' own text independently of egg_core, write them back with egg_core's writers and
read them again. A clone without ``../shared`` skips them, naming the missing folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from egg_core.atomic import OutputExistsError
from egg_core.errors import MotionFormatError
from egg_core.formats.audio import load_audio
from egg_core.formats.beat2 import BEAT2_KEYS, read_beat2_npz, write_beat2_npz
from egg_core.formats.bvh import bvh_to_motion, read_bvh, write_bvh
from egg_core.formats.transcripts import (
    parse_textgrid,
    read_transcript,
    write_textgrid,
    write_words_json,
)
from egg_core.skeleton import SMPLX

pytestmark = pytest.mark.shared

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _data(relative: str) -> Path:
    """``../shared/data/<relative>``; skips naming the first folder (or the file) that is missing."""
    path = SHARED_DATA / relative
    for folder in [SHARED_DATA, *reversed(path.parents[: len(Path(relative).parts) - 1])]:
        if not folder.is_dir():
            pytest.skip(
                f"reference data folder {folder} is missing (put the project's shared/ folder "
                "beside the repository to run the real-file tests)"
            )
    if not path.exists():
        pytest.skip(f"reference file {path} is missing from {path.parent}")
    return path


# ----------------------------------------------------------------------------- TextGrid

# Facts read off the two BEAT2 TextGrids by eye (first and last words of the `words` tier).
TAKES = {
    "2_scott_0_1_1": {
        "first": ["the", "first", "thing", "i", "like", "to", "do", "on"],
        "last": ["express", "japanese", "better"],
        "min_words": 190,
    },
    "2_scott_0_2_2": {
        "first": ["so", "when", "i", "have", "time", "to", "kill", "i"],
        "last": ["with", "these", "restaurants"],
        "min_words": 190,
    },
}

_TIER = re.compile(r'class\s*=\s*"(\w+)"\s*name\s*=\s*"([^"]*)"\s*xmin\s*=\s*(\S+)\s*xmax\s*=\s*(\S+)')
_INTERVAL = re.compile(r'xmin\s*=\s*(\S+)\s*xmax\s*=\s*(\S+)\s*text\s*=\s*"((?:[^"]|"")*)"')


def _textgrid_by_regex(path: Path) -> tuple[float, dict[str, list[tuple[float, float, str]]]]:
    """File xmax and the intervals of each tier, read with regular expressions (not egg_core)."""
    text = path.read_text(encoding="utf-8")
    file_xmax = float(re.search(r"^xmax\s*=\s*(\S+)", text, re.M).group(1))
    starts = list(_TIER.finditer(text))
    tiers = {}
    for k, m in enumerate(starts):
        body = text[m.end(): starts[k + 1].start() if k + 1 < len(starts) else len(text)]
        tiers[m.group(2)] = [(float(a), float(b), s) for a, b, s in _INTERVAL.findall(body)]
    return file_xmax, tiers


@pytest.mark.parametrize("take", sorted(TAKES))
def test_beat2_textgrid_words(take):
    path = _data(f"real/beat2/{take}.TextGrid")
    wav = _data(f"real/beat2/{take}.wav")
    facts = TAKES[take]
    file_xmax, tiers = _textgrid_by_regex(path)
    assert set(tiers) == {"words", "phones"}
    expected = [(a, b, s) for a, b, s in tiers["words"] if s.strip()]
    phones = [s for _, _, s in tiers["phones"] if s.strip()]

    transcript = read_transcript(path)
    words = transcript.words
    assert transcript.timed
    # The word tier, not the phone tier (which has ~3x the labels, in ARPAbet capitals).
    assert [(w.start, w.end, w.text) for w in words] == expected
    assert len(words) >= facts["min_words"] and len(phones) > 2 * len(words)
    assert not any(w.text.isupper() for w in words)
    assert [w.text for w in words[: len(facts["first"])]] == facts["first"]
    assert [w.text for w in words[-len(facts["last"]):]] == facts["last"]

    # Times: positive-length words, in order, not overlapping, inside the recording.
    starts = np.array([w.start for w in words])
    ends = np.array([w.end for w in words])
    assert np.all(ends > starts)
    assert np.all(np.diff(starts) > 0) and np.all(starts[1:] >= ends[:-1] - 1e-9)
    duration = sf.info(str(wav)).duration
    assert starts[0] > 0.5  # both takes open with silence
    assert ends[-1] <= duration + 1e-6 and ends[-1] <= file_xmax + 1e-9
    assert abs(file_xmax - duration) < 0.2  # the TextGrid spans the recording
    assert transcript.end == pytest.approx(ends[-1])


@pytest.mark.parametrize("take", sorted(TAKES))
def test_beat2_textgrid_write_read_round_trip(take, tmp_path):
    path = _data(f"real/beat2/{take}.TextGrid")
    file_xmax, tiers = _textgrid_by_regex(path)
    original = read_transcript(path)

    out = tmp_path / f"{take}.TextGrid"
    write_textgrid(original, out, xmax=file_xmax)
    again = read_transcript(out)
    assert [w.text for w in again.words] == [w.text for w in original.words]
    for a, b in zip(again.words, original.words, strict=True):
        assert a.start == pytest.approx(b.start, abs=1e-6) and a.end == pytest.approx(b.end, abs=1e-6)

    # The written file is a valid one-tier TextGrid whose intervals are the original words
    # tier, silences included (both are gap-free, as Praat requires).
    written = parse_textgrid(out.read_text(encoding="utf-8"), str(out))
    assert [(t.name, t.kind) for t in written] == [("words", "IntervalTier")]
    got = written[0].items
    want = [(a, b, s.strip()) for a, b, s in tiers["words"]]
    assert len(got) == len(want)
    for (ga, gb, gs), (wa, wb, ws) in zip(got, want, strict=True):
        assert gs == ws and ga == pytest.approx(wa, abs=1e-6) and gb == pytest.approx(wb, abs=1e-6)
    assert got[-1][1] == pytest.approx(file_xmax)
    assert all(got[k][1] == got[k + 1][0] for k in range(len(got) - 1))

    with pytest.raises(OutputExistsError):
        write_textgrid(original, out, xmax=file_xmax)


@pytest.mark.parametrize("take", sorted(TAKES))
def test_beat2_words_json_round_trip(take, tmp_path):
    original = read_transcript(_data(f"real/beat2/{take}.TextGrid"))
    out = tmp_path / f"{take}.json"
    write_words_json(original, out, method="textgrid")
    again = read_transcript(out)
    assert again.timed
    assert [(w.text, w.start, w.end) for w in again.words] == [
        (w.text, round(w.start, 6), round(w.end, 6)) for w in original.words
    ]


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_beat2_words_as_subtitles(fmt, tmp_path):
    """egg_core has no SRT/VTT writer; subtitles with one cue per real word read back exactly."""
    original = read_transcript(_data("real/beat2/2_scott_0_1_1.TextGrid")).words
    sep = "," if fmt == "srt" else "."
    blocks = ["WEBVTT\n"] if fmt == "vtt" else []
    for k, w in enumerate(original, 1):
        blocks.append(f"{k}\n{_clock(w.start, sep)} --> {_clock(w.end, sep)}\n{w.text}\n")
    out = tmp_path / f"words.{fmt}"
    out.write_text("\n".join(blocks), encoding="utf-8")
    words = read_transcript(out).words
    assert [w.text for w in words] == [w.text for w in original]
    for a, b in zip(words, original, strict=True):
        assert a.start == pytest.approx(b.start, abs=5e-4) and a.end == pytest.approx(b.end, abs=5e-4)


# ----------------------------------------------------------------------------- BVH

BVH_FILES = {
    "mixamo": "rigs/mixamo_skeleton_bvh/test_freebvh.bvh",
    "bvhio": "rigs/simple_bvh/bvhio_example.bvh",
}


def _bvh_by_tokens(path: Path) -> dict:
    """Joints, parents, offsets, channels, End Sites and frames, parsed from the text here."""
    tokens = path.read_text(encoding="utf-8").split()
    names, parents, offsets, channels, sites = [], [], [], [], {}
    stack: list[int | None] = []  # joint index per open brace, None for an End Site
    pending: int | None = None
    i = 0
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            parent = next((s for s in reversed(stack) if s is not None), -1)
            names.append(tokens[i + 1])
            parents.append(parent)
            pending = len(names) - 1
            i += 2
        elif tok == "End":
            assert tokens[i + 1] == "Site"
            pending = None
            i += 2
        elif tok == "{":
            stack.append(pending)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            xyz = [float(t) for t in tokens[i + 1: i + 4]]
            if stack[-1] is None:
                sites[stack[-2]] = xyz
            else:
                offsets.append(xyz)
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels.append(tuple(tokens[i + 2: i + 2 + n]))
            i += 2 + n
        else:
            i += 1
    assert not stack and tokens[i + 1] == "Frames:" and tokens[i + 3: i + 5] == ["Frame", "Time:"]
    frames, frame_time = int(tokens[i + 2]), float(tokens[i + 5])
    values = np.array([float(t) for t in tokens[i + 6:]]).reshape(frames, -1)
    return {"names": names, "parents": parents, "offsets": np.array(offsets), "channels": channels,
            "sites": sites, "frames": frames, "frame_time": frame_time, "values": values}


def _rotation_columns(channels: list[tuple[str, ...]]) -> np.ndarray:
    flags = [c.lower().endswith("rotation") for chans in channels for c in chans]
    return np.array(flags)


@pytest.mark.parametrize("which", sorted(BVH_FILES))
def test_real_bvh_read(which):
    path = _data(BVH_FILES[which])
    text = _bvh_by_tokens(path)
    bvh = read_bvh(path)
    skel = bvh.skeleton
    assert skel.joint_names == tuple(text["names"])
    assert skel.parents == tuple(text["parents"])
    np.testing.assert_allclose(skel.offsets, text["offsets"] * 0.01, atol=1e-12)
    assert bvh.channels == tuple(text["channels"])
    assert bvh.num_frames == text["frames"]
    assert bvh.fps == 30.0 and 1.0 / bvh.fps == pytest.approx(text["frame_time"], abs=1e-6)
    assert set(bvh.end_sites) == set(text["sites"])
    for j, site in text["sites"].items():
        np.testing.assert_allclose(bvh.end_sites[j], np.array(site) * 0.01, atol=1e-12)
    np.testing.assert_allclose(bvh.root_positions, text["values"][:, :3] * 0.01, atol=1e-12)
    rots = bvh.local_rotmats
    assert rots.shape == (text["frames"], len(text["names"]), 3, 3)
    np.testing.assert_allclose(rots @ np.swapaxes(rots, -1, -2), np.broadcast_to(np.eye(3), rots.shape),
                               atol=1e-12)

    # Facts from the rigs README, and the left/right twins found from the names.
    names = skel.joint_names
    if which == "mixamo":
        assert len(names) == 55 and bvh.num_frames == 69 and bvh.order == "ZYX"
        assert all(n.startswith("mixamorig:") for n in names)
        assert sum("Hand" in n and n[-1].isdigit() for n in names) == 30
        assert {"mixamorig:HeadTop_End", "mixamorig:LeftEye", "mixamorig:LeftHandIndex3"} <= set(names)
    else:
        assert len(names) == 18 and bvh.num_frames == 2 and bvh.order == "ZXY"
        assert names[:4] == ("Hips", "Chest", "Neck", "Head")
    for j, name in enumerate(names):
        twin = names[skel.mirror[j]]
        if "Left" in name or "Right" in name:
            swapped = name.replace("Left", "\0").replace("Right", "Left").replace("\0", "Right")
            assert twin == swapped, (name, twin)
        else:
            assert twin == name


@pytest.mark.parametrize("which", sorted(BVH_FILES))
def test_real_bvh_write_read_round_trip(which, tmp_path):
    path = _data(BVH_FILES[which])
    bvh = read_bvh(path)
    out = tmp_path / "again.bvh"
    write_bvh(out, bvh.skeleton, bvh.local_rotmats, bvh.root_positions, bvh.fps, order=bvh.order,
              end_sites=bvh.end_sites)
    again = read_bvh(out)
    assert again.skeleton.joint_names == bvh.skeleton.joint_names
    assert again.skeleton.parents == bvh.skeleton.parents
    assert again.skeleton.mirror == bvh.skeleton.mirror
    np.testing.assert_allclose(again.skeleton.offsets, bvh.skeleton.offsets, atol=1e-8)
    assert set(again.end_sites) == set(bvh.end_sites)
    for j, site in bvh.end_sites.items():
        np.testing.assert_allclose(again.end_sites[j], site, atol=1e-8)
    assert again.fps == bvh.fps and again.num_frames == bvh.num_frames
    assert again.channel_orders == bvh.channel_orders
    np.testing.assert_allclose(again.root_positions, bvh.root_positions, atol=1e-8)
    np.testing.assert_allclose(again.local_rotmats, bvh.local_rotmats, atol=1e-6)

    # Channel values as printed: positions equal, rotations equal up to whole turns (the
    # writer unwraps curves over time; bvhio's LeftUpArm jumps -101.86 -> 132.67 degrees).
    before, after = _bvh_by_tokens(path), _bvh_by_tokens(out)
    assert after["channels"] == before["channels"] and after["names"] == before["names"]
    np.testing.assert_allclose(after["offsets"], before["offsets"], atol=1e-6)
    rot = _rotation_columns(before["channels"])
    np.testing.assert_allclose(after["values"][:, ~rot], before["values"][:, ~rot], atol=1e-6)
    turns = (after["values"][:, rot] - before["values"][:, rot]) / 360.0
    np.testing.assert_allclose(turns, np.round(turns), atol=1e-6 / 360.0 + 1e-9)
    assert np.abs(np.diff(after["values"][:, rot], axis=0)).max() <= 180.0


def test_mixamo_bvh_to_smplx_is_refused_with_the_missing_joints():
    """Today bvh_to_motion maps joints by SMPL-X name only (no Mixamo aliases): it must say so."""
    bvh = read_bvh(_data(BVH_FILES["mixamo"]))
    with pytest.raises(MotionFormatError) as info:
        bvh_to_motion(bvh)
    message = str(info.value)
    assert f"lacks {SMPLX.num_joints} of the {SMPLX.num_joints} joints" in message
    assert "pelvis" in message and "SMPL-X joint names" in message


# ----------------------------------------------------------------------------- BEAT2 npz


@pytest.mark.parametrize("take", sorted(TAKES))
def test_beat2_npz_round_trip(take, tmp_path):
    path = _data(f"real/beat2/{take}.npz")
    raw = np.load(path)
    motion = read_beat2_npz(path)
    num_frames = raw["poses"].shape[0]
    assert motion.num_frames == num_frames and motion.fps == 30.0
    np.testing.assert_array_equal(motion.poses.reshape(num_frames, 165), raw["poses"])
    np.testing.assert_array_equal(motion.trans, raw["trans"].astype(np.float32))
    np.testing.assert_array_equal(motion.betas, raw["betas"])
    np.testing.assert_array_equal(motion.expressions, raw["expressions"].astype(np.float32))
    assert (motion.gender, motion.model) == ("neutral", "smplx2020")

    out = tmp_path / f"{take}.npz"
    write_beat2_npz(motion, out)
    with np.load(out) as written:
        assert tuple(written.files) == BEAT2_KEYS
        for key in BEAT2_KEYS:
            assert written[key].shape == raw[key].shape, key
    again = read_beat2_npz(out)
    for field in ("poses", "trans", "betas", "expressions"):
        np.testing.assert_array_equal(getattr(again, field), getattr(motion, field), err_msg=field)
    assert (again.fps, again.gender, again.model) == (motion.fps, motion.gender, motion.model)
    with pytest.raises(OutputExistsError):
        write_beat2_npz(motion, out)


# ----------------------------------------------------------------------------- audio

STEREO = "real/speech/talkshow_style.wav"


def _best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Largest normalised cross-correlation of ``a`` and ``b`` within ``max_lag`` samples (FFT)."""
    n = min(a.size, b.size)
    a = a[:n].astype(np.float64) - a[:n].mean()
    b = b[:n].astype(np.float64) - b[:n].mean()
    size = 1 << (2 * n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    near = np.concatenate([xc[: max_lag + 1], xc[-max_lag:]])
    return float(near.max() / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def test_real_stereo_22k_wav_loads_as_mono_16k():
    path = _data(STEREO)
    info = sf.info(str(path))
    assert (info.channels, info.samplerate) == (2, 22000)
    wave = load_audio(path, 16000)
    assert wave.ndim == 1 and wave.dtype == np.float32
    expected = info.frames * 16000 / info.samplerate
    assert abs(wave.size - expected) <= 1
    assert wave.size / 16000 == pytest.approx(info.duration, abs=1 / 16000)
    # The mono signal is the channel mean (not one channel): compare with each brought to
    # 16 kHz by linear interpolation. The two channels differ (correlation ~0.98).
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mean = data.mean(axis=1)
    t = np.arange(wave.size) / 16000

    def corr(signal: np.ndarray) -> float:
        return float(np.corrcoef(wave, np.interp(t, np.arange(signal.size) / rate, signal))[0, 1])

    assert corr(mean) > 0.995
    assert corr(mean) > max(corr(data[:, 0]), corr(data[:, 1])) + 0.003
    assert np.sqrt(np.mean(wave**2)) == pytest.approx(np.sqrt(np.mean(mean**2)), rel=0.05)


def _encode(tool: str, src: Path, dst: Path) -> None:
    if tool == "soundfile":
        data, rate = sf.read(str(src), dtype="float32", always_2d=True)
        try:
            sf.write(str(dst), data, rate, format=dst.suffix[1:].upper())
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            pytest.skip(f"this libsndfile cannot write {dst.suffix}: {exc}")
        return
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} is not installed (looked for it on PATH)")
    cmd = [exe, "-nostdin", "-v", "error", "-i", str(src), str(dst)] if tool == "ffmpeg" else [exe, str(src), str(dst)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    if res.returncode != 0 or not dst.exists():
        pytest.skip(f"{tool} cannot encode {dst.suffix}: {res.stderr.strip()[-200:]}")


@pytest.mark.parametrize("ext", ["flac", "ogg", "mp3"])
@pytest.mark.parametrize("tool", ["ffmpeg", "sox", "soundfile"])
def test_real_wav_converted_loads_the_same(tool, ext, tmp_path):
    """The real stereo clip encoded by another tool decodes to the same speech at 16 kHz."""
    path = _data(STEREO)
    target = tmp_path / f"talkshow_style.{ext}"
    _encode(tool, path, target)
    reference = load_audio(path, 16000)
    wave = load_audio(target, 16000)
    assert wave.ndim == 1 and wave.dtype == np.float32
    lossless = ext == "flac"
    # Lossy codecs pad to whole frames (an MP3 frame is 1152 samples) and may add a delay.
    assert abs(wave.size - reference.size) / 16000 <= (0.0 if lossless else 0.1)
    if lossless:
        np.testing.assert_allclose(wave, reference, atol=1e-6)
    else:
        assert _best_correlation(reference, wave, max_lag=1600) > 0.95
