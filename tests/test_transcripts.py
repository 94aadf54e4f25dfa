"""Transcript readers and writers: every format on fixtures written here, round trips, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egg_core.errors import EggError, TranscriptError
from egg_core.formats.transcripts import (
    Transcript,
    Word,
    parse_transcript_text,
    read_transcript,
    split_words,
    write_textgrid,
    write_words_json,
)

LONG_TG = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2.5
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 2.5
        intervals: size = 5
        intervals [1]:
            xmin = 0
            xmax = 0.4
            text = ""
        intervals [2]:
            xmin = 0.4
            xmax = 0.9
            text = "hello"
        intervals [3]:
            xmin = 0.9
            xmax = 1.5
            text = "world"
        intervals [4]:
            xmin = 1.5
            xmax = 1.8
            text = "sp"
        intervals [5]:
            xmin = 1.8
            xmax = 2.5
            text = "say ""cheese"""
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 2.5
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 2.5
            text = "HH"
'''

SHORT_TG = '''File type = "ooTextFile"
Object class = "TextGrid"

0
2.5
<exists>
2
"TextTier"
"events"
0
2.5
1
1.0
"click"
"IntervalTier"
"Word"
0
2.5
3
0
0.4
""
0.4
0.9
"hello"
0.9
2.5
"world"
'''

GOOGLE_JSON = [
    {"alternatives": [{"transcript": "hello world", "confidence": 0.9,
                       "words": [{"start_time": "0.500s", "end_time": "0.800s", "word": "hello"},
                                 {"start_time": "0.8s", "end_time": "1.200s", "word": "world"}]}]},
    {"alternatives": []},
    {"alternatives": [{"transcript": "again", "words": [{"start_time": 2, "end_time": 2.5, "word": "again"}]}]},
]

SRT = """1
00:00:01,000 --> 00:00:02,000
<i>Hello,</i> wonderful

2
00:00:03,500 --> 00:00:04,100
[music] - ok!
"""

VTT = """WEBVTT - a title

NOTE this is a comment
spanning two lines

STYLE
::cue { color: red }

intro
00:01.000 --> 00:02.000 align:start position:10%
<v Roger>Hello <c.loud>wonderful</c>

01:00:03.500 --> 01:00:04.100
ok
"""


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _texts(t: Transcript) -> list[str]:
    return [w.text for w in t.words]


def test_textgrid_long(tmp_path: Path) -> None:
    t = read_transcript(_write(tmp_path, "a.TextGrid", LONG_TG))
    assert t.timed and t.source.endswith("a.TextGrid")
    assert t.words == [Word("hello", 0.4, 0.9), Word("world", 0.9, 1.5), Word('say "cheese"', 1.8, 2.5)]
    assert t.text == 'hello world say "cheese"'


def test_textgrid_short_picks_word_tier_case_insensitive(tmp_path: Path) -> None:
    t = read_transcript(_write(tmp_path, "s.TextGrid", SHORT_TG))
    assert t.words == [Word("hello", 0.4, 0.9), Word("world", 0.9, 2.5)]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_textgrid_encodings(tmp_path: Path, encoding: str) -> None:
    content = LONG_TG.replace('"hello"', '"héllo‿日本"')
    path = _write(tmp_path, "u.TextGrid", content.encode(encoding))
    assert read_transcript(path).words[0].text == "héllo‿日本"


def test_textgrid_only_interval_tier_is_used(tmp_path: Path) -> None:
    content = LONG_TG.replace('name = "words"', 'name = "ORT"').replace('size = 2', 'size = 1')
    content = content[: content.index("    item [2]:")]
    assert _texts(read_transcript(_write(tmp_path, "o.TextGrid", content)))[0] == "hello"


def test_textgrid_ambiguous_tiers_lists_names(tmp_path: Path) -> None:
    content = LONG_TG.replace('name = "words"', 'name = "ORT"')
    path = _write(tmp_path, "amb.TextGrid", content)
    with pytest.raises(TranscriptError) as err:
        read_transcript(path)
    assert "amb.TextGrid" in str(err.value) and "'ORT'" in str(err.value) and "'phones'" in str(err.value)
    assert _texts(read_transcript(path, tier="phones")) == ["HH"]
    with pytest.raises(TranscriptError, match="no tier named 'x'"):
        read_transcript(path, tier="x")


def test_textgrid_truncated_names_line(tmp_path: Path) -> None:
    cut = LONG_TG[: LONG_TG.index('            text = "world"')]
    with pytest.raises(TranscriptError) as err:
        read_transcript(_write(tmp_path, "cut.TextGrid", cut))
    msg = str(err.value)
    assert "cut.TextGrid" in msg and "interval text" in msg and "line" in msg


def test_textgrid_bad_value_names_line(tmp_path: Path) -> None:
    bad = LONG_TG.replace("xmax = 0.9\n            text = \"hello\"", "xmax = oops\n            text = \"hello\"")
    with pytest.raises(TranscriptError, match=r"line 2[0-9]"):
        read_transcript(_write(tmp_path, "bad.TextGrid", bad))
    with pytest.raises(TranscriptError, match="ooTextFile"):
        read_transcript(_write(tmp_path, "x.TextGrid", 'File type = "something"\n'))


def test_google_json_variants(tmp_path: Path) -> None:
    t = read_transcript(_write(tmp_path, "g.json", json.dumps(GOOGLE_JSON)))
    assert t.words == [Word("hello", 0.5, 0.8), Word("world", 0.8, 1.2), Word("again", 2.0, 2.5)]
    wrapped = read_transcript(_write(tmp_path, "w.json", json.dumps({"results": GOOGLE_JSON})))
    assert wrapped.words == t.words
    camel = [{"alternatives": [{"words": [{"startTime": {"seconds": 1, "nanos": 500000000},
                                           "endTime": "2s", "word": "hi"}]}]}]
    assert read_transcript(_write(tmp_path, "c.json", json.dumps(camel))).words == [Word("hi", 1.5, 2.0)]
    whisper = {"segments": [{"words": [{"word": " hi", "start": 0.1, "end": 0.3}]}]}
    assert read_transcript(_write(tmp_path, "ws.json", json.dumps(whisper))).words == [Word("hi", 0.1, 0.3)]


@pytest.mark.parametrize(
    "content,expected",
    [
        ("{not json", "line 1, column 2"),
        (json.dumps({"foo": 1}), "keys found: ['foo']"),
        (json.dumps([{"alternatives": [{"words": [{"word": "a", "start_time": "x1s", "end_time": "2s"}]}]}]), "0.5s"),
        (json.dumps([{"alternatives": [{"words": [{"word": "a"}]}]}]), "start_time"),
        (json.dumps([{"alternatives": [{"words": [{"word": "a", "start_time": 2, "end_time": 1}]}]}]), "before it starts"),
        (json.dumps("text"), "expected a JSON list"),
    ],
)
def test_bad_json(tmp_path: Path, content: str, expected: str) -> None:
    with pytest.raises(TranscriptError) as err:
        read_transcript(_write(tmp_path, "bad.json", content))
    assert "bad.json" in str(err.value) and expected in str(err.value)


def test_srt_words_spread_by_length(tmp_path: Path) -> None:
    t = read_transcript(_write(tmp_path, "s.srt", SRT))
    assert _texts(t) == ["Hello", "wonderful", "ok"]
    hello, wonderful, ok = t.words
    # cue 1 lasts 1 s: "Hello" 5 chars, "wonderful" 9 chars
    assert hello.start == pytest.approx(1.0) and hello.end == pytest.approx(1.0 + 5 / 14)
    assert wonderful.start == pytest.approx(hello.end) and wonderful.end == pytest.approx(2.0)
    assert ok.start == pytest.approx(3.5) and ok.end == pytest.approx(4.1)


def test_srt_crlf_and_sniffing(tmp_path: Path) -> None:
    t = read_transcript(_write(tmp_path, "s.txt", SRT.replace("\n", "\r\n")))
    assert t.timed and _texts(t) == ["Hello", "wonderful", "ok"]


def test_vtt(tmp_path: Path) -> None:
    t = read_transcript(_write(tmp_path, "v.vtt", VTT))
    assert _texts(t) == ["Hello", "wonderful", "ok"]
    assert t.words[0].start == pytest.approx(1.0) and t.words[1].end == pytest.approx(2.0)
    assert t.words[2].start == pytest.approx(3603.5)


def test_bad_subtitles(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="WEBVTT"):
        read_transcript(_write(tmp_path, "a.vtt", "00:01.000 --> 00:02.000\nhi\n"))
    with pytest.raises(TranscriptError, match=r"line 2: expected a cue number or a timing line"):
        read_transcript(_write(tmp_path, "a.srt", "1\nhello there\n\n"))
    with pytest.raises(TranscriptError, match="before it starts"):
        read_transcript(_write(tmp_path, "b.srt", "1\n00:00:05,000 --> 00:00:01,000\nhi\n"))


def test_plain_text(tmp_path: Path) -> None:
    t = read_transcript(_write(tmp_path, "p.txt", "Hello, world!  It's a well-known test...\n— ok"))
    assert not t.timed
    assert _texts(t) == ["Hello", "world", "It's", "a", "well-known", "test", "ok"]
    assert all(w.start == 0 and w.end == 0 for w in t.words)
    assert read_transcript(_write(tmp_path, "e.txt", "")).words == []


def test_split_words_drops_annotations() -> None:
    assert split_words("[laughs] so — yes ♪ {\\an8}(really)") == ["so", "yes", "really"]
    assert split_words("paid $3, (5%) and €20.") == ["paid", "$3", "5%", "and", "€20"]


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="not found"):
        read_transcript(tmp_path / "nope.TextGrid")
    with pytest.raises(TranscriptError, match="folder"):
        read_transcript(tmp_path)
    assert issubclass(TranscriptError, EggError)


def test_binary_file(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="binary"):
        read_transcript(_write(tmp_path, "b.TextGrid", b"ooBinaryFile\x08TextGrid\x00\x01\x02"))


def test_textgrid_roundtrip_and_overwrite(tmp_path: Path) -> None:
    words = [Word("hello", 0.35, 0.9), Word('a "quoted" wörd', 1.2, 1.7), Word("end", 1.7, 2.05)]
    path = tmp_path / "out.TextGrid"
    write_textgrid(Transcript(words, True, "test"), path, xmax=3.0)
    back = read_transcript(path)
    assert back.words == words
    tiers_text = path.read_text(encoding="utf-8")
    assert 'name = "words"' in tiers_text and "xmax = 3" in tiers_text
    with pytest.raises(EggError, match="already exists"):
        write_textgrid(Transcript(words, True, "test"), path)
    write_textgrid(Transcript(words[:1], True, "test"), path, overwrite=True)
    assert read_transcript(path).words == words[:1]
    with pytest.raises(TranscriptError, match="no word timings"):
        write_textgrid(Transcript([Word("x", 0, 0)], False, "t"), tmp_path / "u.TextGrid")


def test_textgrid_writer_fixes_overlaps(tmp_path: Path) -> None:
    words = [Word("a", 0.5, 1.0), Word("b", 0.9, 1.4), Word("c", 2.0, 2.0)]
    path = tmp_path / "o.TextGrid"
    write_textgrid(Transcript(words, True, "asr"), path)
    back = read_transcript(path).words
    assert [w.text for w in back] == ["a", "b", "c"]
    assert back[1].start == pytest.approx(1.0) and back[2].end > back[2].start


def test_words_json_roundtrip(tmp_path: Path) -> None:
    words = [Word("hello", 0.35, 0.9), Word("日本", 1.2, 1.7)]
    path = tmp_path / "w.json"
    write_words_json(Transcript(words, True, "x"), path, method="forced-alignment", confidence=0.8)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["method"] == "forced-alignment" and doc["confidence"] == 0.8
    assert read_transcript(path).words == words
    with pytest.raises(EggError, match="already exists"):
        write_words_json(Transcript(words, True, "x"), path)
    untimed = tmp_path / "u.json"
    write_words_json(Transcript([Word("a", 0, 0)], False, "x"), untimed)
    back = read_transcript(untimed)
    assert not back.timed and back.text == "a"


_label = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_label, st.floats(0.01, 2.0), st.floats(0.0, 1.0)), min_size=0, max_size=12))
def test_textgrid_roundtrip_property(tmp_path_factory: pytest.TempPathFactory, items: list) -> None:
    t, words = 0.0, []
    for label, dur, gap in items:
        if label.strip().lower() in ("sil", "sp", "spn", "<sil>", "<sp>", "<p:>", "<eps>", "#"):
            continue
        start = round(t + gap, 6)
        end = round(start + dur, 6)
        words.append(Word(label.strip(), start, end))
        t = end
    words = [w for w in words if w.text]
    path = tmp_path_factory.mktemp("tg") / "p.TextGrid"
    write_textgrid(Transcript(words, True, "p"), path)
    back = read_transcript(path).words
    assert [w.text for w in back] == [w.text for w in words]
    for a, b in zip(back, words, strict=True):
        assert a.start == pytest.approx(b.start, abs=1e-6) and a.end == pytest.approx(b.end, abs=1e-6)


def test_parse_transcript_text_sniffs() -> None:
    assert parse_transcript_text(LONG_TG).timed
    assert parse_transcript_text(VTT).words[0].text == "Hello"
    assert parse_transcript_text(json.dumps(GOOGLE_JSON)).words[0].text == "hello"
    assert not parse_transcript_text("just some words").timed
