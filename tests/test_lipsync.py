"""Lip sync in egg_core: phones -> visemes and jaw, the target sets, name detection, the sources.

The figures the docs quote are printed (run with ``-s``): the agreement of pocketsphinx's
phone boundaries with the BEAT2 TextGrid phones, and how well the jaw derived from the
phones follows the jaw recorded in the BEAT2 takes.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util

import numpy as np
import pytest
import soundfile as sf
from conftest import SHARED_DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from egg_core.errors import AudioError, TranscriptError
from egg_core.formats.transcripts import (
    Phone,
    Word,
    parse_phones_text,
    read_phones,
    read_transcript,
    spread_phones,
)
from egg_core.lipsync import sources
from egg_core.lipsync.targets import TARGET_SETS, detect_set, find_jaw_bone, target_set
from egg_core.lipsync.visemes import (
    JAW_OPENING,
    SIL,
    VISEMES,
    mouth_from_jaw,
    mouth_from_phones,
    phone_visemes,
    viseme_segments,
)
from egg_core.motion import Motion

BEAT2 = SHARED_DATA / "real" / "beat2"
TAKES = ("2_scott_0_1_1", "2_scott_0_2_2")
HAS_SPHINX = importlib.util.find_spec("pocketsphinx") is not None

#: The 39 phones of the CMU dictionary.
CMU_PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T "
              "TH UH UW V W Y Z ZH").split()


def _sequence(labels: list[str], durations: list[float], start: float = 0.5) -> list[Phone]:
    t, out = start, []
    for label, d in zip(labels, durations, strict=True):
        out.append(Phone(label, t, t + d))
        t += d
    return out


def _frame_at(track, seconds: float) -> int:
    """The frame that shows what is said at ``seconds`` (the track leads by 20 ms)."""
    return int(round((seconds - 0.02) * track.fps))


def _beat2(name: str, suffix: str):
    path = BEAT2 / f"{name}{suffix}"
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (clone with ../shared beside the repo)")
    return path


# --------------------------------------------------------------------------- phones -> visemes


def test_every_cmu_phone_has_a_mouth_shape():
    for phone in CMU_PHONES:
        visemes, strength = phone_visemes(phone + ("1" if phone[0] in "AEIOU" else ""))
        if phone == "HH":
            assert visemes == ()  # borrows the next vowel's shape
            continue
        assert visemes and "sil" not in visemes, phone
        assert 0 < strength <= 1
    assert phone_visemes("M") == (("PP",), 1.0)
    assert phone_visemes("AY1")[0] == ("aa", "I")  # a diphthong: two shapes in turn
    assert phone_visemes("ah0")[0] == ("E",)  # schwa, any case
    assert phone_visemes("TO(2)")[0] == ("sil",)  # not a phone: rest
    for mark in ("", "sil", "sp", "spn"):
        assert phone_visemes(mark)[0] == ("sil",)


def test_stress_sets_how_wide_a_vowel_opens():
    loud, soft = (mouth_from_phones(_sequence(["AA" + s], [0.3]), 30) for s in ("1", "0"))
    assert loud.jaw.max() > soft.jaw.max() > 0.3


def test_segments_tile_time_with_silence_in_gaps():
    segs = viseme_segments(_sequence(["M", "AA1"], [0.1, 0.2]) + [Phone("P", 1.0, 1.1)], 2.0)
    for a, b in zip(segs, segs[1:], strict=False):
        assert a.end == pytest.approx(b.start)
    assert segs[0].start < 0 and segs[-1].end > 2.0
    assert [VISEMES[s.viseme] for s in segs] == ["sil", "PP", "aa", "sil", "PP", "sil"]


@pytest.mark.parametrize("fps", [24, 30, 60])
@pytest.mark.parametrize("closure", ["M", "B", "P"])
def test_mouth_opens_on_vowels_and_closes_on_m_b_p(fps, closure):
    """ "aa m aa" with a short bilabial (40 ms): closed at its middle, open on the vowels."""
    phones = _sequence(["AA1", closure, "AA1"], [0.15, 0.04, 0.15])
    track = mouth_from_phones(phones, fps)
    middle = _frame_at(track, 0.5 * (phones[1].start + phones[1].end))
    assert track.jaw[middle] < 0.02
    assert track.viseme("PP")[middle] > 0.98
    for vowel in (phones[0], phones[2]):
        f = _frame_at(track, 0.5 * (vowel.start + vowel.end))
        assert track.jaw[f] > 0.6 and track.viseme("aa")[f] > 0.6


def test_f_and_v_reach_lip_teeth_contact():
    phones = _sequence(["IY1", "F", "IY1"], [0.12, 0.04, 0.12])
    track = mouth_from_phones(phones, 30)
    f = _frame_at(track, 0.5 * (phones[1].start + phones[1].end))
    assert track.viseme("FF")[f] > 0.98
    assert track.jaw[f] == pytest.approx(JAW_OPENING["FF"], abs=0.02)


def test_silence_is_the_rest_mouth():
    phones = _sequence(["HH", "EH1", "L", "OW1"], [0.05, 0.1, 0.06, 0.2], start=1.0) + \
        _sequence(["B", "AY1"], [0.06, 0.25], start=3.0)
    track = mouth_from_phones(phones, 30, num_frames=150)
    for seconds in (0.2, 2.2, 4.6):  # before, between (1.6 s pause) and after the words
        f = _frame_at(track, seconds)
        assert track.jaw[f] == 0.0
        assert track.weights[f, SIL] == pytest.approx(1.0)
        assert track.weights[f, 1:].max() == 0.0


def test_neighbouring_phones_overlap():
    """Co-articulation: at a boundary between two vowels both shapes are present."""
    phones = _sequence(["IY1", "UW1"], [0.2, 0.2])
    track = mouth_from_phones(phones, 60)
    f = _frame_at(track, phones[1].start)
    assert track.viseme("I")[f] > 0.3 and track.viseme("U")[f] > 0.3
    before = _frame_at(track, phones[1].start - 0.04)
    assert track.viseme("U")[before] > 0.0  # anticipated before its sound starts


_LABELS = ["AA1", "IY1", "UW1", "OW1", "AH0", "EH1", "M", "B", "P", "F", "V", "S", "T", "K", "N",
           "L", "R", "W", "HH", "CH", "TH", ""]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_LABELS), st.floats(0.03, 0.3)), min_size=1, max_size=25),
       st.sampled_from([24, 25, 30, 50, 60]))
def test_no_popping(phones, fps):
    """Weights stay in 0..1, rows add up to at most 1, and nothing jumps between frames.

    The largest change between two frames is bounded (a closure ramps over at least 2.5
    frames, a blend over 120 ms); phones are at least 30 ms, the shortest an HMM aligner
    at 100 frames/s with three states writes.
    """
    track = mouth_from_phones(_sequence([p for p, _ in phones], [d for _, d in phones]), fps)
    assert track.weights.min() >= 0.0 and track.weights.max() <= 1.0
    assert track.weights.sum(axis=1).max() <= 1.0 + 1e-5
    assert np.abs(np.diff(track.jaw)).max(initial=0.0) <= 0.75
    assert np.abs(np.diff(track.weights, axis=0)).max(initial=0.0) <= 0.75


def test_jaw_only_track_opens_the_open_vowel():
    track = mouth_from_jaw(np.array([0.0, 0.5, 1.2]), 30, source="loudness")
    assert track.jaw.tolist() == [0.0, 0.5, 1.0]
    assert track.viseme("aa").tolist() == [0.0, 0.5, 1.0]
    assert track.weights.sum(axis=1) == pytest.approx(1.0)


def test_spread_phones_gives_vowels_twice_the_time():
    phones = spread_phones(["K", "AE1", "T"], 1.0, 1.4)
    assert [p.label for p in phones] == ["K", "AE1", "T"]
    assert phones[0].start == 1.0 and phones[-1].end == pytest.approx(1.4)
    assert phones[1].end - phones[1].start == pytest.approx(2 * (phones[0].end - phones[0].start))


# --------------------------------------------------------------------------- target sets


def test_every_target_set_is_driven():
    vowels = ("aa", "E", "I", "O", "U")
    for target in TARGET_SETS.values():
        m = target.matrix
        assert m.shape == (len(VISEMES), len(target.channels))
        assert (m >= 0).all() and (m <= 1).all()
        assert (m.sum(axis=0) > 0).all(), f"{target.key}: a channel no viseme drives"
        for v in vowels:
            assert m[VISEMES.index(v)].max() >= 0.4, f"{target.key}: vowel {v} shows nothing"
        assert target.aliases.keys() == set(target.channels)


def test_closed_mouth_in_every_set():
    """m/b/p drive each set's closed shape and nothing that opens the jaw."""
    track = mouth_from_phones(_sequence(["AA1", "M", "AA1"], [0.15, 0.08, 0.15]), 30)
    f = _frame_at(track, 0.69)
    closed = {"oculus": "PP", "rhubarb": "A", "preston_blair": "MBP"}
    for key, target in TARGET_SETS.items():
        values = target.channel_values(track)
        assert set(values) == set(target.channels)
        assert all(v.shape == (track.num_frames,) and v.min() >= 0 and v.max() <= 1 for v in values.values())
        if key in closed:
            assert values[closed[key]][f] > 0.98
    arkit = target_set("arkit").channel_values(track)
    assert arkit["jawOpen"][f] < 0.02 and arkit["mouthPressLeft"][f] > 0.4
    assert arkit["jawOpen"] == pytest.approx(track.jaw, abs=1e-5)
    vrm = target_set("VRM").channel_values(track)
    assert max(v[f] for v in vrm.values()) < 0.02  # VRM's closed mouth is its rest
    with pytest.raises(ValueError, match="unknown mouth shape set"):
        target_set("klingon")


# --------------------------------------------------------------------------- detection


OCULUS_KEYS = ["viseme_" + v for v in VISEMES]
ARKIT_KEYS = ["jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthSmileRight",
              "eyeBlinkLeft", "browInnerUp"]


@pytest.mark.parametrize("names, expected, found", [
    (["Basis", *OCULUS_KEYS], "oculus", 15),
    (["Basis", *ARKIT_KEYS, *OCULUS_KEYS], "oculus", 15),  # Ready Player Me: visemes win
    ([f"Wolf3D_Head.{k}" for k in OCULUS_KEYS], "oculus", 15),
    (["vrc.v_" + v for v in "sil pp ff th dd kk ch ss nn rr aa e ih oh ou".split()], "oculus", 15),
    (["Basis", "aa", "ih", "ou", "ee", "oh", "blink"], "vrm", 5),
    (["A", "I", "U", "E", "O"], "vrm", 5),
    (["Face.M_F00_000_00_Fcl_MTH_A", "Face.M_F00_000_00_Fcl_MTH_I", "Face.M_F00_000_00_Fcl_MTH_U",
      "Face.M_F00_000_00_Fcl_MTH_E", "Face.M_F00_000_00_Fcl_MTH_O"], "vrm", 5),
    (["Basis", *ARKIT_KEYS], "arkit", 5),  # mouthClose is not driven
    (["blendShape1.jawOpen", "blendShape1.mouthSmile_L", "blendShape1.mouthSmile_R"], "arkit", 3),
    (["mouth_" + c for c in "ABCDEFGHX"], "rhubarb", 9),
    (["AI", "O", "E", "U", "etc", "L", "WQ", "MBP", "FV", "rest"], "preston_blair", 10),
])
def test_shape_sets_are_detected_by_name(names, expected, found):
    match = detect_set(names)
    assert match is not None and match.target.key == expected
    assert len(match.found) == found
    assert all(name in names for name in match.found.values())


def test_no_mouth_shapes_detected():
    assert detect_set(["Basis", "Smile", "Frown", "eyeBlinkLeft"]) is None
    assert detect_set(["A", "E"]) is None  # two letters are not a set
    assert detect_set([]) is None


@pytest.mark.parametrize("names, expected", [
    (["pelvis", "head", "jaw", "left_eye_smplhf"], "jaw"),
    (["mixamorig:Head", "mixamorig:Jaw"], "mixamorig:Jaw"),
    (["CC_Base_Head", "CC_Base_JawRoot", "CC_Base_UpperJaw", "CC_Base_Teeth02"], "CC_Base_JawRoot"),
    (["DEF-jaw", "ORG-jaw", "MCH-jaw_master", "jaw_master"], "jaw_master"),
    (["DEF-jaw", "head"], "DEF-jaw"),
    (["J_Bip_C_Head", "J_Bip_C_Jaw"], "J_Bip_C_Jaw"),
    (["Head", "LowerJaw"], "LowerJaw"),
    (["Head", "jaw.L", "jaw.R", "Jaw_end", "chin"], None),
    (["Hips", "Spine", "Head"], None),
])
def test_jaw_bone_found_by_name(names, expected):
    assert find_jaw_bone(names) == expected


# --------------------------------------------------------------------------- transcripts


def test_textgrid_phones_tier_of_the_real_beat2_takes():
    for name in TAKES:
        path = _beat2(name, ".TextGrid")
        phones = read_phones(path)
        words = read_transcript(path).words
        assert phones is not None and len(phones) > 3 * len(words)
        assert all(p.end > p.start for p in phones)
        unknown = {p.label for p in phones if phone_visemes(p.label)[0] == ("sil",)}
        assert not unknown, f"labels without a mouth shape: {unknown}"
        # the phones lie inside the words
        assert phones[0].start == pytest.approx(words[0].start)
        assert phones[-1].end == pytest.approx(words[-1].end)


def test_a_textgrid_without_phones_gives_none(tmp_path):
    from egg_core.formats.transcripts import Transcript, write_textgrid

    path = tmp_path / "w.TextGrid"
    write_textgrid(Transcript([Word("hello", 0.1, 0.5)]), path)
    assert read_phones(path) is None
    assert parse_phones_text("hello there") is None
    with pytest.raises(TranscriptError, match="not found"):
        read_phones(tmp_path / "missing.TextGrid")


def test_phones_tier_from_transcript_text():
    text = _beat2(TAKES[0], ".TextGrid").read_text(encoding="utf-8")
    phones = parse_phones_text(text)
    assert phones is not None and phones[0].label == "DH"


def test_phones_follow_the_recorded_jaw_of_real_takes():
    """The jaw from the TextGrid phones rises and falls with the jaw recorded in BEAT2."""
    for name in TAKES:
        phones = read_phones(_beat2(name, ".TextGrid"))
        recorded = np.load(_beat2(name, ".npz"))["poses"].reshape(-1, 55, 3)[:, 22, 0]
        track = mouth_from_phones(phones, 30, len(recorded))
        r = float(np.corrcoef(track.jaw, recorded)[0, 1])
        closures = [track.jaw[_frame_at(track, 0.5 * (p.start + p.end))] for p in phones if p.label in "MBP"]
        print(f"\n{name}: phone-derived jaw vs recorded jaw r = {r:.3f}; jaw at the middle of "
              f"{len(closures)} m/b/p: max {max(closures):.3f}")
        assert r > 0.35
        assert max(closures) < 0.05


# --------------------------------------------------------------------------- sources


@pytest.mark.skipif(not HAS_SPHINX, reason="pocketsphinx is not installed (pip install 'eggesture[align]')")
def test_pocketsphinx_phones_agree_with_the_beat2_textgrid():
    from egg_core.align.sphinx import align_phones

    name = TAKES[0]
    textgrid = _beat2(name, ".TextGrid")
    result = align_phones(_beat2(name, ".wav"), read_transcript(textgrid).words)
    reference = read_phones(textgrid)
    assert result.n_aligned > 190 and result.n_unpronounced == 0
    ours = [p.label for p in result.phones]
    theirs = [p.label.rstrip("012") for p in reference]
    blocks = difflib.SequenceMatcher(a=ours, b=theirs, autojunk=False).get_matching_blocks()
    errors = np.array([abs(getattr(result.phones[b.a + k], e) - getattr(reference[b.b + k], e))
                       for b in blocks for k in range(b.size) for e in ("start", "end")])
    matched = sum(b.size for b in blocks) / len(reference)
    print(f"\n{name}: {matched:.1%} of the TextGrid phones matched; boundary error median "
          f"{1000 * np.median(errors):.0f} ms, mean {1000 * errors.mean():.0f} ms, "
          f"{(errors <= 0.02).mean():.0%} within 20 ms")
    assert matched > 0.9
    assert np.median(errors) <= 0.02


@pytest.mark.skipif(not HAS_SPHINX, reason="pocketsphinx is not installed (pip install 'eggesture[align]')")
def test_words_without_phones_are_aligned():
    name = TAKES[0]
    words = [w for w in read_transcript(_beat2(name, ".TextGrid")).words if w.end < 8.0]
    track = sources.mouth_for_speech(_beat2(name, ".wav"), 30, num_frames=240, words=words)
    assert track.source == "aligned-phones" and "pocketsphinx" in track.message
    assert track.viseme("PP").max() > 0.98  # "shopping" at 5.5 s
    assert track.jaw.max() > 0.6


@pytest.mark.skipif(not HAS_SPHINX, reason="pocketsphinx is not installed (pip install 'eggesture[align]')")
def test_a_plain_transcript_is_aligned_to_words_then_phones(tmp_path):
    """The user's usual case: audio and a .txt transcript, no TextGrid."""
    name = TAKES[0]
    wave, rate = sf.read(_beat2(name, ".wav"), dtype="float32")
    sf.write(tmp_path / "clip.wav", wave[: 8 * rate], rate)
    words = [w for w in read_transcript(_beat2(name, ".TextGrid")).words if w.end < 7.9]
    (tmp_path / "clip.txt").write_text(" ".join(w.text for w in words) + "\n", encoding="utf-8")
    track = sources.mouth_for_speech(tmp_path / "clip.wav", 30, transcript=tmp_path / "clip.txt")
    assert track.source == "aligned-phones" and track.num_frames == 241
    reference = mouth_from_phones([p for p in read_phones(_beat2(name, ".TextGrid")) if p.end < 7.9],
                                  30, track.num_frames)
    r = float(np.corrcoef(track.jaw, reference.jaw)[0, 1])
    print(f"\nplain transcript -> aligned phones: jaw vs the TextGrid phones' jaw r = {r:.3f}")
    assert r > 0.7


def test_textgrid_phones_are_preferred():
    name = TAKES[0]
    track = sources.mouth_for_speech(_beat2(name, ".wav"), 25, transcript=_beat2(name, ".TextGrid"))
    assert track.source == "textgrid-phones" and "'phones' tier" in track.message
    assert track.num_frames == int(64.097 * 25) + 1


def test_spelled_phones_without_pocketsphinx(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "_sphinx_available", lambda: False)
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    words = [Word("hello", 0.1, 0.4), Word("bob", 0.5, 0.8), Word("42", 0.8, 0.95)]
    track = sources.mouth_for_speech(wav, 30, words=words)
    assert track.source == "spelled-phones" and "pip install" in track.message
    b = _frame_at(track, 0.5 + 0.25 * 0.3 / 2)  # the first "b" of "bob"
    assert track.viseme("PP")[b] > 0.9
    assert track.jaw.max() > 0.5


def _tone(path, seconds=2.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    syllables = 0.5 * (1 - np.cos(2 * np.pi * 4 * t))  # 4 "syllables" a second
    sf.write(path, (0.3 * syllables * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    return path


def test_generated_jaw_is_used_without_words(tmp_path):
    wav = _tone(tmp_path / "a.wav")
    poses = np.zeros((60, 55, 3), np.float32)
    poses[:, 22, 0] = 0.025 + 0.02 * np.sin(np.linspace(0, 6 * np.pi, 60))
    motion = Motion(poses, np.zeros((60, 3), np.float32), fps=30.0)
    track = sources.mouth_for_speech(wav, 30, num_frames=60, motion=motion,
                                     words_note="no transcript: audio only")
    assert track.source == "generated-jaw" and "no transcript" in track.message
    assert np.corrcoef(track.jaw, poses[:, 22, 0])[0, 1] > 0.99


def test_loudness_is_the_last_resort(tmp_path):
    wav = _tone(tmp_path / "a.wav")
    still = Motion(np.zeros((60, 55, 3), np.float32), np.zeros((60, 3), np.float32), fps=30.0)
    track = sources.mouth_for_speech(wav, 30, motion=still)
    assert track.source == "loudness" and "transcript" in track.message
    assert track.num_frames == 61
    # opens on the syllables (loudest at 1.125 s), nearly closes between them (1.0 s)
    assert track.jaw[34] > 0.8 and track.jaw[30] < 0.35


def test_silent_audio_keeps_the_mouth_at_rest(tmp_path):
    wav = tmp_path / "quiet.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    track = sources.mouth_for_speech(wav, 30)
    assert track.source == "silent" and not track.jaw.any()


def test_user_errors(tmp_path):
    with pytest.raises(AudioError):
        sources.mouth_for_speech(tmp_path / "missing.wav", 30)
    wav = _tone(tmp_path / "a.wav")
    with pytest.raises(TranscriptError):
        sources.mouth_for_speech(wav, 30, transcript=tmp_path / "missing.TextGrid")


# --------------------------------------------------------------------------- the add-on's worker task


def test_worker_lipsync_task_in_a_separate_python(tmp_path):
    """The external-worker path: the mouth track crosses the process boundary intact."""
    import sys

    from eggesture_blender import backend, worker

    name = TAKES[0]
    request = worker.GenerationRequest(audio_path=str(_beat2(name, ".wav")), fps=30.0,
                                       transcript_path=str(_beat2(name, ".TextGrid")), task="lipsync")
    here = worker.run_task(request, lambda module: importlib.import_module(f"egg_core.{module}"))
    there = backend.run_sync(worker.GenerationRequest.from_json(request.to_json()), "process", sys.executable)
    assert isinstance(there, worker.MouthResult) and there.source == "textgrid-phones" and not there.fallback
    np.testing.assert_array_equal(there.weights, here.weights)
    np.testing.assert_array_equal(there.jaw, here.jaw)
    assert there.message == here.message and there.fps == 30.0


def test_generation_result_keeps_its_mouth(tmp_path):
    from eggesture_blender import worker

    track = mouth_from_phones(_sequence(["M", "AA1"], [0.1, 0.2]), 30)
    mouth = worker.MouthResult.from_track(track, fallback=False)
    result = worker.GenerationResult(np.zeros((len(track.jaw), 55, 3), np.float32),
                                     np.zeros((len(track.jaw), 3), np.float32), 30.0, mouth=mouth)
    result.save(tmp_path / "r.npz")
    loaded = worker.GenerationResult.load(tmp_path / "r.npz")
    np.testing.assert_array_equal(loaded.mouth.weights, track.weights)
    assert loaded.mouth.source == "phones" and loaded.mouth.fallback is False
    result.mouth = None
    result.save(tmp_path / "none.npz")
    assert worker.GenerationResult.load(tmp_path / "none.npz").mouth is None
