"""User errors and faults of the command-line tools: one clear line, exit 2, nothing lost.

Each test here reproduces a fault a user hit (read-only folders, a full disk, two runs on
one output, silence, an empty transcript, folders where files belong, a failed alignment,
the wrong kind of checkpoint, progress bars under --quiet, a read-only file with
--overwrite) and checks the tool now says what is wrong before doing the slow work.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from egg_core import atomic
from egg_core.atomic import DiskFullError, OutputExistsError, atomic_path, check_target
from egg_core.checkpoint import save_checkpoint
from egg_core.errors import CheckpointError, EggError
from egg_core.formats import beat2 as beat2_module
from egg_core.formats.beat2 import write_beat2_npz
from egg_core.generate import main as generate_main
from egg_core.inference import GestureGenerator
from egg_core.model.eggesture import EGGesture, EGGestureConfig
from egg_core.motion import Motion
from egg_core.words import main as words_main

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
SR = 16000


def _speechlike(path: Path, seconds: float = 3.0) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(int(SR * seconds)) / SR
    env = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 2
    sf.write(path, (0.2 * env * rng.normal(0, 1, len(t))).astype(np.float32), SR)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_checkpoint(EGGesture(EGGestureConfig.tiny(text_encoder="hashed")), path)


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    return _speechlike(tmp_path / "talk.wav")


def _deny_writes_to(monkeypatch: pytest.MonkeyPatch, *denied: Path) -> None:
    """Make ``os.access`` report these paths unwritable (tests run as root, where chmod is ignored)."""
    real = os.access
    denied_set = {str(Path(d).resolve()) for d in denied}

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and str(Path(path).resolve()) in denied_set:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def _no_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded although the arguments were already known to be bad")

    monkeypatch.setattr(GestureGenerator, "from_checkpoint", classmethod(refuse))


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------ outputs checked up front


@pytest.mark.parametrize("option", ["--out", "--bvh", "--preview"])
def test_unwritable_output_folder_is_refused_before_generation(
        option: str, tmp_path: Path, audio: Path, ckpt: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    ok, locked = tmp_path / "ok", tmp_path / "locked"
    ok.mkdir()
    locked.mkdir()
    _deny_writes_to(monkeypatch, locked)
    _no_generation(monkeypatch)
    names = {"--out": "m.npz", "--bvh": "m.bvh", "--preview": "m.gif"}
    argv = ["--audio", str(audio), "--checkpoint", str(ckpt), "--quiet"]
    for opt, name in names.items():
        argv += [opt, str((locked if opt == option else ok) / name)]
    assert generate_main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "not writable" in line and str(locked) in line
    assert list(ok.iterdir()) == []  # no half result set


def test_unwritable_folder_for_the_words_tool(tmp_path: Path, audio: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _deny_writes_to(monkeypatch, tmp_path)
    assert words_main(["--audio", str(audio), "--out", str(tmp_path / "w.TextGrid"), "--quiet"]) == 2
    assert "not writable" in _one_error_line(capsys.readouterr().err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions; covered by os.access above")
def test_really_read_only_folder(tmp_path: Path, audio: Path, ckpt: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        argv = ["--audio", str(audio), "--checkpoint", str(ckpt), "--out", str(locked / "m.npz"), "--quiet"]
        assert generate_main(argv) == 2
        assert "not writable" in _one_error_line(capsys.readouterr().err)
    finally:
        locked.chmod(0o755)


def test_overwrite_does_not_replace_a_read_only_file(tmp_path: Path, audio: Path, ckpt: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.npz"
    out.write_bytes(b"the user's own file")
    out.chmod(0o444)
    _deny_writes_to(monkeypatch, out)
    _no_generation(monkeypatch)
    argv = ["--audio", str(audio), "--checkpoint", str(ckpt), "--out", str(out), "--overwrite", "--quiet"]
    assert generate_main(argv) == 2
    assert "read-only" in _one_error_line(capsys.readouterr().err)
    assert out.read_bytes() == b"the user's own file"


# ------------------------------------------------------------------ disk full


def _motion() -> Motion:
    return Motion(poses=np.zeros((10, 55, 3), np.float32), trans=np.zeros((10, 3), np.float32), fps=30.0)


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     ValueError("seek of closed file")])
def test_disk_full_says_so_and_leaves_nothing(failure: Exception, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def savez(*args, **kwargs):
        raise failure

    monkeypatch.setattr(beat2_module.np, "savez", savez)
    monkeypatch.setattr(atomic, "_free_bytes", lambda folder: 0)  # what a full disk reports
    with pytest.raises(DiskFullError, match="No space left on device writing .*m.npz"):
        write_beat2_npz(_motion(), tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_torch_style_disk_full_error_in_a_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save reports a full disk as 'inline_container.cc ... unexpected pos'."""
    monkeypatch.setattr(atomic, "_free_bytes", lambda folder: 512)
    target = tmp_path / "train_state.pt"
    target.write_bytes(b"previous state")
    with pytest.raises(DiskFullError, match="No space left on device writing"):
        with atomic_path(target):
            raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 128 vs 64")
    assert target.read_bytes() == b"previous state"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_state.pt"]


def test_a_bug_on_a_disk_with_space_is_not_called_disk_full(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a bug"):
        with atomic_path(tmp_path / "x.bin"):
            raise ValueError("a bug")


def test_generate_cli_on_a_full_disk(tmp_path: Path, audio: Path, ckpt: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    def savez(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(beat2_module.np, "savez", savez)
    argv = ["--audio", str(audio), "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.npz"), "--quiet"]
    assert generate_main(argv) == 2
    assert "No space left on device writing" in _one_error_line(capsys.readouterr().err)


# ------------------------------------------------------------------ concurrent writers


def test_output_that_appears_while_writing_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "m.npz"
    check_target(target, overwrite=False)  # free when the run starts
    with pytest.raises(OutputExistsError, match="created while"):
        with atomic_path(target, overwrite=False) as tmp:
            tmp.write_bytes(b"second run")
            target.write_bytes(b"first run")  # the other run finished first
    assert target.read_bytes() == b"first run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_two_writers_racing_for_one_name_one_wins(tmp_path: Path) -> None:
    target = tmp_path / "m.npz"
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def writer(k: int) -> None:
        try:
            with atomic_path(target, overwrite=False) as tmp:
                tmp.write_bytes(f"writer {k}".encode())
                barrier.wait()
            outcomes.append("wrote")
        except OutputExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["wrote"]
    assert target.read_bytes().startswith(b"writer ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


# ------------------------------------------------------------------ silence, words, inputs


def test_silence_gives_a_warning_and_a_resting_body(tmp_path: Path, ckpt: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(20 * SR, np.float32), SR)
    out = tmp_path / "m.npz"
    assert generate_main(["--audio", str(silent), "--checkpoint", str(ckpt), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "silent" in err
    poses = np.load(out)["poses"].reshape(-1, 55, 3)
    speed = np.abs(np.diff(poses, axis=0)).max()
    assert speed < 1e-4  # at rest, not gesturing to nothing


def test_long_pause_inside_speech_calms_only_the_pause(tmp_path: Path, ckpt: Path) -> None:
    from egg_core.pipeline import SpeechRequest, speech_to_motion

    a = sf.read(_speechlike(tmp_path / "a.wav", 6.0))[0].astype(np.float32)
    wav = tmp_path / "pause.wav"
    sf.write(wav, np.concatenate([a, np.zeros(5 * SR, np.float32), a]), SR)
    gen = GestureGenerator.from_checkpoint(ckpt, "cpu")
    calm = speech_to_motion(gen, SpeechRequest(audio=wav, seed=1))
    free = speech_to_motion(gen, SpeechRequest(audio=wav, seed=1, calm_silence=False))

    def speed(m: Motion, a0: float, a1: float) -> float:
        p = m.poses[int(a0 * 30):int(a1 * 30)]
        return float(np.linalg.norm(np.diff(p, axis=0), axis=-1).mean())

    assert speed(free.motion, 7.0, 10.0) > 0  # the model alone keeps moving in the pause
    assert speed(calm.motion, 7.0, 10.0) < 0.01 * speed(free.motion, 7.0, 10.0)
    np.testing.assert_array_equal(calm.motion.poses[:150], free.motion.poses[:150])  # speech untouched
    assert any("silence" in w for w in calm.warnings)


def test_empty_transcript_means_no_words_and_never_runs_whisper(tmp_path: Path, audio: Path, ckpt: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from egg_core.align import asr

    def no_whisper(*args, **kwargs):
        raise AssertionError("Whisper ran although --transcribe was not given")

    monkeypatch.setattr(asr, "transcribe_file", no_whisper)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    argv = ["--audio", str(audio), "--transcript", str(empty), "--checkpoint", str(ckpt),
            "--out", str(tmp_path / "m.npz"), "--quiet"]
    assert generate_main(argv) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "no words" in err


@pytest.mark.parametrize("option", ["--audio", "--transcript"])
def test_a_folder_given_as_a_file_is_named_as_a_folder(option: str, tmp_path: Path, audio: Path,
                                                       ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    argv = {"--audio": str(audio), "--out": str(tmp_path / "m.npz"), "--checkpoint": str(ckpt)}
    argv[option] = str(folder)
    assert generate_main([x for kv in argv.items() for x in kv] + ["--quiet"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "is a folder" in line and "not found" not in line


def test_words_tool_fails_and_writes_nothing_when_no_words_are_found(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(3 * SR, np.float32), SR)
    text = tmp_path / "t.txt"
    text.write_text("hello there this is a test", encoding="utf-8")
    out = tmp_path / "w.TextGrid"
    status = words_main(["--audio", str(silent), "--transcript", str(text), "--out", str(out), "--quiet"])
    assert status == 2
    assert "no words found" in _one_error_line(capsys.readouterr().err)
    assert not out.exists()


# ------------------------------------------------------------------ checkpoints


def test_checkpoint_kinds_get_messages_that_say_what_a_model_file_is(tmp_path: Path, ckpt: Path) -> None:
    from egg_core.checkpoint import load_checkpoint, resolve_checkpoint_path

    run = tmp_path / "run"
    run.mkdir()
    state = run / "train_state.pt"
    torch.save({"step": 1}, state)
    with pytest.raises(CheckpointError, match="folder without model.safetensors"):
        load_checkpoint(run, "cpu")
    with pytest.raises(CheckpointError, match=r"PyTorch \.pt file, not an EGGesture model.*RUN_DIR/model.safetensors"):
        load_checkpoint(state, "cpu")
    other = tmp_path / "x.pt"
    other.write_bytes(b"")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(other, "cpu")
    assert "x.pt.safetensors" not in str(info.value)
    # a run folder with a model is accepted, and train_state.pt points at it
    save_checkpoint(EGGesture(EGGestureConfig.tiny(text_encoder="hashed")), run / "model.safetensors")
    assert resolve_checkpoint_path(run) == run / "model.safetensors"
    with pytest.raises(CheckpointError, match="Did you mean .*model.safetensors"):
        resolve_checkpoint_path(state)
    model, _ = load_checkpoint(run, "cpu")
    assert isinstance(model, EGGesture)


def test_checkpoint_message_from_the_cli(tmp_path: Path, audio: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "model.pt"
    torch.save({}, bad)
    argv = ["--audio", str(audio), "--checkpoint", str(bad), "--out", str(tmp_path / "m.npz"), "--quiet"]
    assert generate_main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert ".safetensors" in line and "not an EGGesture model" in line


# ------------------------------------------------------------------ --quiet


def test_quiet_prints_nothing_not_even_the_text_models_loading_bar(tmp_path: Path, audio: Path) -> None:
    """--quiet with words: the MiniLM text model loads and its "Loading weights" bar stays off."""
    pytest.importorskip("transformers")
    from egg_core.model.text import minilm_path

    if minilm_path() is None:
        pytest.skip("the MiniLM text model (text extra) is not installed")
    ckpt = save_checkpoint(EGGesture(EGGestureConfig.tiny(text_encoder="minilm")), tmp_path / "mini.safetensors")
    grid = tmp_path / "talk.TextGrid"
    from egg_core.formats.transcripts import Transcript, Word, write_textgrid

    write_textgrid(Transcript([Word("hello", 0.2, 0.6), Word("world", 0.7, 1.2)], True, "test"), grid)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    proc = subprocess.run([sys.executable, "-m", "egg_core.generate", "--audio", str(audio), "--transcript",
                           str(grid), "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.npz"), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "" and proc.stdout.strip() == "", proc.stderr


def test_check_target_refusals_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for bad, words in ((tmp_path, "folder"), (tmp_path / "missing" / "m.npz", "does not exist"),
                       (tmp_path / "file" / "m.npz", "is a file, not a folder")):
        with pytest.raises(EggError, match=words):
            check_target(bad, overwrite=False)
